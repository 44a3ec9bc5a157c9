"""A capture's new correlation id is the random version-4 UUID `UUID(int=..., version=4)` makes
of the same bits (`hub.api.deps.random_uuid4`), without building the UUID."""

import random
from uuid import UUID

from hub.api import deps


def test_the_same_text_as_the_uuid_of_the_same_random_bits() -> None:
    for seed in range(3000):
        random.seed(seed)
        made = deps.random_uuid4()
        random.seed(seed)
        expected = str(UUID(int=random.getrandbits(128), version=4))
        assert made == expected
        assert UUID(made).version == 4 and UUID(made).variant == "specified in RFC 4122"
