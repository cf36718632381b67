"""Random reads from the files of an index, their cached pages dropped first: what the disk gives an ingest.

A sync that changes 1% of a large index reads pages scattered through the manifest (the rows it replaces,
the signatures of every article) and chroma.sqlite3; once they are out of the page cache, each costs one
random read. This asks the kernel to drop each file's cached pages (posix_fadvise DONTNEED: pages that are
in use elsewhere may stay), then reads `--reads` 4 KiB blocks at random offsets, one at a time (queue depth
1, as SQLite reads), and prints a table. Read-only; it changes nothing in the files.

    python benchmarks/random_reads.py /work/s1m/run/index-1000000/manifest.sqlite3 \
        /work/s1m/run/index-1000000/chroma/chroma.sqlite3 --reads 3000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

BLOCK = 4096


def random_reads(path: Path, reads: int, seed: int = 0) -> dict[str, float]:
    """Time `reads` random BLOCK-sized reads of `path` after dropping its cached pages."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < BLOCK:
            raise ValueError(f"{path} holds {size} bytes, fewer than one {BLOCK}-byte block")
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        rng = random.Random(seed)
        offsets = [rng.randrange(size // BLOCK) * BLOCK for _ in range(reads)]
        started = time.perf_counter()
        for offset in offsets:
            os.pread(fd, BLOCK, offset)
        seconds = time.perf_counter() - started
    finally:
        os.close(fd)
    return {
        "bytes": size,
        "seconds": seconds,
        "per_second": reads / seconds,
        "mb_per_second": reads * BLOCK / seconds / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="files to read (for example the index's SQLite files)")
    parser.add_argument("--reads", type=int, default=3000, help="random 4 KiB reads per file")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="offsets' seed (default: a new one each run; the host may cache blocks read before)",
    )
    options = parser.parse_args(argv)
    if options.reads <= 0:
        parser.error(f"--reads must be a positive number of reads, not {options.reads}")
    missing = [str(p) for p in options.files if not p.is_file()]
    if missing:
        parser.error(f"not a file: {', '.join(missing)}")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"offsets seed {seed}")
    print(f"| file | size (GB) | {options.reads:,} random 4 KiB reads (s) | reads per second | MB/s |")
    print("|---|---|---|---|---|")
    for path in options.files:
        r = random_reads(path, options.reads, seed)
        print(
            f"| {path} | {r['bytes'] / 1e9:.2f} | {r['seconds']:.2f} | {r['per_second']:,.0f} | "
            f"{r['mb_per_second']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
