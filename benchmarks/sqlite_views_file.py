"""The embedded views file's SQLite settings, alone: two processes on one WAL file.

Run:  python -m benchmarks.sqlite_views_file [--batches 3000] [--rows 100000]

W writes batches as the views child does (15 new order rows of ~300 bytes under random keys,
30 earlier ones updated, 10 read back, a position row, one transaction), while O commits a
small transaction every 3 ms as the routing child and the API's process do (each commit of O
drops W's page cache). Printed per setting (SQLite's default; the memory map; a checkpoint
every 10,000 pages; both), alternated in two rounds: W's CPU per batch (user and system,
getrusage) and O's per transaction.
"""

import argparse
import multiprocessing as mp
import random
import resource
import shutil
import sqlite3
import tempfile
import time
import uuid
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

SETTINGS = {
    "default": (0, 1000),
    "mmap": (256 << 20, 1000),
    "checkpoint": (0, 10_000),
    "both": (256 << 20, 10_000),
}
_UPSERT = "INSERT INTO positions VALUES (?, 1) ON CONFLICT (f) DO UPDATE SET p = p + 1"


def _connect(path: Path, mmap: int, pages: int) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "busy_timeout=10000", "synchronous=NORMAL"):
        c.execute(f"PRAGMA {pragma}")
    c.execute(f"PRAGMA mmap_size={mmap}")
    c.execute(f"PRAGMA wal_autocheckpoint={pages}")
    return c


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _writer(
    path: Path,
    setting: tuple[int, int],
    batches: int,
    q: "Queue[tuple[str, float, float]]",
    stop: Event,
) -> None:
    c = _connect(path, *setting)
    rnd = random.Random(1)
    recent: list[str] = []
    u0, s0 = _cpu()
    for _ in range(batches):
        c.execute("BEGIN IMMEDIATE")
        new = [uuid.UUID(int=rnd.getrandbits(128)).hex for _ in range(15)]
        c.executemany(
            "INSERT INTO orders VALUES (?, 'placed', ?, ?)",
            [(k, "x" * 300, rnd.random()) for k in new],
        )
        older = recent[-60:-30]
        c.executemany(
            "UPDATE orders SET status = 'routed', payload = ?, updated = ? WHERE id = ?",
            [("y" * 300, rnd.random(), k) for k in older],
        )
        for k in older[:10]:
            c.execute("SELECT status FROM orders WHERE id = ?", (k,)).fetchone()
        c.execute(_UPSERT, ("w",))
        c.execute("COMMIT")
        recent += new
    u1, s1 = _cpu()
    stop.set()
    q.put(("W", (u1 - u0) / batches * 1e6, (s1 - s0) / batches * 1e6))


def _other(
    path: Path, setting: tuple[int, int], q: "Queue[tuple[str, float, float]]", stop: Event
) -> None:
    c = _connect(path, *setting)
    u0, s0 = _cpu()
    n = 0
    while not stop.is_set():
        c.execute("BEGIN IMMEDIATE")
        c.execute(_UPSERT, ("o",))
        c.execute("INSERT INTO backorders VALUES (?, 'sku')", (uuid.uuid4().hex,))
        c.execute("COMMIT")
        n += 1
        time.sleep(0.003)
    u1, s1 = _cpu()
    q.put(("O", n, (u1 - u0 + s1 - s0) * 1e6 / max(n, 1)))


def _seed(path: Path, rows: int) -> None:
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, status TEXT, payload TEXT, updated REAL)")
    c.execute("CREATE INDEX orders_updated ON orders (updated)")
    c.execute("CREATE TABLE positions (f TEXT PRIMARY KEY, p INTEGER)")
    c.execute("CREATE TABLE backorders (id TEXT PRIMARY KEY, sku TEXT)")
    rnd = random.Random(0)
    keys = (uuid.UUID(int=rnd.getrandbits(128)).hex for _ in range(rows))
    c.execute("BEGIN")
    c.executemany(
        "INSERT INTO orders VALUES (?, 'routed', ?, ?)", ((k, "z" * 300, 0.5) for k in keys)
    )
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=100_000, help="order rows to start with")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    seed = folder / "seed.db"
    _seed(seed, args.rows)
    names = list(SETTINGS)
    for round_ in range(2):
        for name in names if round_ == 0 else names[::-1]:
            path = folder / f"{name}-{round_}.db"
            shutil.copy(seed, path)
            q: Queue[tuple[str, float, float]] = mp.Queue()
            stop = mp.Event()
            setting = SETTINGS[name]
            processes = [
                mp.Process(target=_other, args=(path, setting, q, stop)),
                mp.Process(target=_writer, args=(path, setting, args.batches, q, stop)),
            ]
            for p in processes:
                p.start()
            for p in processes:
                p.join()
            got = {r[0]: r[1:] for r in (q.get(), q.get())}
            (w_user, w_sys), (o_tx, o_cpu) = got["W"], got["O"]
            print(
                f"{name:10} W user {w_user:5.0f} + sys {w_sys:5.0f} = {w_user + w_sys:5.0f} us "
                f"per batch; O {o_cpu:4.0f} us per transaction ({o_tx} of them)",
                flush=True,
            )
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
