"""The read side of an index: one snapshot of manifest, lexical index and vectors, renewed as a whole.

`IndexReader` opens the live generation named by `state.json` (the manifest inside one read
transaction, the lexical generation memory-mapped after its files are checked, the Chroma collection
after its vector index files are checked) as a `Snapshot`. Before each use it looks at `state.json`;
when an ingest has written a newer generation it opens that one, hands it to every later question, and
closes the old one once the questions using it are done. A new Chroma client is opened for the new
generation only after the old one is closed, so it loads the vectors the ingest wrote.

What cannot be used is recorded as a `PartProblem` instead of failing every question: a damaged
lexical index leaves dense search, damaged vectors leave lexical search. A damaged manifest cannot be
worked around; it raises ManifestDamagedError, whose message names `assistant ingest --rebuild`.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from ingest.catalog import Catalog
from ingest.checksums import changed_files, restamp
from ingest.chroma_store import ChromaStore, DenseHit, inspect_embedded
from ingest.chunking import chunk_id
from ingest.filters import ArticleFilter
from ingest.integrity import PartProblem, check_dense_files, check_lexical
from ingest.layout import IndexLayout, IndexState, StateDamagedError, dense_location, read_state
from ingest.lexical import LexicalDamagedError, LexicalHit, LexicalIndex
from ingest.panics import is_panic
from ingest.passage_vectors import PassageVectors, decode
from ingest.records import Article, Chunk, Metadata
from ingest.settings import Settings
from ingest.tantivy_lexical import GenerationRecord, TantivyLexicalIndex, check_generation

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")

REBUILD_HINT = (
    "The manifest is the index's record of truth and cannot be repaired from the other parts: run "
    "`assistant ingest --rebuild` to rebuild the index from the documents (every chunk is embedded again)."
)


class IndexMissingError(RuntimeError):
    """There is no index to answer from."""


class ManifestDamagedError(RuntimeError):
    """The manifest cannot be read or contradicts itself; only `assistant ingest --rebuild` fixes it."""


class DenseUnavailableError(RuntimeError):
    """The vectors cannot be searched (damaged files, or the Chroma server does not answer)."""


def index_exists(index_dir: Path) -> bool:
    """True when `index_dir` holds a manifest."""
    return IndexLayout(index_dir).manifest.is_file()


def ingest_pending(index_dir: Path) -> bool:
    """True while an ingest is writing (or one was interrupted and awaits repair)."""
    return IndexLayout(index_dir).pending.exists()


def manifest_damaged(path: object, error: BaseException) -> ManifestDamagedError:
    """The error for a manifest SQLite cannot read (or whose content contradicts its checksums)."""
    return ManifestDamagedError(f"The manifest {path} is damaged ({error}). {REBUILD_HINT}")


def open_catalog(layout: IndexLayout) -> Catalog:
    """The manifest, read-only, checked to open (raises IndexMissingError or ManifestDamagedError)."""
    if not layout.manifest.is_file():
        if layout.holds_index():
            raise manifest_damaged(
                layout.manifest, FileNotFoundError("it is missing, but the rest of an index is there")
            )
        raise IndexMissingError(
            f"There is no index in {layout.root}. Run `assistant ingest` first (or set ASSISTANT_INDEX_DIR)."
        )
    try:
        catalog = Catalog(layout.manifest, readonly=True)
    except sqlite3.DatabaseError as error:
        raise manifest_damaged(layout.manifest, error) from error
    try:
        catalog.begin_snapshot()
        catalog.meta()
    except sqlite3.DatabaseError as error:
        catalog.close()
        raise manifest_damaged(layout.manifest, error) from error
    return catalog


OPEN_ATTEMPTS = 3
"""How often a reader opens the live generation while ingests keep publishing newer ones under it."""


class Snapshot:
    """Manifest, lexical index and vectors of one generation, opened together."""

    def __init__(self, reader: IndexReader, layout: IndexLayout, state: IndexState | None, catalog: Catalog) -> None:
        self._reader = reader
        self.layout = layout
        self.state = state
        self._catalog = catalog
        self.meta = catalog.meta()
        self.generation = catalog.generation()
        self.problems: list[PartProblem] = []
        self.lexical: LexicalIndex | None = None
        self._lexical_record: GenerationRecord | None = None
        self._users = 0
        self._retired = False
        self._open_lexical()

    # manifest ---------------------------------------------------------------------------------------
    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id; each is checked against its id (a content hash), so damaged text is never quoted."""
        try:
            found = {c.id: c for c in self._catalog.chunks(list(ids))}
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error
        for chunk in found.values():
            if chunk_id(chunk.source, chunk.start, chunk.text) != chunk.id:
                raise manifest_damaged(
                    self.layout.manifest, ValueError(f"chunk {chunk.id} of {chunk.source} does not match its checksum")
                )
        return found

    def passage_vectors(self, ids: Sequence[str]) -> dict[str, PassageVectors]:
        """The stored chunk and sentence vectors of those `ids` that have them (ingest.passage_vectors)."""
        try:
            rows = self._catalog.vectors(list(ids))
            return {chunk: decode(data) for chunk, data in rows.items()}
        except (sqlite3.DatabaseError, ValueError, struct.error) as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    def hashes(self, sources: Iterable[str]) -> dict[str, str]:
        """Content hashes of the files `sources` (what an answer's citations record)."""
        try:
            return self._catalog.hashes(sources)
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    def sources(self) -> list[str]:
        """Every indexed source path."""
        try:
            return sorted(s for s, r in self._catalog.files().items() if r.duplicate_of is None)
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    def article(self, source: str) -> Article | None:
        """The cleaned article stored for `source`."""
        try:
            return self._catalog.article(source)
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    def article_with_hash(self, digest: str) -> Article | None:
        """The indexed article whose content hash is `digest` (where a renamed or moved file is now)."""
        source = self._read(self._catalog.source_with_hash, digest)
        return self._read(self._catalog.article, source) if source is not None else None

    def article_meta(self, sources: Iterable[str]) -> dict[str, Metadata]:
        """The metadata of those `sources` that have any (date, outlet, author, url)."""
        return self._read(self._catalog.article_meta, sources)

    def outlets(self) -> list[str]:
        """Every outlet name the articles carry, once per outlet, sorted."""
        return self._read(self._catalog.outlets)

    def stories(self, sources: Iterable[str]) -> dict[str, str]:
        """The wire story of those `sources` that share one with other articles."""
        return self._read(self._catalog.stories, sources)

    def story_members(self, stories: Iterable[str]) -> dict[str, list[str]]:
        """The articles of each story, in source order."""
        return self._read(self._catalog.story_members, stories)

    def scope_sources(self, scope: ArticleFilter | None) -> tuple[str, ...] | None:
        """The articles `scope` allows, as the lexical engine's source filter (None when it filters nothing).

        Dates and outlets are looked up in the manifest's article metadata (the same rule as
        `ArticleFilter.allows`); an empty tuple means no article is allowed.
        """
        if scope is None or scope.empty:
            return None
        if scope.since is None and scope.until is None and not scope.outlets:
            return scope.sources
        allowed = self._read(self._catalog.sources_within, scope.since, scope.until, scope.outlets)
        if scope.sources:
            wanted = set(scope.sources)
            allowed = [s for s in allowed if s in wanted]
        return tuple(allowed)

    def _read(self, method: Callable[_P, _T], *arguments: _P.args, **options: _P.kwargs) -> _T:
        try:
            return method(*arguments, **options)
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    # lexical ----------------------------------------------------------------------------------------
    def lexical_search(self, question: str, k: int, sources: Sequence[str] | None = None) -> list[LexicalHit]:
        """The lexical top `k` (empty when the lexical index cannot be used: see `problems`)."""
        if self.lexical is None:
            return []
        if self._lexical_changed():
            return []
        try:
            return self.lexical.search(question, k, sources=sources)
        except (LexicalDamagedError, ValueError, OSError) as error:
            logger.warning("lexical search failed: %s", error)
            self._lexical_failed(f"the lexical index failed to search ({error}); run `assistant ingest` to rebuild it")
            return []

    def _open_lexical(self) -> None:
        if self.state is None:
            self.problems.append(
                PartProblem("lexical", "the index has no state.json yet; run `assistant ingest` to complete it")
            )
            return
        record, problems = check_lexical(self.layout, self.state, self.state.generation)
        if record is None:
            self._lexical_failed("; ".join(p.detail for p in problems) + "; run `assistant ingest` to rebuild it")
            return
        try:
            self.lexical = TantivyLexicalIndex.open(self.layout.lexical, record)
            self._lexical_record = record
        except LexicalDamagedError as error:
            self._lexical_failed(f"{error}; run `assistant ingest` to rebuild it")

    def _lexical_changed(self) -> bool:
        """True (and the lexical index dropped) when one of its files changed on disk since it was opened.

        A stat per file per question: a file truncated under a memory map would crash the process when
        read, and a rewritten one would give wrong answers.
        """
        record = self._lexical_record
        if record is None or not changed_files(self.layout.lexical / record.name, record.files):
            return False
        problems = check_generation(self.layout.lexical, record, deep=True)
        if not problems:  # intact (copied, touched): trust the new stat fields from now on
            self._lexical_record = replace(record, files=restamp(self.layout.lexical / record.name, record.files))
            return False
        self._lexical_failed("; ".join(problems) + "; run `assistant ingest` to rebuild it")
        return True

    def _lexical_failed(self, detail: str) -> None:
        if self.lexical is not None:
            self.lexical.close()
        self.lexical = None
        self.problems.append(PartProblem("lexical", detail))
        logger.warning("lexical index unusable: %s", detail)

    # dense ------------------------------------------------------------------------------------------
    def dense_search(
        self,
        vector: np.ndarray,
        k: int,
        sources: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[DenseHit]:
        """The `k` nearest chunks, only from `sources` or only those matching `where` (a Chroma filter,
        `ingest.filters.chroma_where`); raises DenseUnavailableError when the vectors cannot be searched."""
        return self._reader.dense_search(self, vector, k, sources, where)

    # lifetime ---------------------------------------------------------------------------------------
    def _close(self) -> None:
        if self.lexical is not None:
            self.lexical.close()
            self.lexical = None
        self._catalog.close()


class IndexReader:
    """The live snapshot of one index for a long-running reader (a chat server, an `Assistant`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = IndexLayout(settings.index_dir)
        self._lock = threading.Lock()
        self._dense_gate = threading.Condition()
        self._dense_users = 0
        self._store: ChromaStore | None = None
        self._store_owner: Snapshot | None = None
        self._dense_problem: str | None = None
        self._state_stat: tuple[int, int, int] | None = None
        self._closed = False
        self._warming: threading.Thread | None = None
        self._snapshot = self._open_snapshot()

    # snapshots --------------------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """The current snapshot (a newer generation is opened first if an ingest finished one)."""
        with self._lock:
            self._refresh()
            snapshot = self._snapshot
            snapshot._users += 1
        try:
            yield snapshot
        finally:
            with self._lock:
                snapshot._users -= 1
                if snapshot._retired and snapshot._users == 0:
                    snapshot._close()

    @property
    def meta(self) -> dict[str, str]:
        """The manifest's recorded settings (model, dense, ...) of the current snapshot."""
        return dict(self._snapshot.meta)

    @property
    def generation(self) -> int:
        """The generation of the current snapshot."""
        return self._snapshot.generation

    def close(self) -> None:
        """Release every file and client (after a background warm-up, if one is running, has finished)."""
        self._closed = True
        if self._warming is not None and self._warming is not threading.current_thread():
            self._warming.join()
        with self._lock:
            self._snapshot._retired = True
            if self._snapshot._users == 0:
                self._snapshot._close()
        self._close_store()

    def _refresh(self) -> None:
        stat = _stat(self.layout)
        if stat == self._state_stat:
            return
        self._state_stat = stat
        try:
            state = read_state(self.layout)
        except StateDamagedError as error:
            logger.warning("keeping the previous snapshot: %s", error)
            return
        current = self._snapshot.state
        if state is None or (current is not None and state.same_generation(current)):
            return  # no newer generation (a deleted or damaged state.json is reported by status and ingest)
        try:
            fresh = self._open_snapshot()
        except (IndexMissingError, ManifestDamagedError) as error:
            logger.warning("keeping the previous snapshot: %s", error)
            return
        old = self._snapshot
        self._snapshot = fresh
        old._retired = True
        if old._users == 0:
            old._close()
        logger.info("moved to generation %d", fresh.generation)

    def _open_snapshot(self) -> Snapshot:
        """The live generation; opened again when an ingest rewrote state.json meanwhile and this one found a
        problem (the generation it read was being removed, or its checksums settled: `settle_links`)."""
        for _ in range(OPEN_ATTEMPTS - 1):
            stat = _stat(self.layout)
            snapshot = self._open_once(stat)
            if not snapshot.problems or _stat(self.layout) == stat:
                return snapshot
            snapshot._close()
        return self._open_once(_stat(self.layout))

    def _open_once(self, stat: tuple[int, int, int] | None) -> Snapshot:
        catalog = open_catalog(self.layout)
        state: IndexState | None
        try:
            state = read_state(self.layout)
        except StateDamagedError as error:
            state = None
            logger.warning("%s", error)
        snapshot = Snapshot(self, self.layout, state, catalog)
        if state is not None and state.generation > snapshot.generation:
            snapshot._close()
            raise manifest_damaged(
                self.layout.manifest,
                ValueError(f"it holds generation {snapshot.generation}, older than the live {state.generation}"),
            )
        self._state_stat = stat
        return snapshot

    # dense ------------------------------------------------------------------------------------------
    def dense_search(
        self,
        snapshot: Snapshot,
        vector: np.ndarray,
        k: int,
        sources: Sequence[str] | None,
        where: dict[str, Any] | None = None,
    ) -> list[DenseHit]:
        """Search the vectors of `snapshot`'s generation, opening a fresh client when the generation moved."""
        with self._dense_gate:
            # The current snapshot gets a client opened for it; a question still on an older snapshot
            # uses whatever client is open (newer vectors whose chunks it does not know are dropped).
            if self._closed:
                raise DenseUnavailableError("the index reader is closed")
            stale = self._store_owner is not snapshot and (snapshot is self._snapshot or self._store_owner is None)
            if stale:
                while self._dense_users:
                    self._dense_gate.wait()
                self._reopen_store(snapshot)
            store = self._store
            if store is None:
                raise DenseUnavailableError(self._dense_problem or "the vectors cannot be used")
            self._dense_users += 1
        try:
            return store.search(vector, k, sources=sources, where=where)
        except BaseException as error:
            if not isinstance(error, Exception) and not is_panic(error):
                raise
            with self._dense_gate:
                if self._store is store:  # reconnect on the next question
                    self._store_owner = None
            raise DenseUnavailableError(f"the vector store did not answer ({error})") from error
        finally:
            with self._dense_gate:
                self._dense_users -= 1
                self._dense_gate.notify_all()

    def warm(self, dimension: int) -> threading.Thread:
        """Open Chroma and load its vector index in the background, so the first question does not wait for it."""

        def load() -> None:
            vector = np.zeros(dimension, dtype=np.float32)
            vector[0] = 1.0
            with self.snapshot() as snapshot:
                try:
                    self.dense_search(snapshot, vector, 1, None)
                except DenseUnavailableError as error:  # the first question reports it with its answer
                    logger.info("warming the vector store failed: %s", error)

        thread = threading.Thread(target=load, name="warm-dense-store", daemon=True)
        if dimension > 0 and not self._closed:
            self._warming = thread
            thread.start()
        return thread

    def dense_problem(self) -> str | None:
        """Why the vectors cannot be searched, when a check found it (before any question tried)."""
        return self._dense_problem

    def _reopen_store(self, snapshot: Snapshot) -> None:
        if self._store is not None:
            self._store.close()
        self._store, self._store_owner, self._dense_problem = None, snapshot, None
        problem = self._dense_files_problem(snapshot.state)
        if problem:
            self._dense_problem = problem
            logger.warning("vectors unusable: %s", problem)
            return
        try:
            self._store = ChromaStore.open(
                dense_location(self.settings), collection=self.settings.chroma_collection, create=False
            )
        except BaseException as error:
            if not isinstance(error, Exception) and not is_panic(error):
                raise
            self._store_owner = None
            raise DenseUnavailableError(f"the vector store cannot be opened ({error})") from error

    def _dense_files_problem(self, state: IndexState | None) -> str | None:
        """Why Chroma's files must not be opened: a damaged vector index, or not the vectors ingest left."""
        if self.settings.chroma_url:
            return None
        problems = [p.detail for p in check_dense_files(self.layout, state)]
        if not problems and state is not None and state.dense_count and not self.layout.pending.exists():
            try:
                stored = inspect_embedded(self.layout.chroma, self.settings.chroma_collection)
            except sqlite3.DatabaseError as error:
                problems = [f"chroma/chroma.sqlite3 cannot be read ({error})"]
            else:
                count = stored.count if stored is not None else 0
                if count != state.dense_count:
                    problems = [f"Chroma holds {count:,} vectors, the last ingest left {state.dense_count:,}"]
        if problems:
            return f"Chroma's vector index is damaged: {'; '.join(problems)}; run `assistant ingest` to repair it"
        return None

    def _close_store(self) -> None:
        with self._dense_gate:
            while self._dense_users:
                self._dense_gate.wait()
            if self._store is not None:
                self._store.close()
            self._store, self._store_owner = None, None


def _stat(layout: IndexLayout) -> tuple[int, int, int] | None:
    try:
        stat = layout.state.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
