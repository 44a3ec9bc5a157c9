"""Shipment ids: the uuid5 of the order, its routing attempt and the source, as earlier releases
named them (a re-routed order's shipments and their reservations keep their names)."""

import random
from uuid import NAMESPACE_OID, UUID, uuid4, uuid5

from hub.services.orchestration import shipment_uuid


def test_a_shipment_id_is_the_uuid5_earlier_releases_gave_it() -> None:
    rng = random.Random(5)
    names = [f"{uuid4()}:{rng.randint(0, 40)}:src-{rng.randint(0, 999):03d}" for _ in range(3000)]
    names += ["", "é 😀", "x" * 500, f"{UUID(int=0)}:0:"]

    for name in names:
        assert shipment_uuid(name) == str(uuid5(NAMESPACE_OID, name))
    ids = {UUID(shipment_uuid(name)) for name in names}
    assert {(i.version, i.variant) for i in ids} == {(5, "specified in RFC 4122")}
    assert len(ids) == len(set(names))
