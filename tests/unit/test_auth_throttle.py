"""The failed-authentication throttle on its own: counts per address and per key id in a
sliding window, says how long to wait, and never remembers more than it is allowed to."""

from hub.api.auth_throttle import AuthThrottle, key_id_of


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_nth_failure_holds_the_address_until_the_oldest_leaves_the_window() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(per_client=3, per_key=99, window_seconds=60, clock=ticks)
    for at in (0, 20, 30):
        ticks.now = at
        assert throttle.wait("10.0.0.1", None) is None
        throttle.failed("10.0.0.1", None)

    ticks.now = 45
    assert throttle.wait("10.0.0.1", None) == 15  # the failure at 0 leaves at 60
    assert throttle.wait("10.0.0.2", None) is None  # another address is not held
    ticks.now = 60
    assert throttle.wait("10.0.0.1", None) is None  # two failures left in the window
    throttle.failed("10.0.0.1", None)
    assert throttle.wait("10.0.0.1", None) == 20  # the failure at 20 leaves at 80


def test_a_key_id_is_held_after_its_own_limit_from_any_address() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(per_client=99, per_key=2, window_seconds=10, clock=ticks)
    throttle.failed("10.0.0.1", "0123456789ab")
    throttle.failed("10.0.0.2", "0123456789ab")

    assert throttle.wait("10.0.0.3", "0123456789ab") == 10
    assert throttle.wait("10.0.0.3", "ba9876543210") is None
    assert throttle.wait("10.0.0.3", None) is None


def test_the_wait_is_a_whole_number_of_seconds_and_at_least_one() -> None:
    ticks = Ticks()
    throttle = AuthThrottle(per_client=1, window_seconds=1.5, clock=ticks)
    throttle.failed("10.0.0.1", None)

    ticks.now = 1.4
    assert throttle.wait("10.0.0.1", None) == 1
    ticks.now = 0.2
    assert throttle.wait("10.0.0.1", None) == 2


def test_memory_is_bounded_and_the_least_recently_failing_are_forgotten_first() -> None:
    throttle = AuthThrottle(per_client=1, per_key=1, window_seconds=60, tracked=100, clock=Ticks())
    throttle.failed("10.0.0.0", None)
    for n in range(1, 10_000):
        throttle.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", f"{n:012x}")
        assert throttle.tracked() <= 100

    assert throttle.wait("10.0.39.15", f"{9999:012x}") is not None  # the latest are kept
    assert throttle.wait("10.0.0.0", None) is None  # the first one was forgotten


def test_only_our_api_keys_name_a_key_id() -> None:
    assert key_id_of("ohk_0123456789ab_secret") == "0123456789ab"
    assert key_id_of("ohk_0123456789ab") == "0123456789ab"
    assert key_id_of("ohk_short_secret") is None
    assert key_id_of("a-bootstrap-admin-key-of-32-characters") is None
