"""What an ingest reports: files added, updated, removed, skipped, duplicated, and what it repaired."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A file whose content is already indexed under another name."""

    path: str
    duplicate_of: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one ingest changed; `to_dict()` is the `--json` output."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    chunks: int = 0
    documents: int = 0
    embedded: int = 0
    reused: int = 0
    """Chunks of changed files whose text was already embedded elsewhere: their vectors were copied."""
    kept: int = 0
    """Chunks of changed files that did not change (same id): left in place in both indexes."""
    sentences_reused: int = 0
    """Distinct sentences of newly embedded chunks whose vectors came from the chunks they replace (an edited
    article keeps most of its sentences), not from the model."""
    repaired: bool = False
    """True when an interrupted ingest or a damaged part was repaired (see `repairs`)."""
    repairs: tuple[str, ...] = ()
    """What was repaired, one line each (e.g. "lexical index rebuilt: ...")."""
    dense: bool = False
    model: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict (lists of paths, skipped as {path, reason})."""
        return asdict(self)
