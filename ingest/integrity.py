"""Checks of each part of an index against what was recorded when it was written.

Quick checks (every ingest, every reader) compare sizes and stat fields and hash only files that
changed; deep checks (`assistant status`) hash every file and re-read the manifest.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Literal

from ingest.catalog import Catalog
from ingest.checksums import changed_files
from ingest.chroma_store import ChromaStore
from ingest.chunking import chunk_id
from ingest.hnsw_files import check_vector_index
from ingest.layout import STATE, IndexLayout, IndexState, StateDamagedError, dense_location, read_state
from ingest.lexical import LexicalDamagedError
from ingest.panics import is_panic
from ingest.settings import Settings
from ingest.tantivy_lexical import GenerationRecord, check_generation, read_record

Part = Literal["manifest", "state", "lexical", "dense"]


@dataclass(frozen=True, slots=True)
class PartProblem:
    """A part of the index that cannot be used as it is, and why."""

    part: Part
    detail: str
    repairable: bool = True
    """False when `assistant ingest` cannot mend it (a Chroma server that does not answer): the detail says what
    to do instead."""

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-ready dict."""
        return asdict(self)


def check_state(layout: IndexLayout) -> tuple[IndexState | None, list[PartProblem]]:
    """The live state and what is wrong with it (a missing state is a problem once there is a manifest)."""
    try:
        state = read_state(layout)
    except StateDamagedError as error:
        return None, [PartProblem("state", str(error))]
    if state is None:
        return None, [PartProblem("state", f"{STATE} is missing")]
    return state, []


def check_lexical(
    layout: IndexLayout, state: IndexState | None, generation: int, *, deep: bool = False
) -> tuple[GenerationRecord | None, list[PartProblem]]:
    """The live lexical generation's record if it is complete, current and of `generation`."""
    if state is None:
        return None, [PartProblem("lexical", "no live generation is recorded")]
    try:
        record = read_record(layout.lexical, state.lexical, state.lexical_checksum)
    except LexicalDamagedError as error:
        return None, [PartProblem("lexical", str(error))]
    problems = [PartProblem("lexical", detail) for detail in check_generation(layout.lexical, record, deep=deep)]
    if not record.current:
        problems.append(PartProblem("lexical", "it was written by another version of the analyzer or engine"))
    if record.generation != generation:
        problems.append(PartProblem("lexical", f"it holds generation {record.generation}, the manifest {generation}"))
    return (None if problems else record), problems


def check_dense_files(layout: IndexLayout, state: IndexState | None, *, deep: bool = False) -> list[PartProblem]:
    """Chroma's vector index files: checked (`ingest.hnsw_files`) when they changed since recorded, or deep.

    Chroma rewrites these files itself (a reader folding its log into the graph), so they are recorded
    by size and stat fields and checked by structure, not by checksum.
    """
    if state is None or not state.dense_files:
        return []
    changed = set(changed_files(layout.chroma, state.dense_files))
    problems = [
        PartProblem("dense", f"chroma/{name} is missing")
        for name in sorted(changed)
        if not (layout.chroma / name).exists()
    ]
    for segment in sorted({name.split("/")[0] for name in state.dense_files}):
        names = [name for name in state.dense_files if name.startswith(f"{segment}/")]
        if deep or changed.intersection(names):
            details = check_vector_index(layout.chroma / segment)
            problems.extend(PartProblem("dense", f"chroma/{segment}/{detail}") for detail in details)
    return problems


def check_chroma_database(layout: IndexLayout) -> list[PartProblem]:
    """SQLite's consistency check of an embedded store's chroma.sqlite3 (it reads every page)."""
    database = layout.chroma / "chroma.sqlite3"
    if not database.is_file():
        return []
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        return [PartProblem("dense", f"chroma/chroma.sqlite3 cannot be read ({error})")]
    if rows != ["ok"]:
        return [PartProblem("dense", "chroma/chroma.sqlite3: SQLite finds it inconsistent: " + "; ".join(rows[:2]))]
    return []


def check_manifest(catalog: Catalog, *, deep: bool = False) -> list[PartProblem]:
    """SQLite's own consistency check of the manifest and, deep, every chunk against its id (a content hash)."""
    try:
        rows = catalog.quick_check()
        if rows != ["ok"]:
            return [PartProblem("manifest", "SQLite finds it inconsistent: " + "; ".join(rows[:3]))]
        if deep:
            for chunk in catalog.chunks():
                if chunk_id(chunk.source, chunk.start, chunk.text) != chunk.id:
                    return [PartProblem("manifest", f"chunk {chunk.id} of {chunk.source} does not match its checksum")]
    except sqlite3.DatabaseError as error:
        return [PartProblem("manifest", f"SQLite cannot read it ({error})")]
    return []


def probe_dense(settings: Settings, layout: IndexLayout) -> list[PartProblem]:
    """Open the collection and read it as a question would: Chroma's own files (its pickled id maps) load.

    Run only once the vector index files passed `check_dense_files`: hnswlib does not survive garbled ones.
    """
    dimension = 0
    if layout.manifest.is_file():
        try:
            catalog = Catalog(layout.manifest, readonly=True)
            try:
                dimension = int(catalog.meta().get("dimension", "0"))
            finally:
                catalog.close()
        except (sqlite3.DatabaseError, ValueError):
            dimension = 0
    try:
        store = ChromaStore.open(dense_location(settings), collection=settings.chroma_collection, create=False)
    except BaseException as error:
        if not isinstance(error, Exception) and not is_panic(error):
            raise
        return [PartProblem("dense", f"Chroma cannot open the collection ({_first_line(error)})")]
    try:
        store.probe(dimension)
    except BaseException as error:
        if not isinstance(error, Exception) and not is_panic(error):
            raise
        return [PartProblem("dense", f"Chroma cannot read the collection ({_first_line(error)})")]
    finally:
        store.close()
    return []


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
