"""Incremental sync of a documents folder into the hybrid index (manifest + Chroma + lexical).

One writer at a time (IndexLock). The manifest is the record of truth: it changes in one
transaction, after the dense store holds the new vectors and before the lexical index
is swapped in. A `.pending` marker written before the first dense write tells the next
run to reconcile Chroma against the manifest, so a crash at any moment is repaired by
running ingest again.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest import passage_vectors
from ingest.analysis import ANALYZER_VERSION
from ingest.archives import BadRow, is_archive, parse_field_spec
from ingest.catalog import Catalog, FileRecord
from ingest.chroma_store import ChromaStore
from ingest.chunking import ChunkerSettings, chunk_article
from ingest.dates import date_key
from ingest.declarations import SettingError
from ingest.documents import (
    archive_rows,
    document_hash,
    file_article,
    is_document,
    is_sidecar,
    read_sidecar_bytes,
    row_article,
)
from ingest.embedding import (
    Embedder,
    EmbeddingUnavailableError,
    ModelPreset,
    SentenceTransformerEmbedder,
    approximate_token_count,
    embed_with_terms,
    resolve_model,
)
from ingest.files import IndexLock, write_atomic
from ingest.filters import DAY_FIELD, OUTLET_FIELD
from ingest.lexical import LexicalIndex, analyze_fields, decode_terms, encode_terms, live_generation
from ingest.loading import MAX_FILE_BYTES, SkipFile, supported_types
from ingest.metadata import outlet_key
from ingest.passage_vectors import embed_passages
from ingest.records import Article, Chunk, Metadata
from ingest.settings import Settings
from ingest.stories import refresh_stories
from ingest.wire import DEFAULT_PARAMS as DEFAULT_WIRE

logger = logging.getLogger(__name__)

MANIFEST = "manifest.sqlite3"
CHROMA_DIR = "chroma"
LEXICAL_DIR = "lexical"
PENDING = ".pending"
EMBED_GROUP = 512

EmbedderFactory = Callable[[Settings], Embedder]


class ModelMismatchError(RuntimeError):
    """The index was built with another embedding model than the one configured."""


class NoDocumentsError(RuntimeError):
    """A path given to ingest does not exist."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A file whose content is already indexed under another name."""

    path: str
    duplicate_of: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one ingest changed; `to_dict()` is the `--json` output."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    chunks: int = 0
    documents: int = 0
    embedded: int = 0
    reused: int = 0
    repaired: bool = False
    dense: bool = False
    model: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict (lists of paths, skipped as {path, reason})."""
        return asdict(self)


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

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Scanned:
    source: str
    origin: Path
    hash: str
    size: int
    archive: str | None = None
    """For a row of an archive export: the export's own document name (the row is read from `origin`)."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    record: FileRecord
    article: Article
    chunks: tuple[Chunk, ...]
    terms: tuple[str, ...]
    """Analyzed lexical terms of each chunk (kept in the manifest so a rebuild does not re-analyze)."""


def dense_location(settings: Settings) -> Path | str:
    """Where the vectors live: the Chroma server URL, else `<index>/chroma`."""
    return settings.chroma_url or settings.index_dir / CHROMA_DIR


def open_dense_store(settings: Settings) -> ChromaStore:
    """The Chroma collection of this index (embedded, or on the configured server)."""
    return ChromaStore.open(dense_location(settings), collection=settings.chroma_collection)


def load_embedder(settings: Settings) -> Embedder:
    """The configured sentence-transformers model (raises EmbeddingUnavailableError)."""
    return SentenceTransformerEmbedder(settings.embedding_model, device=settings.device, cache_dir=settings.cache_dir)


def check_model(meta: dict[str, str], model: ModelPreset, has_vectors: bool) -> None:
    """Refuse to mix vectors of two models (or of two versions of one model's weights) in one index."""
    if has_vectors and model_differs(meta, model):
        built_with = meta["model"]
        recorded, configured = _weights_label(meta.get("model_checksum", "")), _weights_label(model.checksum)
        raise ModelMismatchError(
            f"The index was built with the embedding model {built_with!r}{recorded}, but {model.model_id!r}"
            f"{configured} is configured. Use the same model (--model {built_with} or "
            f"ASSISTANT_EMBEDDING_MODEL={built_with}), or run `assistant ingest --rebuild` to rebuild the index "
            "with the new one."
        )


def model_differs(meta: dict[str, str], model: ModelPreset) -> bool:
    """True when the index records another model id, or other weights under the same id."""
    built_with = meta.get("model")
    if not built_with:
        return False
    recorded = meta.get("model_checksum", "")
    return built_with != model.model_id or bool(recorded and model.checksum and recorded != model.checksum)


def _weights_label(checksum: str) -> str:
    return f" (weights sha256 {checksum[:12]})" if checksum else ""


def index_status(settings: Settings) -> Status:
    """Counts and state of the index named by `settings` (zeros when there is none yet)."""
    path = settings.index_dir / MANIFEST
    if not path.is_file():
        return Status(str(settings.index_dir), 0, 0, "", False, False, None)
    catalog = Catalog(path, readonly=True)
    try:
        meta = catalog.meta()
        documents, chunks = catalog.counts()
        generation = catalog.generation()
    finally:
        catalog.close()
    lexical = live_generation(settings.index_dir / LEXICAL_DIR) == generation and chunks > 0
    return Status(
        str(settings.index_dir),
        documents,
        chunks,
        meta.get("model", ""),
        meta.get("dense") == "1" and not (settings.index_dir / PENDING).exists(),
        lexical,
        meta.get("updated_at"),
        meta.get("model_checksum", ""),
    )


def sync(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: bool = False,
    embedder_factory: EmbedderFactory = load_embedder,
) -> SyncReport:
    """Bring the index in line with the documents under `paths` (default: the documents folder)."""
    started = time.monotonic()
    roots = [Path(p) for p in (paths or [settings.docs_dir])]
    for root in roots:
        if not root.exists():
            raise NoDocumentsError(
                f"{root} does not exist; pass a folder or file of documents (or set ASSISTANT_DOCS_DIR)"
            )
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    with IndexLock(index_dir, wait=settings.lock_wait):
        if rebuild:
            _wipe(settings)
        job = _Sync(settings, roots, embedder_factory, progress)
        try:
            report = job.run()
        finally:
            job.close()
    return _with_seconds(report, time.monotonic() - started)


class _Sync:
    """One run of ingest under the lock."""

    def __init__(
        self, settings: Settings, roots: list[Path], embedder_factory: EmbedderFactory, progress: bool
    ) -> None:
        self.settings = settings
        self.roots = roots
        self.index_dir = settings.index_dir
        self.model = resolve_model(settings.embedding_model)
        self.model_id = self.model.model_id
        self.catalog = Catalog(self.index_dir / MANIFEST)
        self.meta = self.catalog.meta()
        empty = self.catalog.counts()[1] == 0
        self._terms_current = self.meta.get("terms_version") == ANALYZER_VERSION or empty
        self._vectors_current = self.meta.get("vectors") == passage_vectors.VERSION or empty
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._embedder_error: str | None = None
        self._store: ChromaStore | None = None
        self.progress = progress
        self.warnings: list[str] = []
        try:
            self.fields = parse_field_spec(settings.fields)
        except ValueError as error:
            raise SettingError(str(error)) from None
        self._metas: dict[str, Metadata] = {}
        """The metadata of the articles being indexed (Chroma keeps their day and outlet beside each vector)."""

    def close(self) -> None:
        self.catalog.close()

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
        pending = (self.index_dir / PENDING).exists()
        dense_incomplete = self.meta.get("dense") == "0"
        if model_differs(self.meta, self.model):
            check_model(self.meta, self.model, has_vectors=self.store().count() > 0)
        if dense_incomplete:
            self.embedder()  # can the dense part be completed now?
        scanned, skipped = self._scan()
        known = self.catalog.files()
        plan = _plan(scanned, known, self.roots, self._acceptable_chunkers())
        lexical_stale = live_generation(self.index_dir / LEXICAL_DIR) != self.catalog.generation()
        repair_dense = pending or (dense_incomplete and self._embedder is not None)
        has_changes = bool(plan.to_index or plan.to_remove or plan.new_duplicates)
        if not has_changes and not repair_dense:
            if lexical_stale and known:
                self._rebuild_lexical(self.catalog.generation())
            if known and self.meta.get("dense") == "1" and not self._vectors_current:
                self._complete_vectors()
            if known and self.catalog.signatures(DEFAULT_WIRE.version)[1]:
                refresh_stories(self.catalog)  # an index from before wire stories were kept
            return self._report(plan, skipped, embedded=0, reused=0, repaired=False)

        if plan.to_index:
            self.embedder()  # load the model before touching the index, to keep the unsafe window short
        write_atomic(self.index_dir / PENDING, "ingest in progress; the next ingest repairs the index\n")
        prepared, failed = self._prepare(plan.to_index, scanned)
        skipped = skipped + failed
        old_sources = [
            s for s in {*plan.to_remove, *plan.to_index, *(d.source for d in plan.new_duplicates)} if s in known
        ]
        old_ids = self.catalog.chunk_ids(old_sources)
        embedded, reused, vectors = self._write_dense(old_ids, prepared)
        remove = [s for s in old_sources if s not in {p.record.source for p in prepared}]
        new_ids = {c.id for p in prepared for c in p.chunks}
        desired = (set(self.catalog.chunk_ids()) - set(old_ids)) | new_ids
        if repair_dense:
            repaired, complete = self._reconcile_dense(desired)
        else:
            repaired, complete = False, not dense_incomplete and (self._embedder is not None or not new_ids)
        generation = self.catalog.commit_changes(
            remove,
            [(p.record, p.article, p.chunks, p.terms) for p in prepared],
            plan.new_duplicates,
            self._meta(dense=complete),
            vectors,
        )
        self._rebuild_lexical(generation)
        refresh_stories(self.catalog)
        self.store().set_metadata(self._collection_metadata())
        (self.index_dir / PENDING).unlink(missing_ok=True)
        if complete and not self._vectors_current:
            self._complete_vectors()
        done_plan = plan.after_failures({s.path for s in failed})
        return self._report(done_plan, skipped, embedded=embedded, reused=reused, repaired=repaired)

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

    def _scan(self) -> tuple[dict[str, _Scanned], tuple[Skipped, ...]]:
        docs_dir = self.settings.docs_dir.resolve()
        scanned: dict[str, _Scanned] = {}
        skipped: list[Skipped] = []
        folders: dict[Path, Path] = {}  # each folder resolved once per scan, not once per file
        for root in self.roots:
            base = root.resolve() if root.is_dir() else root.resolve().parent
            files = [root] if root.is_file() else sorted(_walk(root))
            names: dict[Path, set[str]] = {}
            for path in files:
                names.setdefault(path.parent, set()).add(path.name)
            for path in files:
                if root.is_dir() and is_sidecar(path.name, names[path.parent]):
                    continue  # read with its document
                folder = folders.get(path.parent)
                if folder is None:
                    folder = folders[path.parent] = path.parent.resolve()
                source = _source_name(folder / path.name, base, docs_dir)
                reason = _unreadable_reason(path, base)
                origin = folder / path.name
                if reason is None and path.is_symlink():
                    origin = path.resolve()  # checked by _unreadable_reason: no loop, inside the folder
                if reason is None and is_archive(path):
                    try:
                        self._scan_rows(source, origin, scanned, skipped)
                    except SkipFile as error:
                        skipped.append(Skipped(source, str(error)))
                    except OSError as error:
                        skipped.append(Skipped(source, f"cannot be read ({error.strerror})"))
                    continue
                if reason is None:
                    try:
                        data = path.read_bytes()
                    except OSError as error:
                        reason = f"cannot be read ({error.strerror})"
                if reason is not None:
                    skipped.append(Skipped(source, reason))
                    continue
                if source in scanned and scanned[source].origin != origin:
                    skipped.append(Skipped(source, f"another file named {source} is already being indexed"))
                    continue
                content_hash = document_hash(data, read_sidecar_bytes(path))
                scanned[source] = _Scanned(source, origin, content_hash, len(data))
        return scanned, tuple(skipped)

    def _scan_rows(self, source: str, origin: Path, scanned: dict[str, _Scanned], skipped: list[Skipped]) -> None:
        """Each row of an archive export as a document of its own (streamed: one row in memory at a time)."""
        for name, row in archive_rows(origin, source, self.fields):
            if isinstance(row, BadRow):
                skipped.append(Skipped(name, row.reason))
            elif name in scanned and scanned[name].origin != origin:
                skipped.append(Skipped(name, f"another document named {name} is already being indexed"))
            else:
                scanned[name] = _Scanned(name, origin, row.hash, len(row.text.encode("utf-8")), source)

    def _prepare(
        self, sources: Sequence[str], scanned: dict[str, _Scanned]
    ) -> tuple[list[_Prepared], tuple[Skipped, ...]]:
        embedder = self.embedder() if sources else None
        if embedder is not None:
            chunker, counter = self._chunker(self.model_id), embedder.count_tokens
        else:
            chunker, counter = self._chunker("approx"), _approximate_counts
        prepared: list[_Prepared] = []
        failed: list[Skipped] = []
        for source, article, size, origin in self._articles(sources, scanned, failed):
            record = FileRecord(
                source, str(origin), article.content_hash, size, None, article.title, chunker.fingerprint()
            )
            chunks = chunk_article(article, chunker, counter)
            terms = tuple(encode_terms(analyze_fields(c.text)) for c in chunks)
            prepared.append(_Prepared(record, article, chunks, terms))
            self._metas[source] = article.meta
        return prepared, tuple(failed)

    def _articles(
        self, sources: Sequence[str], scanned: dict[str, _Scanned], failed: list[Skipped]
    ) -> Iterable[tuple[str, Article, int, Path]]:
        """(source, Article, size, origin) of each readable document; the others go to `failed` with the reason."""
        rows: dict[str, set[str]] = {}
        for source in sources:
            entry = scanned[source]
            if entry.archive is not None:
                rows.setdefault(entry.archive, set()).add(source)
                continue
            try:
                data = entry.origin.read_bytes()
                sidecar = read_sidecar_bytes(entry.origin)
                article, warnings = file_article(source, entry.origin, data, sidecar)
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
                for name, row in archive_rows(origin, archive, self.fields, only=wanted):
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

    def _write_dense(self, old_ids: Sequence[str], prepared: Sequence[_Prepared]) -> tuple[int, int, dict[str, bytes]]:
        """Delete the old vectors, add the new ones (reusing vectors of identical chunk text).

        Returns the chunks embedded, those reused, and the new chunks' encoded passage vectors.
        """
        store = self.store()
        new_chunks = [c for p in prepared for c in p.chunks]
        embedder = self.embedder() if new_chunks else self._embedder
        reuse: dict[str, np.ndarray] = {}
        rows: dict[str, bytes] = {}
        if embedder is not None and old_ids and new_chunks:
            vectors = store.embeddings(old_ids)
            old_chunks = list(self.catalog.chunks(old_ids))
            reuse = {c.text: vectors[c.id] for c in old_chunks if c.id in vectors}
            stored_rows = self.catalog.vectors(old_ids) if self._vectors_current else {}
            rows = {c.text: stored_rows[c.id] for c in old_chunks if c.id in stored_rows}
        store.delete(old_ids)
        if embedder is None:
            return 0, 0, {}
        return self._add_vectors(new_chunks, reuse, embedder, rows)

    def _add_vectors(
        self,
        chunks: Sequence[Chunk],
        reuse: dict[str, np.ndarray],
        embedder: Embedder,
        rows: Mapping[str, bytes] | None = None,
    ) -> tuple[int, int, dict[str, bytes]]:
        """Add chunk vectors to Chroma and make each chunk's passage vectors (reused by text when given)."""
        store = self.store()
        rows = rows or {}
        encoded = {c.id: rows[c.text] for c in chunks if c.text in rows}
        reused = [c for c in chunks if c.text in reuse]
        self._load_metas({c.source for c in chunks})
        if reused:
            store.add([c.id for c in reused], np.stack([reuse[c.text] for c in reused]), *_payload(reused, self._metas))
            lacking = [c for c in reused if c.id not in encoded]
            encoded.update(self._passage_rows(lacking, embedder)[1])
        fresh = [c for c in chunks if c.text not in reuse]
        bar = _progress_bar(len(fresh), self.progress)
        try:
            for start in range(0, len(fresh), EMBED_GROUP):
                group = fresh[start : start + EMBED_GROUP]
                vectors, rows_of_group = self._passage_rows(group, embedder)
                store.add([c.id for c in group], vectors, *_payload(group, self._metas))
                encoded.update(rows_of_group)
                bar.update(len(group))
        finally:
            bar.close()
        return len(fresh), len(reused), encoded

    def _load_metas(self, sources: set[str]) -> None:
        """The metadata of articles already in the manifest (a repair re-adds their vectors)."""
        lacking = [s for s in sources if s not in self._metas]
        if lacking:
            known = self.catalog.article_meta(lacking)
            self._metas.update({s: known.get(s, Metadata()) for s in lacking})

    def _passage_rows(self, chunks: Sequence[Chunk], embedder: Embedder) -> tuple[np.ndarray, dict[str, bytes]]:
        """The chunks' vectors, and their encoded passage vectors (sentences and latent terms included)."""
        if not chunks:
            return np.zeros((0, embedder.dimension), dtype=np.float32), {}
        batch = self.settings.batch_size
        vectors, terms = embed_with_terms(embedder, [c.text for c in chunks], batch)
        passages = embed_passages(chunks, vectors, embedder, batch, terms)
        return vectors, {c.id: passage_vectors.encode(p) for c, p in zip(chunks, passages, strict=True)}

    def _reconcile_dense(self, desired: set[str]) -> tuple[bool, bool]:
        """Make Chroma hold exactly `desired`; returns (anything repaired, dense part complete)."""
        store = self.store()
        stored = set(store.ids())
        extra = stored - desired
        missing = desired - stored
        if extra:
            store.delete(sorted(extra))
        embedder = self.embedder() if missing else self._embedder
        if missing and embedder is not None:
            chunks = list(self.catalog.chunks(sorted(missing)))
            current = self._rows_by_text(chunks) if self._vectors_current else {}
            _, _, rows = self._add_vectors(chunks, {}, embedder, current)
            self.catalog.set_vectors(rows.items())
        repaired = bool(extra or missing)
        if repaired:
            logger.info(
                "repaired the dense index: %d stale vectors removed, %d missing added", len(extra), len(missing)
            )
        return repaired, not missing or embedder is not None

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

    def _rebuild_lexical(self, generation: int) -> None:
        """Build the BM25 index of every chunk from the terms kept in the manifest (analyzing only what lacks them)."""
        current = self.catalog.meta().get("terms_version") == ANALYZER_VERSION
        ids: list[str] = []
        fields: list[dict[str, list[str]]] = []
        computed: list[tuple[str, str]] = []
        for chunk_id, text, terms in self.catalog.chunk_terms():
            if terms is None or not current:
                analyzed = analyze_fields(text)
                computed.append((chunk_id, encode_terms(analyzed)))
            else:
                analyzed = decode_terms(terms)
            ids.append(chunk_id)
            fields.append(analyzed)
        if computed or not current:
            self.catalog.set_terms(computed, ANALYZER_VERSION)
        LexicalIndex.build(ids, fields, generation=generation).save(self.index_dir / LEXICAL_DIR)

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
        self, plan: _Plan, skipped: tuple[Skipped, ...], *, embedded: int, reused: int, repaired: bool
    ) -> SyncReport:
        documents, chunks = self.catalog.counts()
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
            embedded=embedded,
            reused=reused,
            repaired=repaired,
            dense=meta.get("dense") == "1",
            model=self.model_id,
            warnings=tuple(self.warnings),
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    duplicates: list[Duplicate]
    to_index: list[str]
    to_remove: list[str]
    new_duplicates: list[FileRecord]

    def after_failures(self, failed: set[str]) -> _Plan:
        """Files that could not be read are reported as skipped (and removed if they were indexed)."""
        return _Plan(
            [s for s in self.added if s not in failed],
            [s for s in self.updated if s not in failed],
            sorted({*self.removed, *(s for s in self.updated if s in failed)}),
            self.unchanged,
            self.duplicates,
            self.to_index,
            self.to_remove,
            self.new_duplicates,
        )


def _plan(
    scanned: dict[str, _Scanned], known: dict[str, FileRecord], roots: Sequence[Path], chunkers: frozenset[str]
) -> _Plan:
    """Classify every file: added, updated, unchanged, duplicate, removed."""
    dirs = [r.resolve() for r in roots if r.is_dir()]
    files = {r.resolve() for r in roots if r.is_file()}

    def in_scope(record: FileRecord) -> bool:
        origin = Path(record.origin)
        return origin in files or any(origin.is_relative_to(d) for d in dirs)

    removed = sorted(s for s, r in known.items() if s not in scanned and in_scope(r))
    owner: dict[str, str] = {}
    for source, record in known.items():
        kept = source not in removed and (source not in scanned or scanned[source].hash == record.hash)
        if record.duplicate_of is None and kept:
            owner.setdefault(record.hash, source)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    duplicates: list[Duplicate] = []
    new_duplicates: list[FileRecord] = []
    for source in sorted(scanned):
        entry = scanned[source]
        previous = known.get(source)
        canonical = owner.setdefault(entry.hash, source)
        if canonical != source:
            duplicates.append(Duplicate(source, canonical))
            if previous is None or previous.duplicate_of != canonical or previous.hash != entry.hash:
                new_duplicates.append(FileRecord(source, str(entry.origin), entry.hash, entry.size, canonical, "", ""))
        elif previous is None or previous.duplicate_of is not None:
            added.append(source)
        elif previous.hash != entry.hash or previous.chunker not in chunkers:
            updated.append(source)
        else:
            unchanged.append(source)
    return _Plan(added, updated, removed, unchanged, duplicates, added + updated, removed, new_duplicates)


def _walk(root: Path) -> Iterable[Path]:
    """Files under `root`, skipping hidden files and folders."""
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def _source_name(absolute: Path, base: Path, docs_dir: Path) -> str:
    """The name a file is indexed under: relative to the documents folder, else to the folder given.

    `absolute` is the file's resolved folder joined with its own name (a symbolic link keeps its name).
    """
    for anchor in (docs_dir, base):
        try:
            return absolute.relative_to(anchor).as_posix()
        except ValueError:
            continue
    return absolute.name


def _unreadable_reason(path: Path, base: Path) -> str | None:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken symbolic link"
        if not target.is_relative_to(base):
            return "symbolic link pointing outside the documents folder"
        if not target.is_file():
            return "not a regular file"
    if not is_document(path.name):
        return f"unsupported file type {path.suffix or '(none)'}; use {supported_types()}, or .jsonl/.csv/.tsv exports"
    try:
        size = path.stat().st_size
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if size > MAX_FILE_BYTES and not is_archive(path):  # an export is streamed row by row
        return f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it into smaller files"
    return None


def _approximate_counts(texts: Sequence[str]) -> list[int]:
    return [approximate_token_count(t) for t in texts]


def _payload(chunks: Sequence[Chunk], metas: Mapping[str, Metadata]) -> tuple[None, list[dict[str, str | int]]]:
    """What Chroma stores beside each vector: the metadata a filter needs, not the text (the manifest has it).

    The article's day (`DAY_FIELD`, 20190323) and outlet (`OUTLET_FIELD`) are there only when known, so a
    date or outlet filter's `where` leaves out the articles without them (ingest.filters).
    """
    metadatas: list[dict[str, str | int]] = []
    for c in chunks:
        item: dict[str, str | int] = {
            "source": c.source,
            "title": c.title,
            "chunk": c.number,
            "start": c.start,
            "end": c.end,
        }
        meta = metas.get(c.source)
        if meta is not None:
            day, outlet = date_key(meta.date), outlet_key(meta.outlet)
            if day is not None:
                item[DAY_FIELD] = day
            if outlet:
                item[OUTLET_FIELD] = outlet
        metadatas.append(item)
    return None, metadatas


def _progress_bar(total: int, enabled: bool) -> _Bar:
    if not enabled or not total:
        return _Bar()
    from tqdm import tqdm

    bar: _Bar = tqdm(total=total, unit="chunk", desc="embedding", dynamic_ncols=True)
    return bar


class _Bar:
    """A progress bar that shows nothing."""

    def update(self, n: int) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""


def _wipe(settings: Settings) -> None:
    index_dir = settings.index_dir
    ChromaStore.drop(dense_location(settings), settings.chroma_collection)
    shutil.rmtree(index_dir / LEXICAL_DIR, ignore_errors=True)
    for name in (MANIFEST, f"{MANIFEST}-wal", f"{MANIFEST}-shm", PENDING):
        (index_dir / name).unlink(missing_ok=True)


def _with_seconds(report: SyncReport, seconds: float) -> SyncReport:
    from dataclasses import replace

    return replace(report, seconds=round(seconds, 3))
