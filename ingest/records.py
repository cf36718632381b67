"""The values that flow through ingest: an Article and its Chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned document; `source` is its path relative to the documents folder."""

    source: str
    title: str
    text: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of an article: `text == article.text[start:end]`."""

    id: str
    source: str
    title: str
    number: int
    start: int
    end: int
    text: str
