"""Checksums of the derived files of an index, recorded when they are written and verified before use.

Each file is recorded with its size, SHA-256 and the stat fields that change whenever it is written
(modification and change time, inode). A quick check trusts a file whose stat fields still match the
record and hashes only the others; a deep check (`assistant status`) hashes every file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class FileSum:
    """What was recorded of one file when it was written."""

    size: int
    sha256: str
    mtime_ns: int
    ctime_ns: int
    inode: int

    def to_json(self) -> list[object]:
        """Compact JSON form: [size, sha256, mtime_ns, ctime_ns, inode]."""
        return list(asdict(self).values())

    @classmethod
    def from_json(cls, value: object) -> FileSum:
        """The inverse of `to_json` (raises ValueError on anything else)."""
        if not isinstance(value, list) or len(value) != 5:
            raise ValueError(f"not a file checksum record: {value!r}")
        size, sha256, mtime_ns, ctime_ns, inode = value
        if not (isinstance(sha256, str) and all(isinstance(v, int) for v in (size, mtime_ns, ctime_ns, inode))):
            raise ValueError(f"not a file checksum record: {value!r}")
        return cls(size, sha256, mtime_ns, ctime_ns, inode)


def hash_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_READ):
            digest.update(block)
    return digest.hexdigest()


def sum_files(
    directory: Path, names: Iterable[str], previous: Mapping[str, FileSum] | None = None, *, linked: bool = False
) -> dict[str, FileSum]:
    """Record `names` under `directory`, reusing a previous record whose stat fields still match.

    With `linked`, `previous` records files that the caller hard-linked into `directory` after checking them:
    their change time moved with the link, so a record whose size, modification time and inode match is reused.
    """
    sums: dict[str, FileSum] = {}
    for name in sorted(names):
        stat = (directory / name).stat()
        known = (previous or {}).get(name)
        if known is not None and _same_stat(known, stat):
            sums[name] = known
            continue
        if known is not None and linked and _same_but_links(known, stat):
            sums[name] = replace(known, ctime_ns=stat.st_ctime_ns)
            continue
        sums[name] = FileSum(stat.st_size, hash_file(directory / name), stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    return sums


def stamp_files(directory: Path, names: Iterable[str]) -> dict[str, FileSum]:
    """Record `names` by size and stat fields only (`sha256` empty): files whose bytes are not stable."""
    sums: dict[str, FileSum] = {}
    for name in sorted(names):
        stat = (directory / name).stat()
        sums[name] = FileSum(stat.st_size, "", stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    return sums


def changed_files(directory: Path, sums: Mapping[str, FileSum]) -> list[str]:
    """Names of recorded files that are missing or whose size or stat fields differ from the record."""
    changed = []
    for name, recorded in sorted(sums.items()):
        try:
            stat = (directory / name).stat()
        except OSError:
            changed.append(name)
            continue
        if not _same_stat(recorded, stat):
            changed.append(name)
    return changed


def restamp(directory: Path, sums: Mapping[str, FileSum]) -> dict[str, FileSum]:
    """The same checksums with the files' current stat fields (after a full check found them intact)."""
    stamped = {}
    for name, recorded in sums.items():
        stat = (directory / name).stat()
        stamped[name] = FileSum(recorded.size, recorded.sha256, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    return stamped


def unlinked(directory: Path, sums: Mapping[str, FileSum]) -> dict[str, FileSum]:
    """`sums` with the change time of each file that lost its other hard links since it was recorded.

    Adding or removing a hard link changes a file's change time and not a byte of it. Only a file with
    one link left whose size, modification time and inode still match its record is restamped; any other
    record is kept as it was (and the next check hashes that file).
    """
    stamped = dict(sums)
    for name, recorded in sums.items():
        try:
            stat = (directory / name).stat()
        except OSError:
            continue
        if stat.st_nlink == 1 and stat.st_ctime_ns != recorded.ctime_ns and _same_but_links(recorded, stat):
            stamped[name] = replace(recorded, ctime_ns=stat.st_ctime_ns)
    return stamped


def check_files(directory: Path, sums: Mapping[str, FileSum], *, deep: bool = False) -> list[str]:
    """What is wrong with the recorded files (empty when all are intact).

    A file whose size, times and inode match its record is trusted unless `deep`; any other is hashed.
    """
    problems: list[str] = []
    for name, recorded in sorted(sums.items()):
        path = directory / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            problems.append(f"{name} is missing")
            continue
        except OSError as error:
            problems.append(f"{name} cannot be read ({error.strerror})")
            continue
        if stat.st_size != recorded.size:
            problems.append(f"{name} has {stat.st_size:,} bytes, {recorded.size:,} were written")
            continue
        if deep or not _same_stat(recorded, stat):
            try:
                digest = hash_file(path)
            except OSError as error:
                problems.append(f"{name} cannot be read ({error.strerror})")
                continue
            if digest != recorded.sha256:
                problems.append(f"{name} does not match its checksum (its content changed after it was written)")
    return problems


def _same_stat(recorded: FileSum, stat: os.stat_result) -> bool:
    return _same_but_links(recorded, stat) and recorded.ctime_ns == stat.st_ctime_ns


def _same_but_links(recorded: FileSum, stat: os.stat_result) -> bool:
    """The same file with the same bytes as far as its stat tells, its change time aside (a link changes it)."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (recorded.size, recorded.mtime_ns, recorded.inode)
