"""When Chroma saves its vector index: a 1% replace in a collection of N vectors, and a new reader after it.

Builds N unit vectors (the scale corpus's Gaussian mixture, 384-d, the project's HNSW settings) once in
`--workdir`, then for each variant copies that collection and, in this process: deletes 1% of the ids and
upserts 1% new vectors, closes, and reads Chroma's log and the sequence number its vector index files
hold (records unsaved). A new process then opens the copy and times its first query (it replays what is
unsaved into the graph). New vectors go in as ingest adds them, `EMBED_GROUP` at a time; `--changed`
(default 1% of N) vectors are replaced. Variants: `default` (Chroma saves every 1,000 records) and
`planned` (`ChromaStore.save_after` with the number of records about to be written: one save, at the end).

    python benchmarks/chroma_saves.py --n 100000 --changed 1237 --workdir /tmp/chroma-saves \
        default planned default planned default planned
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_corpus import unit_vectors  # noqa: E402

from ingest.chroma_store import ChromaStore, _unsaved_records  # noqa: E402
from ingest.sync import EMBED_GROUP  # noqa: E402

DIM = 384
BLOCK = 5_000
READER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3]); sys.path.insert(0, sys.argv[3] + "/benchmarks")
from scale_corpus import unit_vectors
from ingest.chroma_store import ChromaStore
started = time.perf_counter()
store = ChromaStore.open(Path(sys.argv[1]), create=False)
opened = time.perf_counter()
hit = store.search(unit_vectors(384, int(sys.argv[2]), int(sys.argv[2]) + 1)[0], 1)
print(f"{opened - started:.2f} {time.perf_counter() - opened:.2f} {hit[0].chunk_id}")
store.close()
"""


def build(path: Path, n: int) -> float:
    store = ChromaStore.open(path)
    started = time.perf_counter()
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        ids = [f"c{i}" for i in range(start, stop)]
        store.add(
            ids, unit_vectors(DIM, start, stop), None, [{"source": f"a{i // 10}.txt"} for i in range(start, stop)]
        )
    store.close()
    return time.perf_counter() - started


def replace(path: Path, n: int, k: int, variant: str) -> tuple[float, float, int]:
    """(delete seconds, upsert seconds, records left unsaved) of replacing `k` vectors on the copy at `path`."""
    gone = [f"c{i}" for i in range(0, n, max(1, n // k))][:k]
    new = unit_vectors(DIM, n, n + k)
    store = ChromaStore.open(path)
    if variant == "planned":
        store.save_after(len(gone) + k)
    started = time.perf_counter()
    store.delete(gone)
    deleted = time.perf_counter()
    for start in range(0, k, EMBED_GROUP):  # as ingest adds them, one group of embedded chunks at a time
        ids = [f"n{i}" for i in range(start, min(k, start + EMBED_GROUP))]
        store.add(ids, new[start : start + EMBED_GROUP], None, [{"source": f"{i}.txt"} for i in ids])
    upserted = time.perf_counter()
    collection_id = str(store._collection.id)
    store.close()
    return deleted - started, upserted - deleted, _unsaved_records(path, collection_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=0, help="vectors replaced (default: 1%% of --n)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("variants", nargs="+", choices=("default", "planned"))
    options = parser.parse_args()
    built = options.workdir / f"built-{options.n}"
    if not (built / "chroma.sqlite3").exists():
        print(f"built {options.n:,} vectors in {build(built, options.n):.1f} s", flush=True)
    print("| variant | delete (s) | upsert (s) | records unsaved | reader: open (s) | reader: first query (s) |")
    print("|---|---|---|---|---|---|")
    for variant in options.variants:
        copy = options.workdir / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(built, copy)
        delete, upsert, unsaved = replace(copy, options.n, options.changed or options.n // 100, variant)
        done = subprocess.run(
            [sys.executable, "-c", READER, str(copy), str(options.n), str(ROOT)],
            capture_output=True,
            text=True,
            check=True,
        )
        opened, first, nearest = done.stdout.split()
        assert nearest == "n0", nearest  # the first new vector is its own nearest
        print(f"| {variant} | {delete:.2f} | {upsert:.2f} | {unsaved:,} | {opened} | {first} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
