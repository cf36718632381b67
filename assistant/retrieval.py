"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, scored by both and fused, optionally reranked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.fusion import DenseEvidence, dense_evidence, fuse_scores, one_article_per_story
from assistant.recency import DEPTH_FACTOR, asks_for_latest, prefer_recent
from assistant.records import OtherCopy, Passage
from assistant.reranking import Reranker
from assistant.settings import AssistantSettings
from ingest import passage_vectors
from ingest.analysis import detect_language
from ingest.catalog import Catalog
from ingest.chroma_store import ChromaStore
from ingest.dates import date_key
from ingest.embedding import Embedder, EmbeddingUnavailableError, query_with_terms, resolve_model
from ingest.filters import ArticleFilter, chroma_where
from ingest.indexing import LEXICAL_DIR, MANIFEST, PENDING, check_model, load_embedder, open_dense_store
from ingest.latent_terms import SparseTerms
from ingest.lexical import LexicalIndex
from ingest.metadata import outlet_key
from ingest.records import Article, Chunk, Metadata
from ingest.redaction import strip_userinfo
from ingest.settings import Settings

logger = logging.getLogger(__name__)


CONTEXT_WEIGHT = 0.5
"""Weight of the earlier question's vector and latent terms in a follow-up's query (docs/answers.md)."""


class IndexMissingError(RuntimeError):
    """There is no index to answer from."""


@dataclass(frozen=True, slots=True)
class Retrieval:
    """The passages for one question and how they were found."""

    passages: tuple[Passage, ...]
    dense: bool
    """False when only the lexical index was searched."""
    note: str = ""


class Retriever:
    """Reads one index (manifest, lexical, Chroma) and finds passages for questions."""

    def __init__(
        self,
        settings: AssistantSettings,
        embedder: Embedder | None,
        reranker: Reranker | None = None,
        note: str = "",
    ) -> None:
        self.settings = settings
        self.index_dir = settings.index.index_dir
        self.embedder = embedder
        self.reranker = reranker
        self.note = note
        self._catalog = Catalog(self.index_dir / MANIFEST, readonly=True)
        self._lexical: LexicalIndex | None = None
        self._lexical_name = ""
        self._sources = np.array([], dtype=object)
        self._days = np.array([], dtype=np.int64)
        """Each lexical chunk's article day (ingest.dates.date_key; 0 when undated), for date filters."""
        self._outlets = np.array([], dtype=object)
        """Each lexical chunk's article outlet key ("" when unknown), for outlet filters."""
        self._store: ChromaStore | None = None
        self.refresh()

    @classmethod
    def open(
        cls,
        settings: AssistantSettings,
        embedder_factory: Callable[[Settings], Embedder] = load_embedder,
        reranker: Reranker | None = None,
    ) -> Retriever:
        """Open the index named by `settings`; without a usable model, retrieve lexically and say so."""
        index_dir = settings.index.index_dir
        if not (index_dir / MANIFEST).is_file():
            raise IndexMissingError(
                f"There is no index in {index_dir}. Run `assistant ingest` first (or set ASSISTANT_INDEX_DIR)."
            )
        catalog = Catalog(index_dir / MANIFEST, readonly=True)
        try:
            meta = catalog.meta()
        finally:
            catalog.close()
        dense_built = meta.get("dense") == "1"
        check_model(meta, resolve_model(settings.index.embedding_model), has_vectors=dense_built)
        embedder: Embedder | None = None
        note = ""
        if not dense_built:
            note = "The index has no dense part (built without the embedding model): lexical search only."
        else:
            try:
                embedder = embedder_factory(settings.index)
            except EmbeddingUnavailableError as error:
                note = f"Lexical search only: {error}"
        if note:
            logger.info("%s", note)  # the note reaches the person with every answer
        return cls(settings, embedder, reranker, note)

    def close(self) -> None:
        """Release the manifest connection."""
        self._catalog.close()

    def refresh(self) -> None:
        """Load the live lexical generation if an ingest replaced it (cheap when nothing changed)."""
        current = self.index_dir / LEXICAL_DIR / "CURRENT"
        name = current.read_text(encoding="utf-8").strip() if current.is_file() else ""
        if name == self._lexical_name:
            return
        lexical = LexicalIndex.load(self.index_dir / LEXICAL_DIR)
        ids = lexical.ids if lexical else []
        source_of = {c.id: c.source for c in self._catalog.chunks(ids)} if ids else {}
        self._sources = np.array([source_of.get(i, "") for i in ids], dtype=object)
        metas = self._catalog.article_meta(set(source_of.values()))
        day_of = {s: date_key(m.date) or 0 for s, m in metas.items()}
        outlet_of = {s: outlet_key(m.outlet) for s, m in metas.items()}
        self._days = np.array([day_of.get(s, 0) for s in self._sources], dtype=np.int64)
        self._outlets = np.array([outlet_of.get(s, "") for s in self._sources], dtype=object)
        self._lexical, self._lexical_name = lexical, name

    @property
    def dense(self) -> bool:
        """True when questions are embedded and searched in Chroma too."""
        return self.embedder is not None

    def store(self) -> ChromaStore:
        """The Chroma collection (opened on first use)."""
        if self._store is None:
            self._store = open_dense_store(self.settings.index)
        return self._store

    def sources(self) -> list[str]:
        """Every indexed source path (for filters)."""
        return sorted(s for s, r in self._catalog.files().items() if r.duplicate_of is None)

    def outlets(self) -> list[str]:
        """The outlets the indexed articles name (for the outlet filter's choices)."""
        return self._catalog.outlets()

    def article_text(self, source: str) -> str | None:
        """The cleaned text of an indexed article."""
        article = self._catalog.article(source)
        return article.text if article else None

    def article(self, source: str) -> Article | None:
        """An indexed article as it is now (cleaned text and content hash)."""
        return self._catalog.article(source)

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        *,
        context: str = "",
        scope: ArticleFilter | None = None,
    ) -> Retrieval:
        """The `k` best passages for `question`, optionally only from `sources` and within `scope`.

        `context` is an earlier question that this one follows up: its words join the lexical query and
        its vector joins the question's (at CONTEXT_WEIGHT), so the topic carries while the question's own
        words and meaning decide which passage answers it.

        `scope` (dates, outlets) is applied inside both retrievers: Chroma's `where` and the lexical
        engine's mask, so each fills its candidates from the allowed articles only. Among the candidates,
        one article per wire story is kept (the others are listed in its passages' `also_in`), and a
        question asking for the latest news prefers recent articles (assistant.recency).
        """
        self.refresh()
        if sources:
            scope = ArticleFilter(tuple(sources), *(_rest(scope)))
        scope = scope if scope is not None and not scope.empty else None
        latest = asks_for_latest(question)
        depth_factor = DEPTH_FACTOR if latest else 1
        note = self.note
        if self._lexical is None:
            note = f"{note} The lexical index is missing or outdated: run `assistant ingest` to rebuild it.".strip()
        k = k or self.settings.k
        lexical_hits = self._lexical_hits(f"{question} {context}".strip(), scope, depth_factor)
        dense_hits: dict[str, float] = {}
        query: np.ndarray | None = None
        dense = self.embedder is not None
        query_terms = None
        if self.embedder is not None:
            query, query_terms = self._query(question, context)
            try:
                dense_hits = self._dense_hits(query, scope, depth_factor)
            except Exception as error:  # noqa: BLE001 - a store outage must not take answering down with it
                logger.warning("dense search failed, answering from the lexical index: %s", error)
                self._store = None  # reconnect on the next question
                dense, query = False, None
                where = strip_userinfo(self.settings.index.chroma_url) or "the index"
                note = f"{note} The vector store ({where}) did not answer: lexical search only for this answer.".strip()
        candidates = list(dict.fromkeys([*lexical_hits, *dense_hits]))  # lexical first: ties keep this order
        evidence = self._dense_evidence(query, candidates, query_terms) if query is not None else {}
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
        fused = fuse_scores(candidates, lexical_hits, dense_scores, weights, terms, self.settings.terms_weight)
        depth = max(k, self.settings.k * 4) if self.reranker is not None else k
        chunks = {c.id: c for c in self._catalog.chunks([cid for cid, _ in fused])}
        fused = [(cid, score) for cid, score in fused if cid in chunks]  # not yet committed: not an answer
        metas = self._catalog.article_meta({c.source for c in chunks.values()})
        if latest:
            fused = prefer_recent(fused, {cid: date_key(_meta(metas, chunks[cid].source).date) for cid, _ in fused})
        story_of = self._catalog.stories({c.source for c in chunks.values()})
        ranked = [(cid, chunks[cid].source) for cid, _ in fused]
        if latest:  # the latest news of a wire story is its newest copy among the candidates
            ranked = _newest_copies(ranked, story_of, metas)
        kept, _ = one_article_per_story(ranked, story_of)
        selected = [cid for cid, _ in kept[:depth]]
        fused_score = dict(fused)
        copies = self._copies({story_of[chunks[cid].source] for cid in selected if chunks[cid].source in story_of})
        hashes = self._catalog.hashes({chunks[cid].source for cid in selected})
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
        return Retrieval(tuple(passages[:k]), dense, note)

    def _query(self, question: str, context: str) -> tuple[np.ndarray, SparseTerms | None]:
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
        self, query: np.ndarray, candidates: Sequence[str], query_terms: SparseTerms | None = None
    ) -> dict[str, DenseEvidence]:
        vectors = {c: passage_vectors.decode(data) for c, data in self._catalog.vectors(candidates).items()}
        return dense_evidence(query, vectors, self.settings.sentence_weight, query_terms)

    def _copies(self, stories: set[str]) -> dict[str, list[OtherCopy]]:
        """Every article of each story, as the `also_in` entries its other copies show."""
        if not stories:
            return {}
        members = self._catalog.story_members(stories)
        metas = self._catalog.article_meta({s for sources in members.values() for s in sources})
        return {
            story: [OtherCopy(s, _meta(metas, s).outlet, _meta(metas, s).date, _meta(metas, s).url) for s in sources]
            for story, sources in members.items()
        }

    def _allowed(self, scope: ArticleFilter | None) -> np.ndarray | None:
        """The lexical engine's mask of the chunks `scope` allows (the same rule as `ArticleFilter.allows`)."""
        if scope is None:
            return None
        allowed = np.ones(len(self._sources), dtype=bool)
        if scope.sources:
            allowed &= np.isin(self._sources, list(scope.sources))
        if scope.outlets:
            allowed &= np.isin(self._outlets, list(scope.outlets))
        if scope.since is not None:
            allowed &= (self._days > 0) & (self._days >= scope.since)
        if scope.until is not None:
            allowed &= (self._days > 0) & (self._days <= scope.until)
        return allowed

    def _lexical_hits(self, question: str, scope: ArticleFilter | None, factor: int = 1) -> dict[str, float]:
        if self._lexical is None:
            return {}
        hits = self._lexical.search(question, self.settings.lexical_depth * factor, allowed=self._allowed(scope))
        return {hit.chunk_id: hit.score for hit in hits}

    def _dense_hits(self, query: np.ndarray, scope: ArticleFilter | None, factor: int = 1) -> dict[str, float]:
        hits = self.store().search(query, self.settings.dense_depth * factor, where=chroma_where(scope))
        return {hit.chunk_id: hit.similarity for hit in hits}


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


def index_exists(index_dir: Path) -> bool:
    """True when `index_dir` holds a manifest."""
    return (index_dir / MANIFEST).is_file()


def ingest_pending(index_dir: Path) -> bool:
    """True while an ingest is writing (or one was interrupted and awaits repair)."""
    return (index_dir / PENDING).exists()
