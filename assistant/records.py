"""The values the read side returns: retrieved passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Language = Literal["ar", "en"]
Mode = Literal["extractive", "llm", "lexical-only", "extractive-fallback"]


@dataclass(frozen=True, slots=True)
class Closeness:
    """How close the index came to a question in meaning, against generic text (assistant/background.py)."""

    best: float
    """Cosine of the question's vector and the index's closest chunk (the dense retriever's first hit)."""
    background: float
    """The question's background level: its mean cosine to the nearest generic Arabic passages."""


@dataclass(frozen=True, slots=True)
class OtherCopy:
    """Another article carrying the same wire story as a cited passage."""

    source: str
    outlet: str | None = None
    date: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its scores and the retrievers that found it."""

    chunk_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    """Fused score (words and meaning mixed by assistant.fusion, or the reranker's score when reranking)."""
    dense_score: float | None
    """Cosine similarity of the whole chunk to the question (None without vectors)."""
    lexical_score: float | None
    """Fused BM25 score (word + character fields), when the lexical retriever found it."""
    found_by: tuple[str, ...]
    """The retrievers whose top lists held it ("dense", "lexical")."""
    sentence_scores: tuple[float, ...] | None = None
    """Similarity of each sentence (ingest.passage_vectors.sentence_spans of `text`) to the question."""
    content_hash: str = ""
    """SHA-256 of the article's file when this passage was retrieved (the manifest's hash)."""
    date: str | None = None
    """The article's publication date, ISO 8601 (ingest.metadata), when known."""
    outlet: str | None = None
    author: str | None = None
    url: str | None = None
    """The article's http(s) address, when known."""
    also_in: tuple[OtherCopy, ...] = ()
    """Other articles of the same wire story (not given a passage of their own)."""
    terms_score: float | None = None
    """Dot product of the question's and the passage's latent terms (None without them)."""


@dataclass(frozen=True, slots=True)
class Citation:
    """What an [n] in the answer points to: a file and the exact passage."""

    number: int
    source: str
    """Path of the article, relative to the documents folder."""
    title: str
    passage: str
    quote: str
    """The sentence(s) of the passage that the answer used."""
    start: int
    end: int
    """Offsets of the passage in the cleaned article text."""
    score: float
    supported: bool
    """True when the cited sentence was checked against its passage and matched."""
    content_hash: str = ""
    """SHA-256 of the article as it was quoted: the viewer warns when the article has changed since."""
    date: str | None = None
    """Publication date of the article (ISO 8601), None when unknown."""
    outlet: str | None = None
    author: str | None = None
    url: str | None = None
    """The article's http(s) address, None when unknown."""
    also_in: tuple[OtherCopy, ...] = ()
    """The same wire story in other articles: source, outlet, date, url of each."""

    @classmethod
    def of(cls, number: int, passage: Passage, quote: str, supported: bool) -> Citation:
        """The citation [number] of a retrieved passage."""
        return cls(
            number,
            passage.source,
            passage.title,
            passage.text,
            quote,
            passage.start,
            passage.end,
            passage.score,
            supported,
            passage.content_hash,
            passage.date,
            passage.outlet,
            passage.author,
            passage.url,
            passage.also_in,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """A short answer in the question's language whose [n] markers map to `citations`."""

    text: str
    language: Language
    abstained: bool
    mode: Mode
    citations: tuple[Citation, ...]
    note: str = ""
    """One line about how the answer was made (lexical only, LLM fallback, ...); empty when nothing to say."""
    question: str = ""
    """The question as retrieval saw it (rewritten when it was a follow-up)."""
    unsupported: tuple[str, ...] = ()
    """Sentences of an LLM answer that cite no passage; the text marks each of them visibly."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (the shape of `assistant ask --json`)."""
        return asdict(self)
