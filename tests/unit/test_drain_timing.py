"""`benchmarks.intake_drain --timings`: the intake worker's steps wrapped when it imports its
streaming module (a renamed step would fail here, not leave a run without its timings), and
the steps summed over the drain's window."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.intake_drain import TIMING, timed_steps


def test_the_worker_s_steps_are_wrapped_when_its_streaming_module_is_imported(
    tmp_path: Path,
) -> None:
    out = tmp_path / "timings"
    check = (
        "import hub.streaming.worker, hub.services.intake as i, hub.streaming.commits as c, "
        "hub.streaming.overlap as o, hub.streaming.handlers as h, aiokafka as a; "
        "print(all(hasattr(f, '__wrapped__') for f in (i.IntakeService.save_prepared, "
        "c.Commits.commit, o.Overlap.settle, h.IntakeConsumer.prepare, "
        "h.IntakeConsumer._record, a.AIOKafkaConsumer.getmany)))"
    )
    env = {**os.environ, "PYTHONPATH": str(TIMING), "ORDERHUB_DRAIN_TIMINGS": str(out)}
    done = subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "True"


def test_the_steps_are_summed_over_the_window_only(tmp_path: Path) -> None:
    timings = tmp_path / "timings"
    rows = [
        ["fetch", 0.5, 0.6, True, {"n": 500}],  # before the window
        ["fetch", 1.0, 1.1, True, {"n": 500}],
        ["prepare", 1.1, 1.5, True, {}],
        ["save", 1.2, 1.4, False, {"cpu": 0.01}],
        ["save", 1.6, 2.2, False, {"cpu": 0.01}],  # past the window's end
    ]
    timings.write_text("".join(json.dumps(r) + "\n" for r in rows))

    steps = timed_steps(timings, 1.0, 2.0)

    assert set(steps) == {"fetch", "prepare", "save"}
    assert steps["fetch"]["calls"] == 1 and steps["fetch"]["records"] == 500
    assert abs(steps["prepare"]["share"] - 0.4) < 1e-9
    assert abs(steps["save"]["mean_ms"] - 200) < 1e-6 and steps["save"]["cpu"] == 0.01
