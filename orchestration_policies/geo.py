"""Great-circle distance; pure arithmetic so decisions can be replayed anywhere."""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_KM", "Radians", "haversine_km", "haversine_radians", "radians_of"]

# Mean Earth radius (IUGG). Routing needs a consistent ranking, not survey precision.
EARTH_RADIUS_KM = 6371.0088
_DIAMETER = 2.0 * EARTH_RADIUS_KM
_HALF_PI = math.pi / 2.0
_sin, _asin, _sqrt = math.sin, math.asin, math.sqrt


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in km between two points given in decimal degrees."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = math.radians(lon2 - lon1) / 2.0
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


Radians = tuple[float, float, float]  # (latitude, longitude, cos(latitude)), in radians


def radians_of(lat: float, lon: float) -> Radians:
    """Precomputed form of a point, so routing over many sources converts each only once."""
    phi = math.radians(lat)
    return (phi, math.radians(lon), math.cos(phi))


def haversine_radians(a: Radians, b: Radians) -> float:
    """:func:`haversine_km` for points from :func:`radians_of` (called per source: kept lean)."""
    x = _sin((b[0] - a[0]) * 0.5)
    y = _sin((b[1] - a[1]) * 0.5)
    h = x * x + a[2] * b[2] * y * y
    return _DIAMETER * _asin(_sqrt(h)) if h < 1.0 else _DIAMETER * _HALF_PI
