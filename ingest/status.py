"""`assistant status`: what the index holds, and a deep check of every part."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field

from ingest.catalog import Catalog
from ingest.chroma_store import DenseStoreUnavailableError, inspect_embedded
from ingest.integrity import (
    PartProblem,
    check_chroma_database,
    check_dense_files,
    check_lexical,
    check_manifest,
    check_state,
    probe_dense,
)
from ingest.layout import IndexLayout, IndexState
from ingest.reader import REBUILD_HINT
from ingest.settings import Settings


@dataclass(frozen=True, slots=True)
class Status:
    """The state of an index, for `assistant status`."""

    index: str
    documents: int
    chunks: int
    model: str
    dense: bool
    lexical: bool
    updated_at: str | None
    model_checksum: str = ""
    """SHA-256 of the weights the vectors were made with, when the model has a recorded file."""
    generation: int = 0
    vectors: int = 0
    """Vectors Chroma holds (equal to `chunks` when the dense part is complete)."""
    problems: tuple[PartProblem, ...] = field(default=())
    """Every part found damaged, missing or out of step, with what to do."""

    @property
    def healthy(self) -> bool:
        """True when every part was verified."""
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict (with `healthy`)."""
        return {**asdict(self), "healthy": self.healthy}


def index_status(settings: Settings, *, deep: bool = False) -> Status:
    """Counts of the index and a check of every part.

    Quick (the default): sizes and stat fields of every derived file against what was recorded. Deep
    (`assistant status`): every file hashed, the manifest and chroma.sqlite3 read whole.
    """
    layout = IndexLayout(settings.index_dir)
    index = str(settings.index_dir)
    if not layout.manifest.is_file():
        if layout.holds_index():
            problem = PartProblem("manifest", f"{layout.manifest.name} is missing. {REBUILD_HINT}")
            return Status(index, 0, 0, "", False, False, None, problems=(problem,))
        return Status(index, 0, 0, "", False, False, None)
    try:
        catalog = Catalog(layout.manifest, readonly=True)
        try:
            meta = catalog.meta()
            documents, chunks = catalog.counts()
            generation = catalog.generation()
            problems = check_manifest(catalog, deep=True) if deep else []
        finally:
            catalog.close()
    except sqlite3.DatabaseError as error:
        problem = PartProblem("manifest", f"SQLite cannot read it ({error}). {REBUILD_HINT}")
        return Status(index, 0, 0, "", False, False, None, problems=(problem,))
    if problems:
        problems = [PartProblem(p.part, f"{p.detail}. {REBUILD_HINT}") for p in problems]
    state, state_problems = check_state(layout)
    pending = layout.pending.exists()
    if pending:
        problems.append(
            PartProblem("state", "an ingest is running or was interrupted; `assistant ingest` completes it")
        )
    elif state is not None and state.generation != generation:
        problems.append(
            PartProblem("state", f"state.json names generation {state.generation}, the manifest {generation}")
        )
    problems.extend(p for p in state_problems if chunks or state is not None)
    record, lexical_problems = check_lexical(layout, state, generation, deep=deep)
    if record is not None and record.documents != chunks:
        lexical_problems.append(
            PartProblem("lexical", f"it holds {record.documents:,} chunks, the manifest {chunks:,}")
        )
    if chunks or state is not None:
        problems.extend(_hint(lexical_problems, "run `assistant ingest` to rebuild it from the manifest"))
    vectors, dense_problems = _check_dense(settings, layout, state, deep)
    dense_built = meta.get("dense") == "1"
    if dense_built and not dense_problems and vectors != chunks:
        dense_problems.append(PartProblem("dense", f"Chroma holds {vectors:,} vectors, the manifest {chunks:,} chunks"))
    problems.extend(_hint(dense_problems, "run `assistant ingest` to repair it"))
    return Status(
        index,
        documents,
        chunks,
        meta.get("model", ""),
        dense_built and not pending and not dense_problems,
        chunks > 0 and not lexical_problems and state is not None,
        meta.get("updated_at"),
        meta.get("model_checksum", ""),
        generation,
        vectors,
        tuple(problems),
    )


def _check_dense(
    settings: Settings, layout: IndexLayout, state: IndexState | None, deep: bool
) -> tuple[int, list[PartProblem]]:
    """Chroma's count, and its files hashed against state.json (a server: its count only)."""
    if settings.chroma_url:
        from ingest.factories import open_dense_store

        try:
            store = open_dense_store(settings)
        except DenseStoreUnavailableError as error:  # the server is down or elsewhere: ingest cannot mend that
            return 0, [PartProblem("dense", str(error), repairable=False)]
        except Exception as error:  # noqa: BLE001 - reported as a problem
            return 0, [PartProblem("dense", f"the Chroma server at {settings.chroma_url} did not answer ({error})")]
        try:
            return store.count(), []
        finally:
            store.close()
    problems = check_dense_files(layout, state, deep=deep)
    if deep:
        problems.extend(check_chroma_database(layout))
    try:
        stored = inspect_embedded(layout.chroma, settings.chroma_collection)
    except sqlite3.DatabaseError as error:
        return 0, [*problems, PartProblem("dense", f"chroma/chroma.sqlite3 cannot be read ({error})")]
    if stored is None:
        return 0, problems
    if state is not None and set(state.dense_files) - set(stored.vector_files):
        problems.append(PartProblem("dense", "files of Chroma's vector index are missing"))
    if deep and not problems and stored.count:
        problems.extend(probe_dense(settings, layout))
    return stored.count, problems


def _hint(problems: list[PartProblem], hint: str) -> list[PartProblem]:
    return [PartProblem(p.part, f"{p.detail}; {hint}") if p.repairable else p for p in problems]
