"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, scored by both and fused, optionally reranked.

Every question reads one `Snapshot` of the index (`ingest.reader`): its lexical hits, its dense hits and
the passages it returns all come from the same generation, and a generation an ingest finishes while
the retriever is open is used from the next question on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.background import background_for
from assistant.fusion import DenseEvidence, dense_evidence, fuse_scores, one_article_per_story
from assistant.notes import Note, NoteKind
from assistant.recency import DEPTH_FACTOR, asks_for_latest, prefer_recent
from assistant.records import Closeness, OtherCopy, Passage
from assistant.reranking import Reranker
from assistant.settings import AssistantSettings
from ingest.analysis import detect_language, plain_spelling
from ingest.dates import date_key
from ingest.embedding import (
    Embedder,
    EmbeddingUnavailableError,
    ModelMismatchError,
    check_model,
    query_with_terms,
    resolve_model,
)
from ingest.factories import load_embedder
from ingest.filters import ArticleFilter, chroma_where
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
from ingest.records import Article, Chunk, Metadata
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
TOPIC_MARGIN = 0.9
"""A follow-up's passages from the article the earlier question found come first when they score at least
this share of the best passage (docs/answers.md)."""


@dataclass(frozen=True, slots=True)
class Retrieval:
    """The passages for one question and how they were found."""

    passages: tuple[Passage, ...]
    dense: bool
    """False when only the lexical index was searched."""
    notes: tuple[Note, ...] = ()
    """What could not be used for this question."""
    closeness: Closeness | None = None
    """The index's best similarity and the question's background level, when the model has a background."""


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

    def outlets(self) -> list[str]:
        """The outlets the indexed articles name (for the outlet filter's choices)."""
        with self.reader.snapshot() as snapshot:
            return snapshot.outlets()

    def article_text(self, source: str) -> str | None:
        """The cleaned text of an indexed article."""
        with self.reader.snapshot() as snapshot:
            article = snapshot.article(source)
        return article.text if article else None

    def article(self, source: str, content_hash: str = "") -> Article | None:
        """An indexed article as it is now (cleaned text and content hash). When `source` left the index and
        `content_hash` is given, the indexed article with that content: the file was renamed or moved."""
        with self.reader.snapshot() as snapshot:
            article = snapshot.article(source)
            if article is None and content_hash:
                article = snapshot.article_with_hash(content_hash)
            return article

    def allowed_count(self, scope: ArticleFilter) -> int | None:
        """How many indexed articles `scope` allows (documents, dates, outlets); None when it filters nothing."""
        if scope.empty:
            return None
        with self.reader.snapshot() as snapshot:
            allowed = snapshot.scope_sources(scope)
        return None if allowed is None else len(allowed)

    def lexical_hits(
        self, question: str, k: int, sources: Sequence[str] | None = None, *, scope: ArticleFilter | None = None
    ) -> dict[str, float]:
        """The lexical index's top `k` (chunk id -> score), best first; only from `sources` or within `scope`."""
        with self.reader.snapshot() as snapshot:
            allowed = snapshot.scope_sources(scope) if scope is not None else sources
            if allowed is not None and not allowed and scope is not None:
                return {}
            return {hit.chunk_id: hit.score for hit in snapshot.lexical_search(question, k, allowed)}

    def dense_hits(
        self, query: np.ndarray, k: int, sources: Sequence[str] | None = None, *, scope: ArticleFilter | None = None
    ) -> dict[str, float]:
        """Chroma's top `k` for a query vector (chunk id -> cosine), best first (for benchmarks and tools);
        only from `sources` or within `scope`."""
        with self.reader.snapshot() as snapshot:
            hits = snapshot.dense_search(query, k, sources, where=chroma_where(scope))
            return {hit.chunk_id: hit.similarity for hit in hits}

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
        self,
        question: str,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        *,
        context: str = "",
        topic: str | None = None,
        scope: ArticleFilter | None = None,
    ) -> Retrieval:
        """The `k` best passages for `question`, optionally only from `sources` and within `scope`.

        `context` is an earlier question that this one follows up: its words join the lexical query and
        its vector joins the question's (at CONTEXT_WEIGHT), so the topic carries while the question's own
        words and meaning decide which passage answers it. `topic` is the article that earlier question
        found: its passages come first when they score close to the best (TOPIC_MARGIN).

        `scope` (dates, outlets) is applied inside both retrievers: Chroma's `where`, and the lexical
        engine's source filter (the articles the manifest finds within the scope), so each fills its
        candidates from the allowed articles only. Among the candidates, one article per wire story is
        kept (the others are listed in its passages' `also_in`), and a question asking for the latest
        news prefers recent articles (assistant.recency).
        """
        k = k or self.settings.k
        if sources:
            scope = ArticleFilter(tuple(sources), *(_rest(scope)))
        scope = scope if scope is not None and not scope.empty else None
        latest = asks_for_latest(question)
        factor = DEPTH_FACTOR if latest else 1
        query: np.ndarray | None = None
        query_terms: SparseTerms | None = None
        if self.dense and self.embedder is not None:
            query, query_terms = self._query(question, context)
        with self.reader.snapshot() as snapshot:
            self._follow(snapshot)
            notes = list(self.notes)
            allowed = snapshot.scope_sources(scope)
            found = (
                snapshot.lexical_search(f"{question} {context}".strip(), self.settings.lexical_depth * factor, allowed)
                if allowed is None or allowed
                else []
            )
            # after the search: a file damaged under the open snapshot is found by it, and this answer says so
            notes.extend(Note(NoteKind.LEXICAL_UNAVAILABLE, p.detail) for p in snapshot.problems if p.part == "lexical")
            lexical_hits = {hit.chunk_id: hit.score for hit in found}
            dense_hits: dict[str, float] = {}
            dense = query is not None and self.dense
            if dense and query is not None:
                try:
                    hits = snapshot.dense_search(query, self.settings.dense_depth * factor, where=chroma_where(scope))
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
            chunks = snapshot.chunks([cid for cid, _ in fused])
            fused = [(cid, score) for cid, score in fused if cid in chunks]  # not yet committed: not an answer
            metas = snapshot.article_meta({c.source for c in chunks.values()})
            if topic is not None:
                fused = carry_topic(fused, {cid: chunks[cid].source for cid, _ in fused}, topic, TOPIC_MARGIN)
            if latest:
                fused = prefer_recent(fused, {cid: date_key(_meta(metas, chunks[cid].source).date) for cid, _ in fused})
            story_of = snapshot.stories({c.source for c in chunks.values()})
            ranked = [(cid, chunks[cid].source) for cid, _ in fused]
            if latest:  # the latest news of a wire story is its newest copy among the candidates
                ranked = _newest_copies(ranked, story_of, metas)
            kept, _ = one_article_per_story(ranked, story_of)
            selected = [cid for cid, _ in kept[:depth]]
            copies = self._copies(
                snapshot, {story_of[chunks[cid].source] for cid in selected if chunks[cid].source in story_of}
            )
            hashes = snapshot.hashes({chunks[cid].source for cid in selected})
        fused_score = dict(fused)
        passages = [
            _passage(
                chunks[cid],
                fused_score[cid],
                evidence.get(cid),
                dense_hits.get(cid),
                lexical_hits.get(cid),
                hashes,
                _meta(metas, chunks[cid].source),
                tuple(
                    c for c in copies.get(story_of.get(chunks[cid].source, ""), ()) if c.source != chunks[cid].source
                ),
            )
            for cid in selected
        ]
        if self.reranker is not None and passages:
            passages = self.reranker.rerank(question, passages)
        return Retrieval(tuple(passages[:k]), dense, tuple(notes), self._closeness(query, dense_hits))

    def _closeness(self, query: np.ndarray | None, dense_hits: Mapping[str, float]) -> Closeness | None:
        """The dense retriever's best similarity read against the question's background level."""
        background = background_for(str(getattr(self.embedder, "checksum", "") or ""))
        if query is None or not dense_hits or background is None:
            return None
        return Closeness(max(dense_hits.values()), background.level(query))

    def _copies(self, snapshot: Snapshot, stories: set[str]) -> dict[str, list[OtherCopy]]:
        """Every article of each story, as the `also_in` entries its other copies show."""
        if not stories:
            return {}
        members = snapshot.story_members(stories)
        metas = snapshot.article_meta({s for sources in members.values() for s in sources})
        return {
            story: [OtherCopy(s, _meta(metas, s).outlet, _meta(metas, s).date, _meta(metas, s).url) for s in sources]
            for story, sources in members.items()
        }

    def _query(self, question: str, context: str) -> tuple[np.ndarray, SparseTerms | None]:
        """The question's vector and latent terms, the earlier question's added at CONTEXT_WEIGHT."""
        assert self.embedder is not None
        vector, terms = query_with_terms(self.embedder, plain_spelling(question))
        if not context:
            return vector, terms
        earlier, earlier_terms = query_with_terms(self.embedder, plain_spelling(context))
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


def _newest_copies(
    ranked: list[tuple[str, str]], story_of: dict[str, str], metas: dict[str, Metadata]
) -> list[tuple[str, str]]:
    """`ranked` (chunk id, source) without the chunks of a story's copies older than its newest candidate copy."""
    newest: dict[str, tuple[int, str]] = {}
    for _, source in ranked:
        story = story_of.get(source)
        if story is not None:
            day = date_key(_meta(metas, source).date) or 0
            if story not in newest or day > newest[story][0]:
                newest[story] = (day, source)
    return [(c, s) for c, s in ranked if s not in story_of or newest[story_of[s]][1] == s]


def _rest(scope: ArticleFilter | None) -> tuple[int | None, int | None, tuple[str, ...]]:
    """A filter's dates and outlets (its sources are replaced)."""
    return (None, None, ()) if scope is None else (scope.since, scope.until, scope.outlets)


def _meta(metas: dict[str, Metadata], source: str) -> Metadata:
    return metas.get(source) or Metadata()


def _passage(
    chunk: Chunk,
    score: float,
    evidence: DenseEvidence | None,
    dense: float | None,
    lexical: float | None,
    hashes: dict[str, str],
    meta: Metadata,
    also_in: tuple[OtherCopy, ...] = (),
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
        meta.date,
        meta.outlet,
        meta.author,
        meta.url,
        also_in,
        evidence.terms if evidence is not None else None,
    )


def carry_topic(
    fused: Sequence[tuple[str, float]], source_of: Mapping[str, str], topic: str, margin: float
) -> list[tuple[str, float]]:
    """`fused` (best first) with the passages of article `topic` that reach `margin` of the best score moved
    ahead of the others, each group in its own order (a follow-up stays with the article under discussion
    unless another one answers it clearly better)."""
    if not fused:
        return []
    floor = margin * fused[0][1]
    carried = [(cid, score) for cid, score in fused if source_of.get(cid) == topic and score >= floor]
    if not carried:
        return list(fused)
    taken = {cid for cid, _ in carried}
    return carried + [(cid, score) for cid, score in fused if cid not in taken]
