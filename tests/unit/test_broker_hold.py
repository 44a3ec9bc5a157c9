"""The fetch a plain consumer with its window at the broker asks for next
(hub.streaming.broker_hold), and that the installed aiokafka keeps its fetch settings where the
hold changes them: read anew from the fetcher for each request it builds."""

import inspect
from types import SimpleNamespace

from aiokafka.consumer.fetcher import Fetcher

from hub.streaming.broker_hold import (
    BROKER_WINDOW_MIN_BYTES,
    IDLE_FETCH_WAIT_MS,
    BrokerHold,
    fetch_settings,
)

WINDOW = 0.05


def consumer(max_wait_ms: int = 50, min_bytes: int = BROKER_WINDOW_MIN_BYTES) -> SimpleNamespace:
    fetcher = SimpleNamespace(_fetch_max_wait_ms=max_wait_ms, _fetch_min_bytes=min_bytes)
    return SimpleNamespace(
        _fetch_max_wait_ms=max_wait_ms, _fetch_min_bytes=min_bytes, _fetcher=fetcher
    )


def asked(hold: BrokerHold) -> tuple[int, int]:
    assert hold.fetcher is not None
    return (hold.fetcher._fetch_max_wait_ms, hold.fetcher._fetch_min_bytes)


def test_this_aiokafka_builds_each_fetch_request_from_the_fetchers_two_settings() -> None:
    # If this fails, aiokafka moved them: BrokerHold would change nothing (the hub would keep
    # fetching every window while idle, as before it). Adapt broker_hold.fetch_settings.
    init = inspect.signature(Fetcher.__init__).parameters
    assert {"fetch_min_bytes", "fetch_max_wait_ms"} <= set(init)
    builds = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in builds and "self._fetch_min_bytes" in builds
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(Fetcher.__init__)


def test_a_fetcher_without_the_settings_given_leaves_the_window_as_it_was() -> None:
    moved = consumer()
    moved._fetcher = SimpleNamespace(settings={"fetch_min_bytes": BROKER_WINDOW_MIN_BYTES})
    assert fetch_settings(moved) is None
    hold = BrokerHold(moved, WINDOW, now=0.0)
    hold.check_idle(10.0)
    assert hold.busy  # never idle: the window's fetches go on, as before
    assert hold.wait_for(10.0) == float("inf")  # and no busy loop checking for it


def test_idle_after_two_windows_without_records_then_the_first_record_asks_for_windows() -> None:
    hold = BrokerHold(consumer(), WINDOW, now=0.0)
    assert hold.busy and asked(hold) == (50, BROKER_WINDOW_MIN_BYTES)
    assert abs(hold.wait_for(0.03) - 0.07) < 1e-9
    hold.check_idle(0.09)
    assert hold.busy  # less than two windows
    hold.check_idle(0.1)
    assert not hold.busy and asked(hold) == (IDLE_FETCH_WAIT_MS, 1)
    assert hold.wait_for(0.2) == float("inf")

    # The first record of the idle spell (handed over at once): the window's fetches again.
    hold.records_came(5.0)
    assert hold.busy and asked(hold) == (50, BROKER_WINDOW_MIN_BYTES)
    # While records come (a batch handled resets the count too), it stays busy.
    hold.records_came(5.06)
    hold.handled(5.2)
    hold.check_idle(5.29)
    assert hold.busy
    hold.check_idle(5.31)
    assert not hold.busy
