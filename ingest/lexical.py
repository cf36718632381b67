"""The Arabic-aware lexical (BM25) index: what it stores, and the small interface every engine provides.

A chunk is indexed as two fields of terms made by `ingest.analysis` (the one analyzer of documents and
questions alike): stemmed words, and the character n-grams of each word. A question's score is
`words / max(words) + grams_weight * grams / max(grams)`, each field's BM25 score divided by the best
score that field gives any chunk (docs/lexical.md chose this recipe by measurement).

The index lives in generations: each ingest writes generation g as a new directory beside g-1 (sharing
g-1's immutable files by hard link), records the checksum of every file in it, and only then becomes
live. The engine is tantivy (`ingest.tantivy_lexical`), chosen by measurement against SQLite FTS5 and
a segmented bm25s (docs/lexical.md, "Choosing the engine").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ingest.analysis import DEFAULT_ANALYZER, AnalyzerConfig, content_tokens, gram_terms, word_terms

FIELDS = ("words", "grams")


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """One chunk found by the lexical index."""

    chunk_id: str
    score: float


@dataclass(frozen=True, slots=True)
class LexicalParams:
    """Field fusion and candidate depth (chosen by measurement, docs/lexical.md); BM25 has k1=1.2, b=0.75."""

    grams_weight: float = 1.0
    """Weight of the max-normalized n-gram field score added to the word field's."""
    candidates: int = 30
    """Chunks taken from each candidate query (best words, best rarest n-grams) before exact scoring."""
    rare_grams: int = 4
    """How many of the question's n-grams (the rarest) choose the n-gram candidates."""


DEFAULT_PARAMS = LexicalParams()


@dataclass(frozen=True, slots=True)
class LexicalDocument:
    """A chunk as the lexical index stores it: its id, its source (for filters) and its encoded terms."""

    chunk_id: str
    source: str
    terms: str
    """`encode_terms(analyze_fields(text))`, as the manifest keeps it."""


@dataclass(frozen=True, slots=True)
class LexicalChange:
    """What one ingest changes: chunks to add and the ids of chunks to remove."""

    added: tuple[LexicalDocument, ...] = ()
    removed: tuple[str, ...] = ()


class LexicalDamagedError(RuntimeError):
    """A file of the lexical index is missing, truncated or changed; `assistant ingest` rebuilds it."""


class LexicalIndex(Protocol):
    """A live generation of the lexical index, opened for searching."""

    generation: int

    def search(self, query: str, k: int = 10, sources: Sequence[str] | None = None) -> list[LexicalHit]:
        """The `k` best chunks for `query`, best first; only chunks of `sources` when given."""
        ...

    def count(self) -> int:
        """Number of chunks indexed."""
        ...

    def ids(self) -> Iterator[str]:
        """Every indexed chunk id (for checks and repair)."""
        ...

    def close(self) -> None:
        """Release the engine's files."""
        ...


def analyze_fields(text: str, config: AnalyzerConfig = DEFAULT_ANALYZER) -> dict[str, list[str]]:
    """Terms of every field for one text (used for documents and queries alike)."""
    tokens = content_tokens(text, config)
    fields = {"words": word_terms(tokens, config)}
    if config.char_ngram:
        fields["grams"] = gram_terms(tokens, config)
    return fields


def encode_terms(fields: dict[str, list[str]]) -> str:
    """Analyzed fields as one string for the manifest (terms never contain whitespace)."""
    return "\t".join(" ".join(fields.get(field, [])) for field in FIELDS)


def decode_terms(text: str) -> dict[str, list[str]]:
    """The inverse of `encode_terms`."""
    return {field: part.split() for field, part in zip(FIELDS, text.split("\t"), strict=False)}
