"""What a worker role pays per consumed record before its handler sees it: Faust's consumer, the
stream, `take_batches` and `to_consumed`, with a handler that does nothing.

Run:  python -m benchmarks.consume_path [--records 20000] [--rounds 3] [--window 0.05]

Records of a flow's size (about 1 KB, ten CloudEvents-like headers) are produced to a fresh
topic of 3 partitions; then a Faust app built as a worker role builds its own (one agent, the
role's batch size and window) reads them all, in a process of its own, once with Faust's own
consumer ("faust") and once with the worker's (`hub.streaming.drain.FastDeliveryConsumer`,
"worker"), and once with the plain aiokafka consumer the roles read their order events with now
(`hub.streaming.plain_batches.PlainBatchConsumer`, "plain": `getmany`, the handler, a commit per
batch) on uvloop as the roles run it, and with `--paths ...,plain-asyncio` on asyncio's own loop,
alternating round by round. Printed: process CPU µs per record (all its threads, from
its first batch to its last), best and median of the rounds. `--batch 1` hands records over one
by one, as at a low rate where each arrives alone.
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.services import kafka_bootstrap

_BODY = b"{" + b'"field":1,' * 100 + b'"last":2}'
_HEADERS = [(f"ce_header{i}", b"x" * 20) for i in range(10)]


async def produce(bootstrap: str, topic: str, records: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, _BODY, key=uuid.uuid4().bytes, headers=_HEADERS)
            for _ in range(records)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Counting:
    """Counts what it is handed; prints the CPU per record once `records` were (then exits)."""

    def __init__(self, records: int) -> None:
        self.records = records
        self.n = self.first = 0
        self.cpu = 0.0

    def add(self, count: int) -> None:
        if not self.n:  # from the end of the first batch: start-up left out
            self.cpu, self.first = cpu(), count
        self.n += count
        if self.n >= self.records:
            counted = self.records - self.first
            print(json.dumps({"us": 1e6 * (cpu() - self.cpu) / counted}), flush=True)
            os._exit(0)

    async def handle(self, messages: Sequence[object]) -> None:
        self.add(len(messages))


def consume_plain(
    bootstrap: str, topic: str, records: int, batch: int, window: float, on_asyncio: bool
) -> None:
    """In a process of its own: read the topic as the roles' plain consumers do, on uvloop as
    the roles run (hub.streaming.event_loop), or on asyncio's loop (`on_asyncio`)."""
    from hub.settings import Settings
    from hub.streaming.event_loop import run_in_loop
    from hub.streaming.plain_batches import PlainBatchConsumer

    settings = Settings(kafka_bootstrap=bootstrap)
    group = f"consume-path-{uuid.uuid4().hex[:8]}"
    reader = PlainBatchConsumer(settings, [topic], group, Counting(records), batch, window=window)
    (asyncio.run if on_asyncio else run_in_loop)(reader.run())


def consume(
    bootstrap: str, topic: str, records: int, worker: bool, batch: int, window: float
) -> None:
    """In a process of its own: read the topic as a worker role's agent does; print the CPU."""
    import faust

    from connectors.consumed import to_consumed
    from hub.streaming.batches import take_batches
    from hub.streaming.drain import FastDeliveryConsumer
    from hub.streaming.event_loop import new_event_loop
    from hub.streaming.worker import RAW_TOPIC

    loop = new_event_loop()  # uvloop's, as the roles run (hub.streaming.worker_process)
    asyncio.set_event_loop(loop)
    app = faust.App(
        f"consume-path-{uuid.uuid4().hex[:8]}",
        loop=loop,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
    )
    if worker:
        app.transport.Consumer = FastDeliveryConsumer  # type: ignore[misc]
    counting = Counting(records)

    async def agent(stream: object) -> None:
        async for taken in take_batches(stream, batch, window):
            counting.add(len([to_consumed(e) for e in taken]))

    app.agent(app.topic(topic, **RAW_TOPIC), concurrency=1)(agent)
    worker_ = faust.Worker(app, loop=loop, loglevel="WARNING", quiet=True)
    worker_.spinner = None
    worker_.execute_from_commandline()


def one_round(bootstrap: str, records: int, path: str, batch: int, window: float) -> float:
    topic = f"consume-path-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(bootstrap, topic, records))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.consume_path", "--child", topic, "--path", path,
         "--records", str(records), "--batch", str(batch), "--window", str(window)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BOOTSTRAP": bootstrap},
    )  # fmt: skip
    for line in (out.stdout + out.stderr).splitlines():  # Faust's worker logs what is printed
        if '{"us"' in line:
            return float(json.loads(line[line.index('{"us"') :].strip())["us"])
    raise RuntimeError(f"the consumer printed no figure:\n{out.stdout}\n{out.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="records per batch at most")
    parser.add_argument("--window", type=float, default=0.05, help="a batch's wait to fill")
    parser.add_argument("--paths", default="faust,worker,plain")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        bootstrap = os.environ["BOOTSTRAP"]
        if args.path in ("plain", "plain-asyncio"):
            on_asyncio = args.path == "plain-asyncio"
            consume_plain(bootstrap, args.child, args.records, args.batch, args.window, on_asyncio)
        else:
            worker = args.path == "worker"
            consume(bootstrap, args.child, args.records, worker, args.batch, args.window)
        return
    bootstrap = kafka_bootstrap()
    figures: dict[str, list[float]] = {name: [] for name in args.paths.split(",")}
    for _ in range(args.rounds):
        for name in figures:
            figures[name].append(one_round(bootstrap, args.records, name, args.batch, args.window))
    print("\n".join(_line(name, values) for name, values in figures.items()))


def _line(name: str, values: list[float]) -> str:
    rounds = ", ".join(f"{v:.1f}" for v in values)
    best, median = min(values), statistics.median(values)
    return f"{name:>13}: {best:6.1f} µs CPU per record best, {median:6.1f} median, {rounds}"


if __name__ == "__main__":
    main()
