"""A start compiles the bundled policy (and cel-python's grammar with it) in a thread of its
own, and reads and decides again the newest recorded decision, so that the first re-run does
neither."""

import logging
import threading
from pathlib import Path

import pytest

from aggregates.decision_inputs import RecordedSource
from hub.services import recorded_inputs, rerun
from hub.services.policies import PolicyService
from hub.services.recorded_inputs import forget_definitions, latest_inputs_digest
from hub.store import OrderStore
from tests.unit.policies.policies_factories import NOW
from tests.unit.test_rerun_cold_reading import _inputs, _record, _sqlite


def test_warming_compiles_the_bundled_policy_once_in_a_thread_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rerun._bundled.cache_clear()
    ran: list[str] = []
    real = rerun._bundled.__wrapped__

    def watched() -> object:
        ran.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(rerun, "_bundled", rerun.functools.lru_cache(maxsize=1)(watched))
    rerun.warm_in_background().join(timeout=60)
    policy = rerun._bundled()  # what a re-run then asks for: compiled already

    assert ran == ["orderhub-warm-rerun"] and policy.id == "default"
    assert rerun._bundled.cache_info().hits == 1


def _policies(store: OrderStore) -> PolicyService:
    return PolicyService(store, lambda: NOW, lambda: [], ["standard"])


def test_warming_reads_the_newest_recorded_inputs_and_the_definitions_they_name(
    tmp_path: Path,
) -> None:
    store = _sqlite(tmp_path)
    _record(store, _inputs(3))
    newest = _record(store, _inputs(7))
    forget_definitions()

    assert latest_inputs_digest(store) == newest
    assert rerun.RerunService(store, _policies(store)).warm() is True
    assert list(recorded_inputs._INPUTS_READ[store]) == [newest]
    assert len(recorded_inputs._DEFINITIONS) == 7
    forget_definitions()


def test_nothing_to_warm_in_an_empty_store_or_beyond_the_look_back(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    assert latest_inputs_digest(store) is None
    assert rerun.RerunService(store, _policies(store)).warm() is False

    digest = _record(store, _inputs(2))  # its two definitions and the inputs record
    assert latest_inputs_digest(store, look_back=3) == digest
    store.save(*(RecordedSource(f"other-{n}", "{}") for n in range(3)))  # 3 events after it
    assert latest_inputs_digest(store, look_back=3) is None  # not read that far back
    assert latest_inputs_digest(store, look_back=6) == digest
    newer = _record(store, _inputs(5))
    assert latest_inputs_digest(store) == newer


def test_a_failed_warming_is_logged_and_the_start_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _sqlite(tmp_path)

    def broken(self: rerun.RerunService) -> bool:
        raise RuntimeError("store gone")

    monkeypatch.setattr(rerun.RerunService, "warm", broken)
    with caplog.at_level(logging.WARNING, logger="hub.services.rerun"):
        rerun.warm_in_background(False, store, _policies(store)).join(timeout=60)

    assert "warming the newest recorded decision failed" in caplog.text
