"""`benchmarks.flow`'s command line: the steps, the network, the hub's batches, and a soak's
options (`benchmarks.flow_soak`)."""

import argparse
from pathlib import Path

from benchmarks.flow_soak import add_soak_arguments


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def flow_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", default="distributed,embedded", help="distributed,embedded")
    parser.add_argument("--rates", type=ints, default=[20, 50], help="offered orders/s per step")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds per step")
    parser.add_argument("--drain", type=float, default=15, help="max wait after each step")
    parser.add_argument("--sources", type=ints, default=[100], help="network sizes, e.g. 20,100")
    parser.add_argument("--skus", type=int, default=2_000, help="10000: the issue's network")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stock-via", choices=["kafka", "rest"], default="kafka")
    parser.add_argument("--kafka-share", type=float, default=0.1, help="orders on a channel topic")
    parser.add_argument("--concurrency", type=int, default=64, help="REST requests in flight")
    parser.add_argument("--batch", type=int, help="intake, relay, views batches (default: hub's)")
    parser.add_argument("--probe", type=int, default=20, help="orders sent before the steps")
    parser.add_argument("--history", type=int, default=0, help="orders preloaded between the "
                        "two history windows (0: no history comparison)")  # fmt: skip
    parser.add_argument("--history-window", type=int, default=10_000)
    parser.add_argument("--closed", type=int, default=0, help="before the steps, this many "
                        "orders closed loop: hub CPU ms per decided order")  # fmt: skip
    add_soak_arguments(parser)
    parser.add_argument("--stall", type=float, default=120, help="give up a wait after this "
                        "many seconds without progress")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser
