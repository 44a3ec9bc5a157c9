"""A start compiles the bundled policy (and cel-python's grammar with it) in a thread of its
own, so that the first re-run does not."""

import threading

import pytest

from hub.services import rerun


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
