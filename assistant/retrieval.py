"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, scored by both and fused, optionally reranked.

Every question reads one `Snapshot` of the index (`ingest.reader`): its lexical hits, its dense hits and
the passages it returns all come from the same generation, and a generation an ingest finishes while
the retriever is open is used from the next question on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.fusion import DenseEvidence, dense_evidence, fuse_scores
from assistant.notes import Note, NoteKind
from assistant.records import Passage
from assistant.reranking import Reranker
from assistant.settings import AssistantSettings
from ingest.analysis import detect_language
from ingest.embedding import (
    Embedder,
    EmbeddingUnavailableError,
    ModelMismatchError,
    check_model,
    query_with_terms,
    resolve_model,
)
from ingest.factories import load_embedder
from ingest.latent_terms import SparseTerms
from ingest.reader import (
    DenseUnavailableError,
    IndexMissingError,
    IndexReader,
    ManifestDamagedError,
    Snapshot,
    index_exists,
    ingest_pending,
)
from ingest.records import Article, Chunk
from ingest.redaction import strip_userinfo
from ingest.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "IndexMissingError",
    "ManifestDamagedError",
    "Retrieval",
    "Retriever",
    "index_exists",
    "ingest_pending",
]

CONTEXT_WEIGHT = 0.5
"""Weight of the earlier question's vector and latent terms in a follow-up's query (docs/answers.md)."""


@dataclass(frozen=True, slots=True)
class Retrieval:
    """The passages for one question and how they were found."""

    passages: tuple[Passage, ...]
    dense: bool
    """False when only the lexical index was searched."""
    notes: tuple[Note, ...] = ()
    """What could not be used for this question."""


class Retriever:
    """Finds passages for questions in one index, moving to each newer generation an ingest finishes."""

    def __init__(
        self,
        settings: AssistantSettings,
        embedder: Embedder | None,
        reranker: Reranker | None = None,
        notes: Sequence[Note] = (),
        reader: IndexReader | None = None,
        embedder_factory: Callable[[Settings], Embedder] | None = None,
    ) -> None:
        self.settings = settings
        self.index_dir = settings.index.index_dir
        self.embedder = embedder
        self.reranker = reranker
        self.reader = reader if reader is not None else IndexReader(settings.index)
        self._notes = tuple(notes)
        self._model_notes: tuple[Note, ...] = ()
        self._generation = self.reader.generation
        self._embedder_factory = embedder_factory

    @classmethod
    def open(
        cls,
        settings: AssistantSettings,
        embedder_factory: Callable[[Settings], Embedder] = load_embedder,
        reranker: Reranker | None = None,
    ) -> Retriever:
        """Open the index named by `settings`; without a usable model, retrieve lexically and say so."""
        reader = IndexReader(settings.index)
        try:
            meta = reader.meta
            dense_built = meta.get("dense") == "1"
            check_model(meta, resolve_model(settings.index.embedding_model), has_vectors=dense_built)
            embedder: Embedder | None = None
            notes: list[Note] = []
            if not dense_built:
                notes.append(Note(NoteKind.NO_DENSE_PART, "the index was built without the embedding model"))
            else:
                try:
                    embedder = embedder_factory(settings.index)
                except EmbeddingUnavailableError as error:
                    notes.append(Note(NoteKind.MODEL_UNAVAILABLE, str(error)))
        except BaseException:
            reader.close()
            raise
        for note in notes:
            logger.info("%s", note.detail)  # the note reaches the person with every answer
        if embedder is not None:
            reader.warm(embedder.dimension)  # Chroma loads its graph while the first question is being typed
        return cls(settings, embedder, reranker, notes, reader, embedder_factory)

    def close(self) -> None:
        """Release the index."""
        self.reader.close()

    @property
    def dense(self) -> bool:
        """True when questions are embedded and searched in Chroma too."""
        return self.embedder is not None and not self._model_notes

    @property
    def notes(self) -> tuple[Note, ...]:
        """What every answer from this retriever lacks (no model, no dense part)."""
        return self._notes + self._model_notes

    def sources(self) -> list[str]:
        """Every indexed source path (for filters)."""
        with self.reader.snapshot() as snapshot:
            return snapshot.sources()

    def article_text(self, source: str) -> str | None:
        """The cleaned text of an indexed article."""
        with self.reader.snapshot() as snapshot:
            article = snapshot.article(source)
        return article.text if article else None

    def article(self, source: str) -> Article | None:
        """An indexed article as it is now (cleaned text and content hash)."""
        with self.reader.snapshot() as snapshot:
            return snapshot.article(source)

    def lexical_hits(self, question: str, k: int, sources: Sequence[str] | None = None) -> dict[str, float]:
        """The lexical index's top `k` (chunk id -> score), best first."""
        with self.reader.snapshot() as snapshot:
            return {hit.chunk_id: hit.score for hit in snapshot.lexical_search(question, k, sources)}

    def dense_hits(self, query: np.ndarray, k: int, sources: Sequence[str] | None = None) -> dict[str, float]:
        """Chroma's top `k` for a query vector (chunk id -> cosine), best first (for benchmarks and tools)."""
        with self.reader.snapshot() as snapshot:
            return {hit.chunk_id: hit.similarity for hit in snapshot.dense_search(query, k, sources)}

    def dense_evidence(
        self, query: np.ndarray, candidates: Sequence[str], query_terms: SparseTerms | None = None
    ) -> dict[str, DenseEvidence]:
        """Chunk and sentence similarities (and latent-term scores) of `candidates` from the passage vectors
        the manifest keeps."""
        with self.reader.snapshot() as snapshot:
            return self._dense_evidence(snapshot, query, candidates, query_terms)

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Indexed chunks by id (unknown ids are left out)."""
        with self.reader.snapshot() as snapshot:
            return snapshot.chunks(ids)

    def retrieve(
        self, question: str, k: int | None = None, sources: Sequence[str] | None = None, *, context: str = ""
    ) -> Retrieval:
        """The `k` best passages for `question`, optionally only from `sources`.

        `context` is an earlier question that this one follows up: its words join the lexical query and
        its vector joins the question's (at CONTEXT_WEIGHT), so the topic carries while the question's own
        words and meaning decide which passage answers it.
        """
        k = k or self.settings.k
        query: np.ndarray | None = None
        query_terms: SparseTerms | None = None
        if self.dense and self.embedder is not None:
            query, query_terms = self._query(question, context)
        with self.reader.snapshot() as snapshot:
            self._follow(snapshot)
            notes = list(self.notes)
            found = snapshot.lexical_search(f"{question} {context}".strip(), self.settings.lexical_depth, sources)
            # after the search: a file damaged under the open snapshot is found by it, and this answer says so
            notes.extend(Note(NoteKind.LEXICAL_UNAVAILABLE, p.detail) for p in snapshot.problems if p.part == "lexical")
            lexical_hits = {hit.chunk_id: hit.score for hit in found}
            dense_hits: dict[str, float] = {}
            dense = query is not None and self.dense
            if dense and query is not None:
                try:
                    hits = snapshot.dense_search(query, self.settings.dense_depth, sources)
                    dense_hits = {hit.chunk_id: hit.similarity for hit in hits}
                except DenseUnavailableError as error:
                    logger.warning("dense search failed, answering from the lexical index: %s", error)
                    dense, query = False, None
                    where = strip_userinfo(self.settings.index.chroma_url) or str(self.index_dir)
                    notes.append(Note(NoteKind.DENSE_UNAVAILABLE, str(error), (("where", where),)))
            candidates = list(dict.fromkeys([*lexical_hits, *dense_hits]))  # lexical first: ties keep this order
            evidence = self._dense_evidence(snapshot, query, candidates, query_terms) if query is not None else {}
            fused = self._fuse(question, candidates, lexical_hits, dense_hits, evidence)
            depth = max(k, self.settings.k * 4) if self.reranker is not None else k
            selected = [cid for cid, _ in fused[:depth]]
            chunks = snapshot.chunks(selected)
            hashes = snapshot.hashes({c.source for c in chunks.values()})
        fused_score = dict(fused)
        passages = [
            _passage(
                chunks[cid], fused_score[cid], evidence.get(cid), dense_hits.get(cid), lexical_hits.get(cid), hashes
            )
            for cid in selected
            if cid in chunks  # a vector added by an ingest that has not committed yet is not an answer
        ]
        if self.reranker is not None and passages:
            passages = self.reranker.rerank(question, passages)
        return Retrieval(tuple(passages[:k]), dense, tuple(notes))

    def _query(self, question: str, context: str) -> tuple[np.ndarray, SparseTerms | None]:
        """The question's vector and latent terms, the earlier question's added at CONTEXT_WEIGHT."""
        assert self.embedder is not None
        vector, terms = query_with_terms(self.embedder, question)
        if not context:
            return vector, terms
        earlier, earlier_terms = query_with_terms(self.embedder, context)
        mixed = vector + CONTEXT_WEIGHT * earlier
        mixed = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        if terms is None or earlier_terms is None:
            return mixed.astype(np.float32), terms
        return mixed.astype(np.float32), terms.plus(earlier_terms, CONTEXT_WEIGHT)

    def _dense_evidence(
        self,
        snapshot: Snapshot,
        query: np.ndarray,
        candidates: Sequence[str],
        query_terms: SparseTerms | None = None,
    ) -> dict[str, DenseEvidence]:
        return dense_evidence(query, snapshot.passage_vectors(candidates), self.settings.sentence_weight, query_terms)

    def _fuse(
        self,
        question: str,
        candidates: Sequence[str],
        lexical_hits: dict[str, float],
        dense_hits: dict[str, float],
        evidence: dict[str, DenseEvidence],
    ) -> list[tuple[str, float]]:
        """The one fusion of both hit lists and the candidates' dense evidence (assistant.fusion), best first."""
        dense_scores = {c: e.score for c, e in evidence.items()}
        for chunk_id, similarity in dense_hits.items():  # an index from before passage vectors were kept
            dense_scores.setdefault(chunk_id, similarity)
        language = detect_language(question)
        weights = {
            c: self.settings.lexical_weight
            if evidence.get(c) is None or evidence[c].language in (None, language)
            else self.settings.cross_lexical_weight
            for c in candidates
        }
        terms = {c: e.terms for c, e in evidence.items() if e.terms is not None}
        return fuse_scores(candidates, lexical_hits, dense_scores, weights, terms, self.settings.terms_weight)

    def _follow(self, snapshot: Snapshot) -> None:
        """Re-check the model when the snapshot moved to a generation another ingest wrote."""
        if snapshot.generation == self._generation:
            return
        self._generation = snapshot.generation
        try:
            check_model(snapshot.meta, resolve_model(self.settings.index.embedding_model), has_vectors=True)
            self._model_notes = ()
        except ModelMismatchError as error:
            self._model_notes = (Note(NoteKind.MODEL_CHANGED, str(error)),)
            return
        if self.embedder is None and snapshot.meta.get("dense") == "1" and self._embedder_factory is not None:
            try:  # an ingest with the model added the dense part: use it from now on
                self.embedder = self._embedder_factory(self.settings.index)
                self._notes = tuple(n for n in self._notes if n.kind is not NoteKind.NO_DENSE_PART)
            except EmbeddingUnavailableError as error:
                self._notes = (Note(NoteKind.MODEL_UNAVAILABLE, str(error)),)
            finally:
                self._embedder_factory = None


def _passage(
    chunk: Chunk,
    score: float,
    evidence: DenseEvidence | None,
    dense: float | None,
    lexical: float | None,
    hashes: dict[str, str],
) -> Passage:
    found_by = tuple(name for name, value in (("dense", dense), ("lexical", lexical)) if value is not None)
    similarity = evidence.chunk if evidence is not None else dense
    sentences = evidence.sentences if evidence is not None else None
    return Passage(
        chunk.id,
        chunk.source,
        chunk.title,
        chunk.text,
        chunk.start,
        chunk.end,
        score,
        similarity,
        lexical,
        found_by,
        sentences,
        hashes.get(chunk.source, ""),
    )
