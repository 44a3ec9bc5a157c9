"""The embedded processes' collector: the routing process's start frozen, the youngest
generation collected less often there and in the API's process once its lanes start, and
cyclic garbage still collected (each in a process of its own: the collector's settings are
process-wide)."""

import json
import subprocess
import sys

from hub.collector import BATCH_YOUNG_COLLECTED_AFTER as YOUNG_COLLECTED_AFTER
from hub.embedded.delivery import VIEWS_YOUNG_COLLECTED_AFTER

_CHILD = """
import gc, json
from hub.collector import collect_for_batches

# What a start loads: the supply view's rows, as containers the collector tracks (a dict of
# only numbers is untracked, and would not count as frozen).
loaded = [{"row": [i]} for i in range(10_000)]
before = gc.get_threshold()
collect_for_batches()
frozen = gc.get_freeze_count()


class Node:
    pass


def cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a


cycles(1_000)  # garbage only the collector can free
print(json.dumps({
    "before": before,
    "after": gc.get_threshold(),
    "frozen": frozen,
    "collected": gc.collect(),
    "loaded_still_frozen": gc.get_freeze_count() >= len(loaded),
}))
"""


def test_the_start_is_frozen_the_young_collected_later_and_cycles_still_freed() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert seen["after"][0] == YOUNG_COLLECTED_AFTER > seen["before"][0]
    assert seen["after"][1:] == seen["before"][1:], "the older generations as they were"
    assert seen["frozen"] >= 10_000, "what the start loaded is out of the collector's passes"
    assert seen["loaded_still_frozen"]
    assert seen["collected"] >= 2_000, "cycles made after the start are still collected"


_SERVE = """
import gc, json, sys, tempfile
from pathlib import Path
from hub.embedded.delivery import InProcessDelivery
from hub.store import OrderStore

folder = Path(tempfile.mkdtemp())
store = OrderStore(
    env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "e")}
)
delivery = InProcessDelivery(store, [], [], batch_size=10)
before = gc.get_threshold()
delivery.start()
after = gc.get_threshold()
delivery.stop()
print(json.dumps({"before": before, "after": after}))
"""


def test_the_api_process_collects_its_youngest_generation_later_once_its_lanes_start() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SERVE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"][0] < VIEWS_YOUNG_COLLECTED_AFTER == seen["after"][0]
    assert seen["after"][1:] == seen["before"][1:]
