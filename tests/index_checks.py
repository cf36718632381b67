"""Reading an index back whole, to check that its three parts agree with each other and the folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ingest.catalog import Catalog
from ingest.chroma_store import ChromaStore
from ingest.indexing import CHROMA_DIR, LEXICAL_DIR, MANIFEST
from ingest.lexical import LexicalIndex
from ingest.loading import is_supported


@dataclass(frozen=True)
class IndexContents:
    """Everything an index holds, as plain sets and maps."""

    files: dict[str, str]  # indexed source -> content hash
    duplicates: dict[str, str]  # duplicate source -> canonical source
    manifest_chunks: set[str]
    chunk_sources: dict[str, str]
    dense_ids: set[str]
    dense_sources: dict[str, str]
    lexical_ids: set[str]
    generation: int
    lexical_generation: int | None


def read_index(index_dir: Path, chroma_url: str = "") -> IndexContents:
    """Open the manifest, the Chroma collection (embedded, or on `chroma_url`) and the lexical index."""
    catalog = Catalog(index_dir / MANIFEST, readonly=True)
    try:
        records = catalog.files()
        chunks = list(catalog.chunks())
        generation = catalog.generation()
    finally:
        catalog.close()
    store = ChromaStore.open(chroma_url or index_dir / CHROMA_DIR)
    dense_ids = set(store.ids())
    raw = store._collection.get(include=["metadatas"])
    dense_sources = {i: m["source"] for i, m in zip(raw["ids"], raw["metadatas"], strict=True)}
    lexical = LexicalIndex.load(index_dir / LEXICAL_DIR)
    return IndexContents(
        files={s: r.hash for s, r in records.items() if r.duplicate_of is None},
        duplicates={s: r.duplicate_of for s, r in records.items() if r.duplicate_of is not None},
        manifest_chunks={c.id for c in chunks},
        chunk_sources={c.id: c.source for c in chunks},
        dense_ids=dense_ids,
        dense_sources=dense_sources,
        lexical_ids=set(lexical.ids) if lexical else set(),
        generation=generation,
        lexical_generation=lexical.generation if lexical else None,
    )


def assert_in_sync(
    index_dir: Path,
    docs_dir: Path,
    *,
    dense: bool = True,
    unreadable: frozenset[str] = frozenset(),
    chroma_url: str = "",
) -> IndexContents:
    """The manifest lists exactly the supported files of `docs_dir`; Chroma and BM25 hold exactly its chunks."""
    contents = read_index(index_dir, chroma_url)
    on_disk = {
        p.relative_to(docs_dir).as_posix()
        for p in docs_dir.rglob("*")
        if p.is_file() and is_supported(p) and not p.name.startswith(".")
    } - unreadable
    assert set(contents.files) | set(contents.duplicates) == on_disk
    assert contents.lexical_ids == contents.manifest_chunks
    assert contents.lexical_generation == contents.generation
    assert set(contents.chunk_sources.values()) == set(contents.files)
    if dense:
        assert contents.dense_ids == contents.manifest_chunks
        assert contents.dense_sources == contents.chunk_sources
    return contents


def main(argv: list[str]) -> int:
    """`python -m tests.index_checks INDEX DOCS`: check in a fresh process (no cached Chroma client)."""
    contents = assert_in_sync(Path(argv[0]), Path(argv[1]), chroma_url=os.environ.get("ASSISTANT_CHROMA_URL", ""))
    print(f"in sync: {len(contents.files)} files, {len(contents.manifest_chunks)} chunks")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
