"""What a worker role pays per consumed record before its handler sees it: Faust's consumer, the
stream, `take_batches` and `to_consumed`, with a handler that does nothing.

Run:  python -m benchmarks.consume_path [--records 20000] [--rounds 3]

Records of a flow's size (about 1 KB, ten CloudEvents-like headers) are produced to a fresh
topic of 3 partitions; then a Faust app built as a worker role builds its own (one agent, the
role's batch size and window) reads them all, in a process of its own, once with Faust's own
consumer ("faust") and once with the worker's (`hub.streaming.drain.FastDeliveryConsumer`,
"worker"), alternating round by round. Printed: process CPU µs per record (all its threads,
from its first batch to its last), best and median of the rounds.
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


def consume(bootstrap: str, topic: str, records: int, worker: bool) -> None:
    """In a process of its own: read the topic as a worker role's agent does; print the CPU."""
    import faust

    from hub.streaming.batches import take_batches
    from hub.streaming.drain import FastDeliveryConsumer
    from hub.streaming.worker import RAW_TOPIC, to_consumed

    app = faust.App(
        f"consume-path-{uuid.uuid4().hex[:8]}",
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
    seen = {"n": 0, "first": 0, "cpu": 0.0}

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    async def agent(stream: object) -> None:
        async for batch in take_batches(stream, 500, 0.05):
            consumed = [to_consumed(e) for e in batch]
            if not seen["n"]:  # from the end of the first batch: start-up left out
                seen["cpu"], seen["first"] = cpu(), len(consumed)
            seen["n"] += len(consumed)
            if seen["n"] >= records:
                counted = records - seen["first"]
                print(json.dumps({"us": 1e6 * (cpu() - seen["cpu"]) / counted}), flush=True)
                os._exit(0)

    app.agent(app.topic(topic, **RAW_TOPIC), concurrency=1)(agent)
    worker_ = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker_.spinner = None
    worker_.execute_from_commandline()


def one_round(bootstrap: str, records: int, worker: bool) -> float:
    topic = f"consume-path-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(bootstrap, topic, records))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.consume_path", "--child", topic,
         "--records", str(records), *(["--worker"] if worker else [])],
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        consume(os.environ["BOOTSTRAP"], args.child, args.records, args.worker)
        return
    bootstrap = kafka_bootstrap()
    figures: dict[str, list[float]] = {"faust": [], "worker": []}
    for _ in range(args.rounds):
        for name in figures:
            figures[name].append(one_round(bootstrap, args.records, name == "worker"))
    print("\n".join(_line(name, values) for name, values in figures.items()))


def _line(name: str, values: list[float]) -> str:
    rounds = ", ".join(f"{v:.1f}" for v in values)
    best, median = min(values), statistics.median(values)
    return f"{name:>7} consumer: {best:6.1f} µs CPU per record best, {median:6.1f} median, {rounds}"


if __name__ == "__main__":
    main()
