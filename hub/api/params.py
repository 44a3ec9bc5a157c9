"""Path parameters, typed as the contracts type them: a value that could never name anything
is a 422 naming the parameter, never a model error deep in a route (a 500)."""

from typing import Annotated

from fastapi import Path

from schemas.types import SKU_PATTERN, SLUG_PATTERN

SourceIdPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="A source id (slug)")]
ChannelIdPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="A channel id (slug)")]
SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=SKU_PATTERN)]
PolicyIdPath = Annotated[
    str, Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="Policy id")
]
VersionPath = Annotated[int, Path(ge=1, le=1_000_000_000)]
ReferencePath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
