"""Planning an ingest: which files are added, updated, unchanged, duplicates or removed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.catalog import FileRecord
from ingest.reports import Duplicate
from ingest.scanning import Scanned


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with every file."""

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    duplicates: list[Duplicate]
    to_index: list[str]
    to_remove: list[str]
    new_duplicates: list[FileRecord]

    @property
    def has_changes(self) -> bool:
        """True when the manifest must change."""
        return bool(self.to_index or self.to_remove or self.new_duplicates)

    def after_failures(self, failed: set[str]) -> Plan:
        """Files that could not be read are reported as skipped (and removed if they were indexed)."""
        return Plan(
            [s for s in self.added if s not in failed],
            [s for s in self.updated if s not in failed],
            sorted({*self.removed, *(s for s in self.updated if s in failed)}),
            self.unchanged,
            self.duplicates,
            self.to_index,
            self.to_remove,
            self.new_duplicates,
        )


def plan_changes(
    scanned: dict[str, Scanned], known: dict[str, FileRecord], roots: Sequence[Path], chunkers: frozenset[str]
) -> Plan:
    """Classify every file: added, updated, unchanged, duplicate, removed."""
    dirs = [r.resolve() for r in roots if r.is_dir()]
    files = {r.resolve() for r in roots if r.is_file()}

    def in_scope(record: FileRecord) -> bool:
        origin = Path(record.origin)
        return origin in files or any(origin.is_relative_to(d) for d in dirs)

    removed = sorted(s for s, r in known.items() if s not in scanned and in_scope(r))
    owner: dict[str, str] = {}
    for source, record in known.items():
        kept = source not in removed and (source not in scanned or scanned[source].hash == record.hash)
        if record.duplicate_of is None and kept:
            owner.setdefault(record.hash, source)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    duplicates: list[Duplicate] = []
    new_duplicates: list[FileRecord] = []
    for source in sorted(scanned):
        entry = scanned[source]
        previous = known.get(source)
        canonical = owner.setdefault(entry.hash, source)
        if canonical != source:
            duplicates.append(Duplicate(source, canonical))
            if previous is None or previous.duplicate_of != canonical or previous.hash != entry.hash:
                new_duplicates.append(FileRecord(source, entry.origin, entry.hash, entry.stat.size, canonical, "", ""))
        elif previous is None or previous.duplicate_of is not None:
            added.append(source)
        elif previous.hash != entry.hash or previous.chunker not in chunkers:
            updated.append(source)
        else:
            unchanged.append(source)
    return Plan(added, updated, removed, unchanged, duplicates, added + updated, removed, new_duplicates)
