"""What one sync's vector writes cost Chroma as its graph grows: the same change, into graphs of N vectors.

One embedded collection (the project's HNSW settings, `ChromaStore`, 384-d unit vectors of the scale
corpus's Gaussian mixture) grows through the sizes given. At each size N the change of a sync is timed on
it: `--changed` ids deleted (spread over the collection) and as many new vectors upserted, `EMBED_GROUP` at a
time as ingest adds them, with one save at the end (`ChromaStore.save_after`). The collection then holds N
vectors again (and the deleted ones as tombstones) and grows on to the next size. Wall and CPU time (all
threads of this process: Chroma's insert threads run in it) are printed as a table.

    python benchmarks/chroma_growth.py --sizes 0 25000 100000 --changed 10000 --workdir /tmp/chroma-growth

With `--existing`, the change is timed once on that Chroma directory instead (a copy of an index's `chroma/`:
it is changed), after timing the first query of the process, which loads the graph from disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import chromadb  # noqa: E402
from scale_corpus import unit_vectors  # noqa: E402

from ingest.chroma_store import ChromaStore  # noqa: E402
from ingest.sync import EMBED_GROUP  # noqa: E402

DIM = 384
BLOCK = 5_000


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _add(store: ChromaStore, start: int, stop: int, group: int) -> None:
    for first in range(start, stop, group):
        last = min(stop, first + group)
        ids = [f"c{i}" for i in range(first, last)]
        metadatas = [{"source": f"a{i // 10}.txt"} for i in range(first, last)]
        store.add(ids, unit_vectors(DIM, first, last), None, metadatas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 25_000, 100_000], help="graph sizes, ascending")
    parser.add_argument("--changed", type=int, default=10_000, help="vectors deleted and added at each size")
    parser.add_argument("--workdir", type=Path, help="where the collection grows (emptied first)")
    parser.add_argument("--existing", type=Path, help="time the change on this Chroma directory (it is changed)")
    options = parser.parse_args()
    if options.existing is not None:
        return _existing(options.existing, options.changed)
    if options.workdir is None:
        parser.error("give --workdir (or --existing)")
    if options.sizes != sorted(options.sizes) or options.sizes[0] < 0 or options.changed < 1:
        parser.error("--sizes must be ascending and not negative, --changed at least 1")
    shutil.rmtree(options.workdir, ignore_errors=True)
    store = ChromaStore.open(options.workdir)
    print(
        f"Machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores; chromadb "
        f"{chromadb.__version__}; {options.changed:,} vectors changed at each size.\n"
    )
    print("| graph (vectors) | delete: wall s | CPU s | add: wall s | CPU s | ms per vector | grown to it (s) |")
    print("|---|---|---|---|---|---|---|")
    live: list[int] = []  # ids present, in insertion order
    next_id = 0
    for size in options.sizes:
        started = time.perf_counter()
        store.save_after(max(0, size - len(live)))
        _add(store, next_id, next_id + size - len(live), BLOCK)
        live.extend(range(next_id, next_id + size - len(live)))
        next_id = live[-1] + 1 if live else 0
        grown = time.perf_counter() - started
        step = max(1, len(live) // options.changed) if live else 1
        gone = live[::step][: options.changed] if live else []
        store.save_after(len(gone) + options.changed)
        wall, cpu = time.perf_counter(), _cpu()
        store.delete([f"c{i}" for i in gone])
        deleted_wall, deleted_cpu = time.perf_counter() - wall, _cpu() - cpu
        wall, cpu = time.perf_counter(), _cpu()
        _add(store, next_id, next_id + options.changed, EMBED_GROUP)
        added_wall, added_cpu = time.perf_counter() - wall, _cpu() - cpu
        removed = set(gone)
        live = [i for i in live if i not in removed] + list(range(next_id, next_id + options.changed))
        next_id += options.changed
        if store.count() != len(live):
            raise SystemExit(f"Chroma holds {store.count():,} vectors, expected {len(live):,}")
        print(
            f"| {size:,} | {deleted_wall:.2f} | {deleted_cpu:.2f} | {added_wall:.2f} | {added_cpu:.2f} | "
            f"{1000 * added_wall / options.changed:.2f} | {grown:.1f} |",
            flush=True,
        )
    store.close()
    load = os.getloadavg()
    print(f"\nLoad average at the end: {load[0]:.1f} (1 min) / {load[1]:.1f} (5 min).")
    return 0


def _existing(path: Path, changed: int) -> int:
    """The change on an existing collection: first query (loading the graph), delete, add, then a count."""
    started = time.perf_counter()
    store = ChromaStore.open(path, create=False)
    opened = time.perf_counter() - started
    before = store.count()
    wall, cpu = time.perf_counter(), _cpu()
    store.search(unit_vectors(DIM, 0, 1)[0], 10)
    loaded_wall, loaded_cpu = time.perf_counter() - wall, _cpu() - cpu
    window = min(before, changed * 10)
    gone: list[str] = []
    for offset in range(0, window, 5_000):  # ids from the start of the collection, every tenth
        gone.extend(store._collection.get(include=[], limit=5_000, offset=offset)["ids"][::10])
    gone = gone[:changed]
    first = 10**9  # new ids past any the scale corpus uses
    store.save_after(len(gone) + changed)
    wall, cpu = time.perf_counter(), _cpu()
    store.delete(gone)
    deleted_wall, deleted_cpu = time.perf_counter() - wall, _cpu() - cpu
    wall, cpu = time.perf_counter(), _cpu()
    for start in range(0, changed, EMBED_GROUP):
        stop = min(changed, start + EMBED_GROUP)
        vectors = unit_vectors(DIM, start, stop)
        store.add(
            [f"c{first + i}" for i in range(start, stop)], vectors, None, [{"source": "new.txt"}] * (stop - start)
        )
    added_wall, added_cpu = time.perf_counter() - wall, _cpu() - cpu
    wall = time.perf_counter()
    after = store.count()
    counted = time.perf_counter() - wall
    wall = time.perf_counter()
    store.close()
    closed = time.perf_counter() - wall
    if after != before - len(gone) + changed:
        raise SystemExit(f"Chroma holds {after:,} vectors, expected {before - len(gone) + changed:,}")
    print(f"{path}: {before:,} vectors; open {opened:.2f} s; {len(gone):,} deleted, {changed:,} added\n")
    print(
        "| first query (graph load): wall s | CPU s | delete: wall s | CPU s | add: wall s | CPU s | ms per vector "
        "| count (s) | close (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {loaded_wall:.2f} | {loaded_cpu:.2f} | {deleted_wall:.2f} | {deleted_cpu:.2f} | {added_wall:.2f} | "
        f"{added_cpu:.2f} | {1000 * added_wall / changed:.2f} | {counted:.2f} | {closed:.2f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
