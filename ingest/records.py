"""The values that flow through ingest: an Article and its Chunks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Metadata:
    """What is known of an article besides its text (ingest.metadata); None where it is not known."""

    title: str | None = None
    date: str | None = None
    """ISO 8601: a date ("2019-03-23"), or a date and time when the source gave one."""
    outlet: str | None = None
    author: str | None = None
    url: str | None = None
    """An absolute http(s) URL; other schemes are never kept."""

    def or_else(self, fallback: Metadata) -> Metadata:
        """These values, each missing one taken from `fallback`."""
        return Metadata(
            self.title or fallback.title,
            self.date or fallback.date,
            self.outlet or fallback.outlet,
            self.author or fallback.author,
            self.url or fallback.url,
        )


@dataclass(frozen=True, slots=True)
class Article:
    """One cleaned document; `source` is its path relative to the documents folder."""

    source: str
    title: str
    text: str
    content_hash: str
    meta: Metadata = field(default_factory=Metadata)


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
