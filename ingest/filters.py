"""Which articles a question may be answered from: documents, a date range, outlets.

One `ArticleFilter` goes to both retrievers, so each searches only the articles it allows: Chroma
through a `where` clause on the metadata stored with every vector (`chroma_where`), the lexical
engine through its source filter, given the articles the manifest finds within the dates and outlets
(`ingest.reader.Snapshot.scope_sources`). Neither cuts a top-k afterwards, so a filter that keeps one article
in a thousand still fills the k passages from that article.

An article without a date is outside every date range (it cannot be shown to be inside one); an
article without an outlet is outside every outlet filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ingest.dates import date_key, parse_date
from ingest.declarations import SettingError
from ingest.metadata import outlet_key

DAY_FIELD = "day"
"""Chroma metadata (and the manifest's article_meta column) holding the article's date as a number, 20190323."""
OUTLET_FIELD = "outlet_key"
"""Chroma metadata (and manifest column) holding the outlet as `ingest.metadata.outlet_key` writes it."""
SOURCE_FIELD = "source"


class FilterError(SettingError):
    """A filter value that is not allowed; the message says what is."""


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Documents, dates and outlets a search is limited to; empty fields limit nothing."""

    sources: tuple[str, ...] = ()
    since: int | None = None
    """First day allowed, as `ingest.dates.date_key` (20190101)."""
    until: int | None = None
    """Last day allowed (inclusive)."""
    outlets: tuple[str, ...] = ()
    """Outlet keys (`ingest.metadata.outlet_key`)."""

    @classmethod
    def of(
        cls,
        sources: Iterable[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        outlets: Iterable[str] | None = None,
    ) -> ArticleFilter:
        """A filter from what a person gives: dates as "2019-01-01" (or any form ingest.dates reads), outlet names.

        Raises FilterError for a date that is not one, an empty outlet name, or `since` after `until`.
        """
        first, last = _day(since, "since"), _day(until, "until")
        if first is not None and last is not None and first > last:
            raise FilterError(f"since ({_shown(first)}) is after until ({_shown(last)}); swap them")
        names = _names(outlets, "outlets", "outlet names, e.g. ['الشرق الأوسط']")
        keys = tuple(dict.fromkeys(outlet_key(n) for n in names))
        return cls(_names(sources, "sources", "document paths"), first, last, keys)

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.sources or self.outlets) and self.since is None and self.until is None

    @property
    def dated(self) -> bool:
        """True when a date range is set."""
        return self.since is not None or self.until is not None

    def allows(self, source: str, day: int | None, outlet: str | None) -> bool:
        """Whether one article (its source, `date_key` and outlet name) passes (the reference for both engines)."""
        if self.sources and source not in self.sources:
            return False
        if self.outlets and outlet_key(outlet) not in self.outlets:
            return False
        if self.since is not None and (day is None or day < self.since):
            return False
        return not (self.until is not None and (day is None or day > self.until))

    def describe(self) -> str:
        """The filter in words, for notes and logs ("since 2019-01-01, outlets: الحرة")."""
        parts = []
        if self.since is not None:
            parts.append(f"since {_shown(self.since)}")
        if self.until is not None:
            parts.append(f"until {_shown(self.until)}")
        if self.outlets:
            parts.append("outlets: " + ", ".join(self.outlets))
        if self.sources:
            parts.append(f"{len(self.sources)} document(s)")
        return ", ".join(parts)


def chroma_where(scope: ArticleFilter | None) -> dict[str, Any] | None:
    """The Chroma `where` clause of a filter (None when it filters nothing)."""
    if scope is None or scope.empty:
        return None
    clauses: list[dict[str, Any]] = []
    if scope.sources:
        clauses.append({SOURCE_FIELD: {"$in": list(scope.sources)}})
    if scope.outlets:
        clauses.append({OUTLET_FIELD: {"$in": list(scope.outlets)}})
    if scope.since is not None:
        clauses.append({DAY_FIELD: {"$gte": scope.since}})
    if scope.until is not None:
        clauses.append({DAY_FIELD: {"$lte": scope.until}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _day(value: str | date | None, name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        value = value.date()
    iso = value.isoformat() if isinstance(value, date) else parse_date(value) if isinstance(value, str) else None
    key = date_key(iso)
    if key is None:
        raise FilterError(f"{name} must be a date such as 2019-01-01, not {value!r}")
    return key


def _names(values: Iterable[str] | None, name: str, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes):
        raise FilterError(f"{name} must be a list of {what}, e.g. [{values!r}], not {values!r}")
    items = list(values)
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise FilterError(f"{name} must hold {what} (non-empty text), not {items!r}")
    return tuple(dict.fromkeys(items))


def _shown(key: int) -> str:
    return f"{key // 10_000:04d}-{key // 100 % 100:02d}-{key % 100:02d}"
