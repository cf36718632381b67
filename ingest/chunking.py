"""Sentence-aware chunking sized in the embedding model's tokens."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.analysis import split_sentences
from ingest.records import Article, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class ChunkerSettings:
    """Chunk size in model tokens and overlap in sentences."""

    max_tokens: int = 200
    overlap_sentences: int = 1
    tokenizer: str = "approx"
    """Which token counter sized the chunks (the model id, or "approx" without a model)."""

    def fingerprint(self) -> str:
        """Recorded per file: chunks built under another fingerprint are rebuilt."""
        return f"{self.tokenizer}|{self.max_tokens}|{self.overlap_sentences}"


def chunk_id(source: str, start: int, text: str) -> str:
    """Stable id of a chunk, derived from its source path, position and content."""
    digest = hashlib.sha256(f"{source}\x00{start}\x00{text}".encode()).hexdigest()
    return digest[:32]


def chunk_article(article: Article, settings: ChunkerSettings, count_tokens: TokenCounter) -> tuple[Chunk, ...]:
    """Chunks of `article`: whole sentences up to `max_tokens`, overlapping by whole sentences.

    A sentence longer than the limit is cut between words. Offsets index into
    `article.text`, so `article.text[chunk.start:chunk.end] == chunk.text`.
    """
    text = article.text
    units = _units(text, settings.max_tokens, count_tokens)
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        last = first
        total = units[first][2]
        while last + 1 < len(units) and total + units[last + 1][2] <= settings.max_tokens:
            last += 1
            total += units[last][2]
        start, end = units[first][0], units[last][1]
        body = text[start:end]
        chunks.append(
            Chunk(chunk_id(article.source, start, body), article.source, article.title, len(chunks), start, end, body)
        )
        if last + 1 >= len(units):
            break
        first = _next_first(units, first, last, settings)
    return tuple(chunks)


def _next_first(units: list[tuple[int, int, int]], first: int, last: int, settings: ChunkerSettings) -> int:
    """Start the next chunk a few sentences back (overlap), keeping room and always advancing."""
    overlap = min(settings.overlap_sentences, last - first)
    while overlap > 0:
        carried = sum(u[2] for u in units[last - overlap + 1 : last + 1])
        if carried <= settings.max_tokens // 2:
            break
        overlap -= 1
    return last + 1 - overlap


def _units(text: str, max_tokens: int, count_tokens: TokenCounter) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of each sentence, long sentences split between words."""
    spans = split_sentences(text)
    counts = count_tokens([text[s:e] for s, e in spans])
    units: list[tuple[int, int, int]] = []
    for (start, end), tokens in zip(spans, counts, strict=True):
        if tokens <= max_tokens:
            units.append((start, end, tokens))
        else:
            units.extend(_split_long(text, start, end, max_tokens, count_tokens))
    return units


def _split_long(
    text: str, start: int, end: int, max_tokens: int, count_tokens: TokenCounter
) -> list[tuple[int, int, int]]:
    words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(text[start:end])]
    counts = count_tokens([text[s:e] for s, e in words])
    pieces: list[tuple[int, int, int]] = []
    piece_start, piece_end, total = words[0][0], words[0][1], 0
    for (word_start, word_end), tokens in zip(words, counts, strict=True):
        if total and total + tokens > max_tokens:
            pieces.append((piece_start, piece_end, total))
            piece_start, total = word_start, 0
        piece_end = word_end
        total += tokens
    pieces.append((piece_start, piece_end, total))
    return pieces
