"""Reading an index back whole, to check that its three parts agree with each other and the folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.catalog import Catalog
from ingest.chroma_store import ChromaStore
from ingest.layout import IndexLayout, read_state
from ingest.loading import is_supported
from ingest.tantivy_lexical import TantivyLexicalIndex, read_record

ROOT = Path(__file__).resolve().parent.parent


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
    vector_ids: set[str]  # chunks with passage vectors in the manifest


def read_index(index_dir: Path, chroma_url: str = "") -> IndexContents:
    """Open the manifest, the Chroma collection (embedded, or on `chroma_url`) and the lexical index."""
    layout = IndexLayout(index_dir)
    catalog = Catalog(layout.manifest, readonly=True)
    try:
        records = catalog.files()
        chunks = list(catalog.chunks())
        generation = catalog.generation()
        vector_ids = set(catalog.vectors([c.id for c in chunks]))
    finally:
        catalog.close()
    store = ChromaStore.open(chroma_url or layout.chroma)
    try:
        dense_ids = set(store.ids())
        raw = store._collection.get(include=["metadatas"])
    finally:
        store.close()
    dense_sources = {i: m["source"] for i, m in zip(raw["ids"], raw["metadatas"], strict=True)}
    state = read_state(layout)
    lexical = None
    if state is not None:
        lexical = TantivyLexicalIndex.open(layout.lexical, read_record(layout.lexical, state.lexical))
    return IndexContents(
        files={s: r.hash for s, r in records.items() if r.duplicate_of is None},
        duplicates={s: r.duplicate_of for s, r in records.items() if r.duplicate_of is not None},
        manifest_chunks={c.id for c in chunks},
        chunk_sources={c.id: c.source for c in chunks},
        dense_ids=dense_ids,
        dense_sources=dense_sources,
        lexical_ids=set(lexical.ids()) if lexical else set(),
        generation=generation,
        lexical_generation=lexical.generation if lexical else None,
        vector_ids=vector_ids,
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
        assert contents.vector_ids == contents.manifest_chunks
    return contents


def ingest_command(docs: Path, index: Path, model: Path, *extra: str) -> list[str]:
    """The command line of `assistant ingest DOCS --index INDEX --model MODEL [extra...]` in this interpreter."""
    return [
        sys.executable,
        "-m",
        "assistant",
        "ingest",
        str(docs),
        "--index",
        str(index),
        "--model",
        str(model),
        *extra,
    ]


def wait_for(path: Path, process: subprocess.Popen[Any], timeout: float = 120) -> None:
    """Wait until `path` exists (an ingest's `.pending` marker), failing if `process` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"ingest ended before {path.name} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def check_in_fresh_process(
    index: Path, docs: Path, env: Mapping[str, str] | None = None, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tests.index_checks INDEX DOCS`, so nothing cached from an earlier open can hide a problem."""
    return subprocess.run(
        [sys.executable, "-m", "tests.index_checks", str(index), str(docs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_in_sync_in_fresh_process(index: Path, docs: Path, env: Mapping[str, str] | None = None) -> None:
    """`assert_in_sync` in a fresh process (see `check_in_fresh_process`)."""
    result = check_in_fresh_process(index, docs, env)
    assert result.returncode == 0, result.stdout + result.stderr


def main(argv: list[str]) -> int:
    """`python -m tests.index_checks INDEX DOCS`: check in a fresh process (no cached Chroma client)."""
    contents = assert_in_sync(Path(argv[0]), Path(argv[1]), chroma_url=os.environ.get("ASSISTANT_CHROMA_URL", ""))
    print(f"in sync: {len(contents.files)} files, {len(contents.manifest_chunks)} chunks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def files_hashed(monkeypatch: Any) -> list[str]:
    """From now on, the name of every file whose checksum is computed (ingest.checksums.hash_file), in order."""
    import ingest.checksums

    hashed: list[str] = []
    real = ingest.checksums.hash_file

    def hash_file(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(ingest.checksums, "hash_file", hash_file)
    return hashed
