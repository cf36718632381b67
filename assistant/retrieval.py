"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates, scored by both and fused, optionally reranked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.fusion import DenseEvidence, dense_evidence, fuse_scores
from assistant.records import Passage
from assistant.reranking import Reranker
from assistant.settings import AssistantSettings
from ingest import passage_vectors
from ingest.analysis import detect_language
from ingest.catalog import Catalog
from ingest.chroma_store import ChromaStore
from ingest.embedding import Embedder, EmbeddingUnavailableError, query_with_terms, resolve_model
from ingest.indexing import LEXICAL_DIR, MANIFEST, PENDING, check_model, load_embedder, open_dense_store
from ingest.latent_terms import SparseTerms
from ingest.lexical import LexicalIndex
from ingest.records import Article, Chunk
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

    def article_text(self, source: str) -> str | None:
        """The cleaned text of an indexed article."""
        article = self._catalog.article(source)
        return article.text if article else None

    def article(self, source: str) -> Article | None:
        """An indexed article as it is now (cleaned text and content hash)."""
        return self._catalog.article(source)

    def retrieve(
        self, question: str, k: int | None = None, sources: Sequence[str] | None = None, *, context: str = ""
    ) -> Retrieval:
        """The `k` best passages for `question`, optionally only from `sources`.

        `context` is an earlier question that this one follows up: its words join the lexical query and
        its vector joins the question's (at CONTEXT_WEIGHT), so the topic carries while the question's own
        words and meaning decide which passage answers it.
        """
        self.refresh()
        note = self.note
        if self._lexical is None:
            note = f"{note} The lexical index is missing or outdated: run `assistant ingest` to rebuild it.".strip()
        k = k or self.settings.k
        lexical_hits = self._lexical_hits(f"{question} {context}".strip(), sources)
        dense_hits: dict[str, float] = {}
        query: np.ndarray | None = None
        dense = self.embedder is not None
        query_terms = None
        if self.embedder is not None:
            query, query_terms = self._query(question, context)
            try:
                dense_hits = self._dense_hits(query, sources)
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
        selected = [cid for cid, _ in fused[:depth]]
        fused_score = dict(fused)
        chunks = {c.id: c for c in self._catalog.chunks(selected)}
        hashes = self._catalog.hashes({c.source for c in chunks.values()})
        passages = [
            _passage(
                chunks[cid], fused_score[cid], evidence.get(cid), dense_hits.get(cid), lexical_hits.get(cid), hashes
            )
            for cid in selected
            if cid in chunks  # a vector added by an ingest that has not committed yet is not an answer
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

    def _lexical_hits(self, question: str, sources: Sequence[str] | None) -> dict[str, float]:
        if self._lexical is None:
            return {}
        allowed = np.isin(self._sources, list(sources)) if sources else None
        hits = self._lexical.search(question, self.settings.lexical_depth, allowed=allowed)
        return {hit.chunk_id: hit.score for hit in hits}

    def _dense_hits(self, query: np.ndarray, sources: Sequence[str] | None) -> dict[str, float]:
        hits = self.store().search(query, self.settings.dense_depth, sources=sources)
        return {hit.chunk_id: hit.similarity for hit in hits}


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


def index_exists(index_dir: Path) -> bool:
    """True when `index_dir` holds a manifest."""
    return (index_dir / MANIFEST).is_file()


def ingest_pending(index_dir: Path) -> bool:
    """True while an ingest is writing (or one was interrupted and awaits repair)."""
    return (index_dir / PENDING).exists()
