"""Fusion of the lexical and dense evidence for each candidate passage (pure functions).

Every candidate (from either retriever's top list) is scored by meaning at two grains, the whole
chunk and its best sentence, then combined with its lexical score. The weights were chosen on
ARCD-train and held-apart XQuAD questions and are reported on ARCD-test and XQuAD (docs/fusion.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.analysis import Language
from ingest.latent_terms import SparseTerms
from ingest.passage_vectors import PassageVectors

LEXICAL_WEIGHT = 0.4
"""Share of the lexical score when the question and the passage are in the same language."""
CROSS_LEXICAL_WEIGHT = 0.1
"""Share of the lexical score across languages (only names, numbers and Latin words can match)."""
SENTENCE_WEIGHT = 0.6
"""Share of the best sentence's similarity in a passage's dense score (the rest is the whole chunk's)."""
TERMS_WEIGHT = 0.5
"""Share of the latent terms (ingest/latent_terms.py) in the meaning side, when the model makes them."""


@dataclass(frozen=True, slots=True)
class DenseEvidence:
    """How close a candidate passage is to the question in meaning."""

    score: float
    """(1 - w) * chunk similarity + w * best sentence similarity."""
    chunk: float
    sentences: tuple[float, ...]
    """Similarity of each sentence (in the order of ingest.passage_vectors.sentence_spans)."""
    language: Language | None
    """The passage's language, when its vectors record it."""
    terms: float | None = None
    """Dot product of the question's and the passage's latent terms, when both have them."""


def dense_evidence(
    query: np.ndarray,
    vectors: Mapping[str, PassageVectors],
    sentence_weight: float = SENTENCE_WEIGHT,
    query_terms: SparseTerms | None = None,
) -> dict[str, DenseEvidence]:
    """Chunk and sentence similarities (and latent-term scores) of every candidate that has stored vectors."""
    evidence = {}
    for chunk_id, passage in vectors.items():
        chunk, sentences = passage.similarities(query)
        best = float(sentences.max()) if len(sentences) else chunk
        score = (1.0 - sentence_weight) * chunk + sentence_weight * best
        terms = query_terms.dot(passage.terms) if query_terms is not None and passage.terms is not None else None
        evidence[chunk_id] = DenseEvidence(score, chunk, tuple(float(s) for s in sentences), passage.language, terms)
    return evidence


def fuse_scores(
    candidates: Sequence[str],
    lexical: Mapping[str, float],
    dense: Mapping[str, float],
    lexical_weights: Mapping[str, float] | float = LEXICAL_WEIGHT,
    terms: Mapping[str, float] | None = None,
    terms_weight: float = TERMS_WEIGHT,
) -> list[tuple[str, float]]:
    """A convex combination of normalized scores, best first (ties keep candidate order).

    Lexical scores are divided by the best one (a candidate outside the lexical list scores 0);
    dense scores are min-max normalized over the candidates that have one (0 for those without).
    `lexical_weights` gives each candidate's lexical share, or one share for all. With latent-term
    scores, the meaning side is (1 - terms_weight) x dense + terms_weight x terms / best terms score.
    """
    if not candidates:
        return []
    top = max((lexical.get(c, 0.0) for c in candidates), default=0.0)
    best_terms = max((v for v in (terms or {}).values() if v > 0), default=0.0)
    values = [dense[c] for c in candidates if c in dense]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    spread = high - low

    def normalized_dense(candidate: str) -> float:
        if candidate not in dense:
            return 0.0
        return (dense[candidate] - low) / spread if spread > 0 else 1.0

    scored = []
    for candidate in candidates:
        weight = lexical_weights if isinstance(lexical_weights, int | float) else lexical_weights[candidate]
        lexical_part = lexical.get(candidate, 0.0) / top if top > 0 else 0.0
        meaning = normalized_dense(candidate)
        if best_terms > 0 and terms is not None:
            meaning = (1.0 - terms_weight) * meaning + terms_weight * terms.get(candidate, 0.0) / best_terms
        scored.append((candidate, weight * lexical_part + (1.0 - weight) * meaning))
    order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
    return [scored[i] for i in order]


def fuse_rrf(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), best first (ties keep first-seen order).

    The fusion used before passage vectors existed; kept for the benchmarks' comparison rows.
    """
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def one_article_per_story(
    ranked: Sequence[tuple[str, str]], story_of: Mapping[str, str]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Ranked (chunk id, source) pairs keeping only the best-ranked article of each wire story.

    Chunks of the article that represents a story stay (an article may give several passages); chunks of
    its other copies go. Returns the kept pairs, best first, and {story: the source that represents it}.
    """
    chosen: dict[str, str] = {}
    kept = []
    for chunk_id, source in ranked:
        story = story_of.get(source)
        if story is not None and chosen.setdefault(story, source) != source:
            continue
        kept.append((chunk_id, source))
    return kept, chosen
