"""Incremental sync of a documents folder into the index (manifest + Chroma + lexical generations).

One writer at a time (IndexLock). The manifest is the record of truth. A run that changes anything:

1. writes the `.pending` marker (the next run reconciles Chroma with the manifest if this one dies);
2. deletes from Chroma the vectors of chunks that went away and adds the new ones, reusing the vector
   of any chunk whose text was already embedded (chunks whose id is unchanged are left alone);
3. writes lexical generation g beside g-1: g-1's files linked, the change applied (or, when g-1 cannot
   be used, g rebuilt from the terms the manifest keeps);
4. commits the manifest in one transaction (generation g);
5. records the checksums of Chroma's vector index files and writes `state.json` naming generation g;
6. removes older lexical generations and the marker.

Before that, every part is checked (`ingest.integrity`, quick): a damaged or missing lexical generation
is rebuilt from the manifest, damaged or missing vectors are re-embedded (only those: intact vectors are
kept), and a damaged manifest stops the run with a message naming `--rebuild`.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest import passage_vectors
from ingest.analysis import ANALYZER_VERSION
from ingest.archives import BadRow, parse_field_spec
from ingest.catalog import Catalog, FileRecord, FileStat
from ingest.checksums import FileSum, changed_files, stamp_files
from ingest.chroma_store import ChromaStore, inspect_embedded
from ingest.chunking import ChunkerSettings, chunk_article
from ingest.dates import date_key
from ingest.declarations import SettingError
from ingest.documents import archive_rows, file_article, read_sidecar_bytes, row_article
from ingest.embedding import (
    Embedder,
    EmbeddingUnavailableError,
    approximate_token_count,
    check_model,
    embed_with_terms,
    model_differs,
    resolve_model,
)
from ingest.factories import EmbedderFactory, load_embedder, open_dense_store
from ingest.files import IndexLock, hash_bytes, write_atomic
from ingest.filters import DAY_FIELD, OUTLET_FIELD
from ingest.integrity import (
    PartProblem,
    check_chroma_database,
    check_dense_files,
    check_lexical,
    check_manifest,
    check_state,
    probe_dense,
)
from ingest.layout import (
    MANIFEST,
    IndexLayout,
    IndexState,
    chroma_stat,
    dense_location,
    manifest_stat,
    write_state,
)
from ingest.lexical import LexicalChange, LexicalDamagedError, LexicalDocument, analyze_fields, encode_terms
from ingest.loading import SkipFile
from ingest.metadata import outlet_key
from ingest.panics import is_panic
from ingest.passage_vectors import embed_passages
from ingest.planning import Plan, plan_changes
from ingest.reader import manifest_damaged
from ingest.records import Article, Chunk, Metadata
from ingest.reports import Skipped, SyncReport
from ingest.scanning import Scan, Scanned, scan, walk
from ingest.settings import Settings
from ingest.stories import refresh_stories
from ingest.tantivy_lexical import (
    CHECKSUMS,
    GenerationRecord,
    check_generation,
    find_generations,
    read_record,
    remove_generations,
    settle_links,
    write_generation,
)
from ingest.wire import DEFAULT_PARAMS as DEFAULT_WIRE

logger = logging.getLogger(__name__)

EMBED_GROUP = 512


class NoDocumentsError(RuntimeError):
    """A path given to ingest does not exist."""


class EmptyFolderError(RuntimeError):
    """A folder given to ingest holds no file, while the index holds documents from it (an unmounted disk?)."""


def sync(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    *,
    rebuild: bool = False,
    allow_empty: bool = False,
    progress: bool = False,
    embedder_factory: EmbedderFactory = load_embedder,
) -> SyncReport:
    """Bring the index in line with the documents under `paths` (default: the documents folder).

    A folder that holds no file while the index has documents from it raises EmptyFolderError (nothing is
    removed) unless `allow_empty`.
    """
    started = time.monotonic()
    roots = [Path(p) for p in (paths or [settings.docs_dir])]
    for root in roots:
        if not root.exists():
            raise NoDocumentsError(
                f"{root} does not exist; pass a folder or file of documents (or set ASSISTANT_DOCS_DIR)"
            )
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with IndexLock(settings.index_dir, wait=settings.lock_wait):
        if rebuild:
            embedder_factory = _ready_to_rebuild(settings, embedder_factory)
            wipe(settings)
        job = _Sync(settings, roots, embedder_factory, progress, rebuilt=rebuild, allow_empty=allow_empty)
        try:
            report = job.run()
        finally:
            job.close()
        job.publish()
    return replace(report, seconds=round(time.monotonic() - started, 3))


def _ready_to_rebuild(settings: Settings, embedder_factory: EmbedderFactory) -> EmbedderFactory:
    """Check what a rebuild needs before it deletes anything; the model, loaded here, is then used as it is.

    A rebuild re-embeds every document: without the model it would leave a lexical index in place of the
    vectors it deleted, and a bad field spec would stop it once the index was already gone.
    """
    try:
        parse_field_spec(settings.fields)
    except ValueError as error:
        raise SettingError(f"{error}; --rebuild stopped before deleting anything") from None
    try:
        embedder = embedder_factory(settings)
    except EmbeddingUnavailableError as error:
        raise EmbeddingUnavailableError(
            f"{error} --rebuild re-embeds every document, so it stopped before deleting anything: the index is "
            f"as it was. To start over with the lexical index alone, remove {settings.index_dir} and run "
            "`assistant ingest`."
        ) from error
    return lambda _settings: embedder


def publish_generation(settings: Settings, generation: int, record: GenerationRecord) -> IndexState:
    """Make `generation` live: record Chroma's files and the manifest as they are, write state.json, tidy up.

    Called once the manifest and every Chroma client of the writer are closed (their files are final).
    """
    layout = IndexLayout(settings.index_dir)
    dense_files: dict[str, FileSum] = {}
    if settings.chroma_url:
        store = open_dense_store(settings)
        try:
            count = store.count()
        finally:
            store.close()
    else:
        stored = inspect_embedded(layout.chroma, settings.chroma_collection)
        count = stored.count if stored is not None else 0
        if stored is not None:
            dense_files = stamp_files(layout.chroma, stored.vector_files)
    state = IndexState(
        generation=generation,
        lexical=record.name,
        lexical_checksum=hash_bytes((layout.lexical / record.name / CHECKSUMS).read_bytes()),
        dense_count=count,
        dense_files=dense_files,
        manifest_stat=manifest_stat(layout),
        chroma_stat=(0, 0, 0, 0) if settings.chroma_url else chroma_stat(layout),
    )
    write_state(layout, state)
    remove_generations(layout.lexical, keep={record.name})
    settled = settle_links(layout.lexical, record)
    if settled is not record:
        checksum = hash_bytes((layout.lexical / record.name / CHECKSUMS).read_bytes())
        state = replace(state, lexical_checksum=checksum)
        write_state(layout, state)
    layout.pending.unlink(missing_ok=True)
    return state


def wipe(settings: Settings) -> None:
    """Delete every part of the index (the documents are untouched)."""
    layout = IndexLayout(settings.index_dir)
    try:
        ChromaStore.drop(dense_location(settings), settings.chroma_collection)
    except Exception as error:
        if settings.chroma_url:
            raise
        logger.info("could not drop the collection (%s); removing %s", error, layout.chroma)
        shutil.rmtree(layout.chroma, ignore_errors=True)
    shutil.rmtree(layout.lexical, ignore_errors=True)
    for name in (MANIFEST, f"{MANIFEST}-wal", f"{MANIFEST}-shm", f"{MANIFEST}-journal"):
        (settings.index_dir / name).unlink(missing_ok=True)
    layout.state.unlink(missing_ok=True)
    layout.pending.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class _Prepared:
    record: FileRecord
    article: Article
    chunks: tuple[Chunk, ...]
    terms: tuple[str, ...]
    """Analyzed lexical terms of each chunk (kept in the manifest so a rebuild does not re-analyze)."""


@dataclass(slots=True)
class _Health:
    """What the checks before a run found."""

    state: IndexState | None
    lexical: GenerationRecord | None
    problems: list[PartProblem]
    dense_damaged: bool = False
    dense_count: int = 0
    dense_short: bool = False
    """Chroma holds another number of vectors than the manifest has chunks."""


class _Sync:
    """One run of ingest under the lock."""

    def __init__(
        self,
        settings: Settings,
        roots: list[Path],
        embedder_factory: EmbedderFactory,
        progress: bool,
        *,
        rebuilt: bool = False,
        allow_empty: bool = False,
    ) -> None:
        self.settings = settings
        self.roots = roots
        self.allow_empty = allow_empty
        self.layout = IndexLayout(settings.index_dir)
        if not rebuilt and not self.layout.manifest.is_file() and self.layout.holds_index():
            raise manifest_damaged(
                self.layout.manifest, FileNotFoundError("it is missing, but the rest of an index is there")
            )
        self.model = resolve_model(settings.embedding_model)
        self.model_id = self.model.model_id
        try:
            self.catalog = Catalog(self.layout.manifest)
            self.meta = self.catalog.meta()
            self._counts = self.catalog.counts()  # (documents, chunks) as this run found them
            chunks = self._counts[1]
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error
        self._terms_current = self.meta.get("terms_version") == ANALYZER_VERSION or chunks == 0
        self._vectors_current = self.meta.get("vectors") == passage_vectors.VERSION or chunks == 0
        self._rows: dict[str, bytes] = {}
        """Passage vectors (ingest.passage_vectors) of the chunks this run added, for the manifest."""
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._embedder_error: str | None = None
        self._store: ChromaStore | None = None
        self.progress = progress
        self.warnings: list[str] = []
        self.repairs: list[str] = []
        self.embedded = 0
        self.reused = 0
        self.sentences_reused = 0
        self._publishing: tuple[int, GenerationRecord, IndexState | None] | None = None
        self._recorded: dict[str, FileStat] = {}
        try:
            self.fields = parse_field_spec(settings.fields)
        except ValueError as error:
            self.catalog.close()
            raise SettingError(str(error)) from None
        self._metas: dict[str, Metadata] = {}
        """The metadata of the articles being indexed (Chroma keeps their day and outlet beside each vector)."""

    def close(self) -> None:
        """Release the manifest and Chroma (their files are final from here on)."""
        self.catalog.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    # lazily loaded backends -------------------------------------------------------------------------
    def embedder(self) -> Embedder | None:
        if self._embedder is None and self._embedder_error is None:
            try:
                self._embedder = self._embedder_factory(self.settings)
            except EmbeddingUnavailableError as error:
                self._embedder_error = str(error)
                self.warnings.append(
                    f"{error} Building the lexical index only (dense: false); "
                    "a later ingest with the model available adds the dense part."
                )
                logger.info("embedding model unavailable: %s", error)
        return self._embedder

    def store(self) -> ChromaStore:
        if self._store is None:
            self._store = open_dense_store(self.settings)
        return self._store

    # the run ----------------------------------------------------------------------------------------
    def run(self) -> SyncReport:
        try:
            return self._run()
        except sqlite3.DatabaseError as error:
            raise manifest_damaged(self.layout.manifest, error) from error

    def _run(self) -> SyncReport:
        pending = self.layout.pending.exists()
        dense_incomplete = self.meta.get("dense") == "0"
        health = self._check()
        if model_differs(self.meta, self.model):
            # the manifest's vectors count too: a repair of lost or damaged Chroma files restores them
            has_vectors = health.dense_count > 0 or self.meta.get("dense") == "1" or self.catalog.has_vectors()
            check_model(self.meta, self.model, has_vectors=has_vectors)
        if dense_incomplete:
            self.embedder()  # can the dense part be completed now?
        known, self._recorded = self.catalog.file_table()
        found = scan(self.roots, self.settings.docs_dir, self._recorded, self.fields)
        plan = plan_changes(found.files, known, self.roots, self._acceptable_chunkers())
        if plan.removed and not self.allow_empty:
            self._refuse_emptied_folders(plan.removed, known)
        repair_dense = (
            pending or health.dense_damaged or health.dense_short or (dense_incomplete and self._embedder is not None)
        )
        if not plan.has_changes and not repair_dense:
            if known and self.meta.get("dense") == "1" and not self._vectors_current:
                self._complete_vectors()
            self._finish_unchanged(found, health)
            return self._report(plan, found.skipped, counts=self._counts)

        if plan.to_index:
            self.embedder()  # load the model before touching the index, to keep the unsafe window short
        write_atomic(self.layout.pending, "ingest in progress; the next ingest repairs the index\n")
        if health.dense_damaged:
            self._reset_dense()
        prepared, failed = self._prepare(plan.to_index, found.files)
        old_sources = [
            s for s in {*plan.to_remove, *plan.to_index, *(d.source for d in plan.new_duplicates)} if s in known
        ]
        old = {c.id: c for c in self.catalog.chunks(self.catalog.chunk_ids(old_sources))}
        new = {c.id: c for p in prepared for c in p.chunks}
        kept = old.keys() & new.keys()  # same source, offset and text: the same vector and terms
        kept -= self._refiled({old[i].source for i in kept}, kept, old)  # their vectors' day or outlet changed
        gone = [i for i in old if i not in kept]
        added = [c for c in new.values() if c.id not in kept]
        self._write_dense(gone, [old[i] for i in gone], added)
        self._rows.update(self.catalog.vectors(sorted(kept)))  # kept chunks are written again with their rows
        if repair_dense:
            complete = self._reconcile_dense((set(self.catalog.chunk_ids()) - set(old)) | set(new))
        else:
            complete = not dense_incomplete and (self._embedder is not None or not new)
        generation = self.catalog.generation() + 1
        terms = {c.id: t for p in prepared for c, t in zip(p.chunks, p.terms, strict=True)}
        change = LexicalChange(tuple(LexicalDocument(c.id, c.source, terms[c.id]) for c in added), tuple(gone))
        if health.lexical is not None:
            record = write_generation(self.layout.lexical, generation, base=health.lexical, change=change)
        else:
            record = self._rebuild_lexical(generation, leaving=set(old), added=change.added)
        remove = [s for s in old_sources if s not in {p.record.source for p in prepared}]
        self.catalog.commit_changes(
            remove,
            [(p.record, p.article, p.chunks, p.terms) for p in prepared],
            plan.new_duplicates,
            self._meta(dense=complete),
            self._stats(found, set(plan.to_index) | {d.source for d in plan.new_duplicates}),
            self._rows,
        )
        refresh_stories(self.catalog)
        if complete and not self._vectors_current:
            self._complete_vectors()
        self._publish(generation, record, health.state)
        done_plan = plan.after_failures({s.path for s in failed})
        return self._report(done_plan, found.skipped + failed, kept=len(kept))

    def _refuse_emptied_folders(self, removed: Sequence[str], known: Mapping[str, FileRecord]) -> None:
        """Stop before removing every document of a folder that now holds no file: an unmounted disk, say.

        Removing some of a folder's documents is an ordinary change; all of them, with not one file left in
        its place, is far more often a mistake than an intent, and would cost a full re-embedding to undo.
        """
        for root in self.roots:
            if not root.is_dir():
                continue
            base = root.resolve()
            emptied = [s for s in removed if Path(known[s].origin).is_relative_to(base)]
            if not emptied or next(iter(walk(base)), None) is not None:
                continue  # files that cannot be read are reported as skipped, and removed as usual
            raise EmptyFolderError(
                f"{root} holds no files, but {len(emptied):,} indexed documents came from it, so nothing was "
                "removed and the index is as it was. If its disk is not mounted, mount it and ingest again; if "
                "the documents were deleted on purpose, ingest again with --allow-empty."
            )

    # checks and repairs -----------------------------------------------------------------------------
    def _check(self) -> _Health:
        """Quick checks of every part; a damaged manifest raises ManifestDamagedError."""
        state, problems = check_state(self.layout)
        documents, chunks = self._counts
        fresh = not documents and not chunks and state is None
        if not fresh and (state is None or manifest_stat(self.layout) != state.manifest_stat):
            # changed since the last ingest left it (or never recorded): read all of it once
            manifest = check_manifest(self.catalog, deep=True)
            if manifest:
                raise manifest_damaged(self.layout.manifest, ValueError(manifest[0].detail))
        generation = self.catalog.generation()
        if state is not None and state.generation > generation:
            raise manifest_damaged(
                self.layout.manifest,
                ValueError(f"it holds generation {generation}, older than the live {state.generation}"),
            )
        lexical, lexical_problems = check_lexical(self.layout, state, generation)
        if lexical is None and not fresh:
            # a complete generation state.json does not name: written by a run interrupted after its
            # manifest commit, or state.json itself was lost; its checksums are verified in full
            lexical = self._adopt_lexical(generation)
        if problems and not fresh:
            self.repairs.append("state.json rewritten")
        health = _Health(state, lexical, [] if fresh else problems)
        if lexical is None and not fresh:
            health.problems.extend(lexical_problems)
        self._check_dense(health, chunks)
        for problem in health.problems:
            logger.warning("%s: %s", problem.part, problem.detail)
        return health

    def _adopt_lexical(self, generation: int) -> GenerationRecord | None:
        """A complete lexical generation `generation` that an interrupted ingest wrote but did not publish."""
        for name in find_generations(self.layout.lexical):
            if not name.startswith(f"gen-{generation:08d}-"):
                continue
            try:
                record = read_record(self.layout.lexical, name)
            except LexicalDamagedError:
                continue
            if record.current and not check_generation(self.layout.lexical, record, deep=True):
                return record
        return None

    def _check_dense(self, health: _Health, chunks: int) -> None:
        """Chroma's files against state.json, its database, and its count against the manifest.

        Chroma itself is started only when its vector index files changed since the last ingest
        recorded them (starting it costs seconds; reading the files directly costs milliseconds).
        """
        dense_built = self.meta.get("dense") == "1"
        problems = check_dense_files(self.layout, health.state)
        if self.settings.chroma_url:
            if dense_built and not problems:
                health.dense_count = self.store().count()
        elif not problems and self._chroma_database_changed(health.state):
            problems = check_chroma_database(self.layout)  # reads every page: hundreds of MB at 1M vectors
        if not problems and not self.settings.chroma_url:
            try:
                stored = inspect_embedded(self.layout.chroma, self.settings.chroma_collection)
            except sqlite3.DatabaseError as error:
                problems = [PartProblem("dense", f"chroma/chroma.sqlite3 cannot be read ({error})")]
            else:
                health.dense_count = stored.count if stored is not None else 0
                recorded = set(health.state.dense_files) if health.state is not None else set()
                if recorded - set(stored.vector_files if stored is not None else ()):
                    problems = [PartProblem("dense", "files of Chroma's vector index are missing")]
                elif health.dense_count and self._dense_files_moved(health.state):
                    problems = probe_dense(self.settings, self.layout)
        if problems:
            health.dense_damaged = True
            health.problems.extend(problems)
            return
        health.dense_short = dense_built and health.dense_count != chunks
        if health.dense_short:
            health.problems.append(
                PartProblem("dense", f"Chroma holds {health.dense_count:,} vectors, the manifest {chunks:,} chunks")
            )

    def _chroma_database_changed(self, state: IndexState | None) -> bool:
        """True when chroma.sqlite3 is not as the last ingest left it (or that was not recorded)."""
        now = chroma_stat(self.layout)
        return state is None or now == (0, 0, 0, 0) or now != state.chroma_stat

    def _dense_files_moved(self, state: IndexState | None) -> bool:
        """True when Chroma's vector index files are not as the last ingest recorded them."""
        return state is None or bool(changed_files(self.layout.chroma, state.dense_files))

    def _reset_dense(self) -> None:
        """Start the vectors over (their files are damaged; intact vectors cannot be told apart)."""
        if self._store is not None:
            self._store.close()
            self._store = None
        try:
            ChromaStore.drop(dense_location(self.settings), self.settings.chroma_collection)
        except BaseException as error:  # a damaged chroma.sqlite3 can make Chroma panic as it starts
            if self.settings.chroma_url or not (isinstance(error, Exception) or is_panic(error)):
                raise
            logger.info("could not drop the damaged collection (%s); removing %s", error, self.layout.chroma)
            shutil.rmtree(self.layout.chroma, ignore_errors=True)
        self.repairs.append("dense index damaged: started over")

    def _finish_unchanged(self, found: Scan, health: _Health) -> None:
        """Nothing to index: record touched files, rebuild a damaged lexical index, keep state.json true."""
        stats = self._stats(found, set())
        if stats:
            self.catalog.record_stats(stats)
        if self.catalog.lacks_signatures(DEFAULT_WIRE.version):
            refresh_stories(self.catalog)  # an index from before wire stories were kept
        record = health.lexical
        if record is None:
            record = self._rebuild_lexical(self.catalog.generation(), leaving=set(), added=())
        else:  # files whose links changed were hashed by the check just made: record their stat as it is now
            record = settle_links(self.layout.lexical, record)
        if record is not health.lexical or stats or health.state is None or self._stale(health.state):
            self._publish(self.catalog.generation(), record, health.state)

    def _stale(self, state: IndexState) -> bool:
        """True when state.json no longer describes the manifest or Chroma's files as they are."""
        return manifest_stat(self.layout) != state.manifest_stat or (
            not self.settings.chroma_url
            and (bool(check_dense_files(self.layout, state)) or self._chroma_database_changed(state))
        )

    def _rebuild_lexical(
        self, generation: int, leaving: set[str], added: Sequence[LexicalDocument]
    ) -> GenerationRecord:
        """Lexical generation `generation` built from the manifest's chunks, less `leaving`, plus `added`."""
        if self.catalog.counts()[1]:
            self.repairs.append("lexical index rebuilt from the manifest")
        return write_generation(self.layout.lexical, generation, documents=self._manifest_documents(leaving, added))

    # writing ----------------------------------------------------------------------------------------
    def _acceptable_chunkers(self) -> frozenset[str]:
        model = self._chunker(self.model_id).fingerprint()
        if self._embedder_error is not None:
            return frozenset({model, self._chunker("approx").fingerprint()})
        return frozenset({model})

    def _chunker(self, tokenizer: str) -> ChunkerSettings:
        return ChunkerSettings(
            max_tokens=self.settings.chunk_tokens,
            overlap_sentences=self.settings.chunk_overlap_sentences,
            tokenizer=tokenizer,
        )

    def _prepare(
        self, sources: Sequence[str], scanned: dict[str, Scanned]
    ) -> tuple[list[_Prepared], tuple[Skipped, ...]]:
        embedder = self.embedder() if sources else None
        if embedder is not None:
            chunker, counter = self._chunker(self.model_id), embedder.count_tokens
        else:
            chunker, counter = self._chunker("approx"), _approximate_counts
        prepared: list[_Prepared] = []
        failed: list[Skipped] = []
        for source, article, size, origin in self._articles(sources, scanned, failed):
            record = FileRecord(source, origin, article.content_hash, size, None, article.title, chunker.fingerprint())
            chunks = chunk_article(article, chunker, counter)
            terms = tuple(encode_terms(analyze_fields(c.text)) for c in chunks)
            prepared.append(_Prepared(record, article, chunks, terms))
            self._metas[source] = article.meta
        return prepared, tuple(failed)

    def _articles(
        self, sources: Sequence[str], scanned: dict[str, Scanned], failed: list[Skipped]
    ) -> Iterable[tuple[str, Article, int, str]]:
        """(source, Article, size, origin) of each readable document; the others go to `failed` with the reason."""
        rows: dict[str, set[str]] = {}
        for source in sources:
            entry = scanned[source]
            if entry.archive is not None:
                rows.setdefault(entry.archive, set()).add(source)
                continue
            try:
                path = Path(entry.origin)
                data = path.read_bytes()
                sidecar = read_sidecar_bytes(path)
                article, warnings = file_article(source, path, data, sidecar)
            except SkipFile as error:
                failed.append(Skipped(source, str(error)))
                continue
            except OSError as error:
                failed.append(Skipped(source, f"cannot be read ({error.strerror})"))
                continue
            self.warnings.extend(warnings)
            yield source, article, len(data), entry.origin  # the hash of the bytes read, even if changed since
        for archive, wanted in rows.items():
            origin = scanned[next(iter(wanted))].origin
            found: set[str] = set()
            try:
                for name, row in archive_rows(Path(origin), archive, self.fields, only=wanted):
                    if isinstance(row, BadRow):
                        continue
                    found.add(name)
                    try:
                        article = row_article(archive, row)
                    except SkipFile as error:
                        failed.append(Skipped(name, str(error)))
                        continue
                    yield name, article, len(row.text.encode("utf-8")), origin
            except (SkipFile, OSError) as error:
                reason = str(error) if isinstance(error, SkipFile) else f"cannot be read ({error.strerror})"
                failed.extend(Skipped(name, reason) for name in sorted(wanted - found))
                continue
            failed.extend(
                Skipped(name, "the row changed or left the file during ingest") for name in sorted(wanted - found)
            )

    def _refiled(self, sources: set[str], kept: set[str], old: Mapping[str, Chunk]) -> set[str]:
        """Of `kept` chunks, those whose article's day or outlet changed: Chroma must store them again."""
        if not sources:
            return set()
        before = self.catalog.article_meta(sources)
        changed = {
            s for s in sources if s in self._metas and _filed(self._metas[s]) != _filed(before.get(s, Metadata()))
        }
        return {i for i in kept if old[i].source in changed}

    def _write_dense(self, gone: Sequence[str], old: Sequence[Chunk], new: Sequence[Chunk]) -> None:
        """Delete the vectors of `gone` chunks, add `new` ones (reusing vectors and passage rows of identical text)."""
        store = self.store()
        embedder = self.embedder() if new else self._embedder
        store.save_after(len(gone) + (len(new) if embedder is not None else 0))  # before reading any vector
        reuse: dict[str, np.ndarray] = {}
        rows: dict[str, bytes] = {}
        texts = {c.text for c in new}
        same = [c for c in old if c.text in texts]  # only these can lend their vectors
        if embedder is not None and same:
            ids = [c.id for c in same]
            vectors = store.embeddings(ids)
            reuse = {c.text: vectors[c.id] for c in same if c.id in vectors}
            stored_rows = self.catalog.vectors(ids) if self._vectors_current else {}
            rows = {c.text: stored_rows[c.id] for c in same if c.id in stored_rows}
        known = self._known_sentences(old, [c for c in new if c.text not in rows]) if embedder is not None else {}
        store.delete(gone)
        if embedder is not None:
            self._rows.update(self._add_vectors(new, reuse, embedder, rows, known))

    def _known_sentences(self, old: Sequence[Chunk], new: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """Sentence vectors that `new` chunks can take from the manifest's rows of the `old` chunks they replace.

        An edited article keeps most of its sentences: a corrected word or an appended paragraph changes the
        chunks around it, not the other sentences, and each sentence is embedded on its own. Only the rows of
        old chunks that hold a sentence of a new chunk are read (a rewritten article reads none).
        """
        if not self._vectors_current or not old or not new:
            return {}  # rows of an older format (rows of another model were refused by `_run`'s model check)
        wanted = {c.text[s:e] for c in new for s, e in passage_vectors.sentence_spans(c.text)}
        spans = {c.id: passage_vectors.sentence_spans(c.text) for c in old}
        lenders = {c.id: c.text for c in old if any(c.text[s:e] in wanted for s, e in spans[c.id])}
        known: dict[str, np.ndarray] = {}
        for chunk_id, data in self.catalog.vectors(list(lenders)).items():
            text = lenders[chunk_id]
            try:
                passage = passage_vectors.decode(data)
            except (ValueError, struct.error) as error:  # embedded again instead
                logger.debug("passage vectors of %s cannot be read: %s", chunk_id, error)
                continue
            if list(passage.spans) != spans[chunk_id]:
                continue  # not this text's sentences: embedded again instead
            for (start, end), vector in zip(passage.spans, passage.sentences, strict=True):
                if text[start:end] in wanted:
                    known[text[start:end]] = vector
        self.sentences_reused += len(known)
        return known

    def _add_vectors(
        self,
        chunks: Sequence[Chunk],
        reuse: dict[str, np.ndarray],
        embedder: Embedder,
        rows: Mapping[str, bytes] | None = None,
        known: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, bytes]:
        """Add chunk vectors to Chroma; returns each chunk's passage vectors (reused by text when given, and
        their sentences' vectors taken from `known` where it has them)."""
        store = self.store()
        rows = rows or {}
        encoded = {c.id: rows[c.text] for c in chunks if c.text in rows}
        reused = [c for c in chunks if c.text in reuse]
        self._load_metas({c.source for c in chunks})
        if reused:
            store.add([c.id for c in reused], np.stack([reuse[c.text] for c in reused]), *_payload(reused, self._metas))
            lacking = [c for c in reused if c.id not in encoded]
            encoded.update(self._passage_rows(lacking, embedder, known)[1])
        fresh = [c for c in chunks if c.text not in reuse]
        bar = _progress_bar(len(fresh), self.progress, "embedding")
        try:
            for start in range(0, len(fresh), EMBED_GROUP):
                group = fresh[start : start + EMBED_GROUP]
                vectors, rows_of_group = self._passage_rows(group, embedder, known)
                store.add([c.id for c in group], vectors, *_payload(group, self._metas))
                encoded.update(rows_of_group)
                bar.update(len(group))
        finally:
            bar.close()
        self.embedded += len(fresh)
        self.reused += len(reused)
        return encoded

    def _load_metas(self, sources: set[str]) -> None:
        """The metadata of articles already in the manifest (a repair re-adds their vectors)."""
        lacking = [s for s in sources if s not in self._metas]
        if lacking:
            known = self.catalog.article_meta(lacking)
            self._metas.update({s: known.get(s, Metadata()) for s in lacking})

    def _passage_rows(
        self, chunks: Sequence[Chunk], embedder: Embedder, known: Mapping[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, dict[str, bytes]]:
        """The chunks' vectors, and their encoded passage vectors (sentences and latent terms included; a
        sentence in `known` is not embedded again)."""
        if not chunks:
            return np.zeros((0, embedder.dimension), dtype=np.float32), {}
        batch = self.settings.batch_size
        vectors, terms = embed_with_terms(embedder, [c.text for c in chunks], batch)
        passages = embed_passages(chunks, vectors, embedder, batch, terms, known)
        return vectors, {c.id: passage_vectors.encode(p) for c, p in zip(chunks, passages, strict=True)}

    def _reconcile_dense(self, desired: set[str]) -> bool:
        """Make Chroma hold exactly `desired`; True when the dense part is complete.

        A missing vector is restored from the chunk's row of passage vectors in the manifest when it
        has one (int8, cosine 0.9999 to the original: no model needed), and embedded only when not.
        """
        store = self.store()
        stored = set(store.ids())
        extra = stored - desired
        missing = desired - stored
        if extra:
            store.delete(sorted(extra))
        chunks = list(self.catalog.chunks(sorted(missing)))
        rows = {**self.catalog.vectors([c.id for c in chunks]), **self._rows}
        kept = [c for c in chunks if c.id in rows]
        self._load_metas({c.source for c in kept})
        for start in range(0, len(kept), EMBED_GROUP):
            group = kept[start : start + EMBED_GROUP]
            vectors = np.stack([passage_vectors.decode(rows[c.id]).chunk for c in group])
            store.add([c.id for c in group], vectors, *_payload(group, self._metas))
        lacking = [c for c in chunks if c.id not in rows]
        embedder = self.embedder() if lacking else self._embedder
        if lacking and embedder is not None:
            current = self._rows_by_text(lacking) if self._vectors_current else {}
            added = self._add_vectors(lacking, {}, embedder, current)
            if set(added) - set(self._rows):
                self.catalog.set_vectors((i, r) for i, r in added.items() if i not in self._rows)
            self._rows.update(added)
        if extra or missing:
            restored = f", {len(kept):,} of them from the manifest's vectors" if kept else ""
            self.repairs.append(f"dense index: {len(missing):,} vectors added{restored}, {len(extra):,} removed")
            logger.info(
                "repaired the dense index: %d stale vectors removed, %d missing added", len(extra), len(missing)
            )
        return not lacking or embedder is not None

    def _rows_by_text(self, chunks: Sequence[Chunk]) -> dict[str, bytes]:
        stored = self.catalog.vectors([c.id for c in chunks])
        return {c.text: stored[c.id] for c in chunks if c.id in stored}

    def _complete_vectors(self) -> None:
        """Passage vectors for chunks that lack them, or for every chunk when they are of an older version."""
        outdated = self.meta.get("vectors", "") not in ("", passage_vectors.VERSION)
        missing = self.catalog.chunk_ids() if outdated else self.catalog.chunks_without_vectors()
        embedder = self.embedder() if missing else self._embedder
        if missing and embedder is None:
            return
        if missing and embedder is not None:
            rows: dict[str, bytes] = {}
            for start in range(0, len(missing), EMBED_GROUP):
                rows.update(
                    self._passage_rows(list(self.catalog.chunks(missing[start : start + EMBED_GROUP])), embedder)[1]
                )
            self.catalog.set_vectors(rows.items(), {"vectors": passage_vectors.VERSION})
            logger.info("made the passage vectors of %d chunks", len(rows))
        else:
            self.catalog.set_meta({"vectors": passage_vectors.VERSION})
        self._vectors_current = True

    def _manifest_documents(self, leaving: set[str], added: Sequence[LexicalDocument]) -> Iterator[LexicalDocument]:
        """Every chunk the manifest will hold: its current chunks but `leaving`, then `added`."""
        current = self.catalog.meta().get("terms_version") == ANALYZER_VERSION
        computed: list[tuple[str, str]] = []
        total = self.catalog.counts()[1] + len(added)
        bar = _progress_bar(total, self.progress and total > 10_000, "lexical index")
        try:
            for chunk_id, source, text, terms in list(self.catalog.chunk_terms()):
                bar.update(1)
                if chunk_id in leaving:
                    continue
                if terms is None or not current:
                    terms = encode_terms(analyze_fields(text))
                    computed.append((chunk_id, terms))
                yield LexicalDocument(chunk_id, source, terms)
            for document in added:
                bar.update(1)
                yield document
        finally:
            bar.close()
        if computed or not current:
            self.catalog.set_terms(computed, ANALYZER_VERSION)
            self._terms_current = True

    def _publish(self, generation: int, record: GenerationRecord, state: IndexState | None) -> None:
        """Make `generation` live once the manifest and Chroma are closed (see `publish`)."""
        if self._store is not None:
            self._store.set_metadata(self._collection_metadata())
        self.catalog.checkpoint()
        self._publishing = (generation, record, state)

    def publish(self) -> None:
        """Record Chroma's files and the manifest as this run left them, write state.json, tidy up."""
        if self._publishing is None:
            return
        generation, record, _ = self._publishing
        publish_generation(self.settings, generation, record)

    def _stats(self, found: Scan, indexed: set[str]) -> dict[str, FileStat]:
        """Stats to record: of files just indexed, and of unchanged files whose stat changed (touched)."""
        recorded = self._recorded
        return {s: f.stat for s, f in found.files.items() if s in indexed or recorded.get(s) != f.stat}

    def _meta(self, dense: bool) -> dict[str, str]:
        embedder = self._embedder
        meta = {
            "model": self.model_id,
            "model_checksum": self.model.checksum,
            "analyzer_version": ANALYZER_VERSION,
            "chunk_tokens": str(self.settings.chunk_tokens),
            "chunk_overlap_sentences": str(self.settings.chunk_overlap_sentences),
            "dense": "1" if dense else "0",
            **({"terms_version": ANALYZER_VERSION} if self._terms_current else {}),
            "vectors": self._vectors_meta(dense),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if embedder is not None:
            meta["dimension"] = str(embedder.dimension)
        return meta

    def _vectors_meta(self, dense: bool) -> str:
        """The passage vectors' version once every chunk has current ones; an older version stays recorded
        (so the next ingest rewrites those rows), and "" means some chunks lack theirs."""
        if dense and self._vectors_current:
            return passage_vectors.VERSION
        recorded = self.meta.get("vectors", "")
        return recorded if recorded != passage_vectors.VERSION else ""

    def _collection_metadata(self) -> dict[str, str | int]:
        meta = self.catalog.meta()
        return {
            "model": self.model_id,
            "model_checksum": self.model.checksum,
            "dimension": int(meta.get("dimension", "0")),
            "analyzer_version": ANALYZER_VERSION,
            "chunk_tokens": self.settings.chunk_tokens,
            "chunk_overlap_sentences": self.settings.chunk_overlap_sentences,
        }

    def _report(
        self, plan: Plan, skipped: tuple[Skipped, ...], *, kept: int = 0, counts: tuple[int, int] | None = None
    ) -> SyncReport:
        documents, chunks = counts or self.catalog.counts()
        meta = self.catalog.meta()
        return SyncReport(
            added=tuple(plan.added),
            updated=tuple(plan.updated),
            removed=tuple(plan.removed),
            unchanged=tuple(plan.unchanged),
            skipped=skipped,
            duplicates=tuple(plan.duplicates),
            chunks=chunks,
            documents=documents,
            embedded=self.embedded,
            reused=self.reused,
            kept=kept,
            sentences_reused=self.sentences_reused,
            repaired=bool(self.repairs),
            repairs=tuple(self.repairs),
            dense=meta.get("dense") == "1",
            model=self.model_id,
            warnings=tuple(self.warnings),
        )


def _approximate_counts(texts: Sequence[str]) -> list[int]:
    return [approximate_token_count(t) for t in texts]


def _payload(chunks: Sequence[Chunk], metas: Mapping[str, Metadata]) -> tuple[None, list[dict[str, str | int]]]:
    """What Chroma stores beside each vector: what a filter needs, nothing else the manifest already has.

    The source, and the article's day (`DAY_FIELD`, 20190323) and outlet (`OUTLET_FIELD`) only when known, so
    a date or outlet filter's `where` leaves out the articles without them (ingest.filters). Titles and
    offsets took most of chroma.sqlite3 (0.7 KB a chunk), which every ingest reads whole to check it; an
    index written before keeps them, unread.
    """
    metadatas: list[dict[str, str | int]] = []
    for c in chunks:
        item: dict[str, str | int] = {"source": c.source}
        meta = metas.get(c.source)
        if meta is not None:
            day, outlet = _filed(meta)
            if day is not None:
                item[DAY_FIELD] = day
            if outlet:
                item[OUTLET_FIELD] = outlet
        metadatas.append(item)
    return None, metadatas


def _filed(meta: Metadata) -> tuple[int | None, str]:
    """The day and outlet key Chroma keeps beside an article's vectors."""
    return date_key(meta.date), outlet_key(meta.outlet)


def _progress_bar(total: int, enabled: bool, label: str) -> _Bar:
    if not enabled or not total:
        return _Bar()
    from tqdm import tqdm

    bar: _Bar = tqdm(total=total, unit="chunk", desc=label, dynamic_ncols=True)
    return bar


class _Bar:
    """A progress bar that shows nothing."""

    def update(self, n: int) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""
