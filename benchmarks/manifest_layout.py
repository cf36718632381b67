"""What a 1% change costs the manifest's commit, by how chunk ids place rows in SQLite's indexes.

A chunk id today is a content hash (`ingest.chunking.chunk_id`), so the ten chunks of one article land on ten
random leaf pages of the `chunks` and `vectors` primary-key indexes, and a sync that replaces 1% of the articles
reads and rewrites pages all over those indexes. This builds a synthetic manifest with the real
`Catalog.commit_changes` (articles of CHUNKS chunks with passage-vector blobs of VECTOR_BYTES, as at 1M chunks),
then replaces 1% of its articles, twice per layout:

  hash      the id as today: 32 hex digits of a hash of (source, start, text)
  article   12 hex digits of a hash of the source, then 20 of the same content hash: an article's chunks sit
            side by side in the index, articles still spread at random (what a migration would write)

Each replace is timed with the manifest's pages dropped from the page cache first (posix_fadvise DONTNEED: cold,
as after a night of other work) and again warm; the checkpoint that moves the WAL into the database is timed
apart. Nothing in the product uses the `article` layout; this measures whether it would pay.

    python benchmarks/manifest_layout.py --articles 30000 --workdir /tmp/manifest-layout
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reporting import machine_line, publish  # noqa: E402

from ingest.catalog import Catalog, FileRecord  # noqa: E402
from ingest.records import Article, Chunk  # noqa: E402

CHUNKS = 10
"""Chunks per article (1M chunks came from about 100,000 articles)."""
CHUNK_CHARS = 600
VECTOR_BYTES = 5000
"""A chunk's stored passage vectors (the 1M manifest: 8.4 GB, 60% of it passage vectors)."""
WORDS = ("التنظيم", "المدينة", "قوات", "الأمن", "العراق", "سوريا", "مقاتلي", "التحالف", "الحكومة", "أعلن", "قال")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_key(layout: str, source: str, start: int, text: str) -> str:
    content = _hash(f"{source}\x00{start}\x00{text}")
    return content[:32] if layout == "hash" else _hash(source)[:12] + content[:20]


def article(layout: str, number: int, version: int, rng: random.Random) -> tuple[FileRecord, Article, list[Chunk]]:
    source = f"archive/{number // 1000:04d}/{number:08d}.txt"
    pieces = [" ".join(rng.choice(WORDS) for _ in range(CHUNK_CHARS // 7)) for _ in range(CHUNKS)]
    text = "\n".join(pieces)
    digest = _hash(f"{text}{version}")
    chunks, start = [], 0
    for i, piece in enumerate(pieces):
        chunks.append(Chunk(chunk_key(layout, source, start, piece), source, "t", i, start, start + len(piece), piece))
        start += len(piece) + 1
    record = FileRecord(source, "file", digest, len(text.encode()), None, "t", "bench")
    return record, Article(source, "t", text, digest), chunks


def commit(catalog: Catalog, rows: list[tuple[FileRecord, Article, list[Chunk]]]) -> None:
    vectors = {c.id: os.urandom(VECTOR_BYTES) for _, _, chunks in rows for c in chunks}
    catalog.commit_changes(
        [], [(r, a, chunks, [c.text for c in chunks]) for r, a, chunks in rows], [], {}, vectors=vectors
    )


def drop_cache(path: Path) -> None:
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists():
            fd = os.open(part, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def build(layout: str, articles: int, path: Path) -> float:
    started = time.perf_counter()
    catalog = Catalog(path)
    rng = random.Random(1)
    batch: list[tuple[FileRecord, Article, list[Chunk]]] = []
    for number in range(articles):
        batch.append(article(layout, number, 0, rng))
        if len(batch) == 1000:
            commit(catalog, batch)
            catalog.checkpoint()
            batch = []
    if batch:
        commit(catalog, batch)
    catalog.checkpoint()
    catalog.close()
    return time.perf_counter() - started


def replace_share(layout: str, articles: int, path: Path, version: int, cold: bool) -> tuple[float, float]:
    """(commit seconds, checkpoint seconds) for rewriting 1% of the articles (seeded by `version`)."""
    rng = random.Random(version)
    chosen = rng.sample(range(articles), max(1, articles // 100))
    rows = [article(layout, n, version, rng) for n in chosen]
    if cold:
        drop_cache(path)
    catalog = Catalog(path)
    started = time.perf_counter()
    commit(catalog, rows)
    committed = time.perf_counter() - started
    catalog.checkpoint()
    checkpointed = time.perf_counter() - started - committed
    catalog.close()
    return committed, checkpointed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=30000, help=f"articles of {CHUNKS} chunks each")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/manifest-layout"))
    parser.add_argument("--out", type=Path, help="Markdown file whose manifest-layout section is rewritten")
    options = parser.parse_args()
    if options.articles < 100:
        parser.error("--articles must be 100 or more (1% of them are replaced)")
    rows: list[str] = []
    for layout in ("hash", "article"):
        work = options.workdir / layout
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        path = work / "manifest.sqlite3"
        seconds = build(layout, options.articles, path)
        size = path.stat().st_size / 1e9
        print(f"{layout}: built {options.articles * CHUNKS:,} chunks in {seconds:.0f} s, {size:.2f} GB", flush=True)
        for version in (1, 2, 3, 4):
            cold = version % 2 == 1
            committed, checkpointed = replace_share(layout, options.articles, path, version, cold)
            rows.append(
                f"| {layout} | {size:.2f} | {'cold' if cold else 'warm'} | {committed:.2f} | {checkpointed:.2f} |"
            )
            print(rows[-1], flush=True)
        shutil.rmtree(work)
    lines = [
        f"`python benchmarks/manifest_layout.py --articles {options.articles}`: {options.articles * CHUNKS:,} "
        f"chunks, {options.articles // 100:,} articles ({options.articles // 100 * CHUNKS:,} chunks) replaced per "
        f"row; {machine_line()}",
        "",
        "| chunk ids | manifest GB | page cache | commit s | checkpoint s |",
        "|---|---:|---|---:|---:|",
        *rows,
    ]
    publish(lines, options.out, "manifest-layout")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
