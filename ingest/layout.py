"""Where each part of an index lives, and the state file that names the live generation.

```
<index>/
  manifest.sqlite3   files, hashes, cleaned texts, chunks and their terms: the record of truth
  chroma/            Chroma PersistentClient (unless the vectors live on a Chroma server)
  lexical/gen-*/     lexical generations (tantivy files + checksums.json)
  state.json         the live generation: its lexical directory and the checksums of the derived parts
  .pending           present while an ingest writes (or after one was interrupted): repair on next run
  .lock              the single-writer lock
```

An ingest writes `state.json` last (atomically), after the manifest, the vectors and the lexical
generation all hold generation g. Readers move to a new generation when `state.json` changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.checksums import FileSum
from ingest.files import hash_bytes, write_atomic
from ingest.settings import Settings

MANIFEST = "manifest.sqlite3"
CHROMA_DIR = "chroma"
LEXICAL_DIR = "lexical"
STATE = "state.json"
PENDING = ".pending"
LOCK = ".lock"
STATE_FORMAT = 1


class StateDamagedError(RuntimeError):
    """`state.json` cannot be read or does not match its own checksum."""


@dataclass(frozen=True, slots=True)
class IndexLayout:
    """The paths of one index directory."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def chroma(self) -> Path:
        return self.root / CHROMA_DIR

    @property
    def lexical(self) -> Path:
        return self.root / LEXICAL_DIR

    @property
    def state(self) -> Path:
        return self.root / STATE

    @property
    def pending(self) -> Path:
        return self.root / PENDING

    def holds_index(self) -> bool:
        """True when anything of an index is here besides the lock (a manifest, vectors, lexical files, state)."""
        return any(p.exists() for p in (self.manifest, self.state, self.lexical)) or (
            self.chroma.is_dir() and any(self.chroma.iterdir())
        )


@dataclass(frozen=True, slots=True)
class IndexState:
    """What `state.json` records: the live generation of every part."""

    generation: int
    lexical: str
    """Name of the live lexical generation directory under lexical/."""
    lexical_checksum: str
    """SHA-256 of that directory's checksums.json."""
    dense_count: int
    """Vectors in Chroma when the generation was written."""
    dense_files: dict[str, FileSum] = field(default_factory=dict)
    """Chroma's vector index files (relative to chroma/) that never change between ingests; empty for a server."""
    manifest_stat: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Size, modification time, change time and inode of the manifest as the ingest left it."""
    chroma_stat: tuple[int, int, int, int] = (0, 0, 0, 0)
    """The same of an embedded store's chroma.sqlite3 (zeros: not recorded; a server)."""
    written_at: str = ""

    def same_generation(self, other: IndexState | None) -> bool:
        """True when `other` names the same live parts (a later ingest may only have recorded file stats)."""
        return other is not None and (
            self.generation,
            self.lexical,
            self.lexical_checksum,
            self.dense_count,
            self.dense_files,
        ) == (other.generation, other.lexical, other.lexical_checksum, other.dense_count, other.dense_files)

    def to_json(self) -> str:
        """The file's text, with a checksum of its own content."""
        body = {
            "format": STATE_FORMAT,
            "generation": self.generation,
            "lexical": self.lexical,
            "lexical_checksum": self.lexical_checksum,
            "dense_count": self.dense_count,
            "dense_files": {name: s.to_json() for name, s in sorted(self.dense_files.items())},
            "manifest_stat": list(self.manifest_stat),
            "chroma_stat": list(self.chroma_stat),
            "written_at": self.written_at or datetime.now(UTC).isoformat(timespec="seconds"),
        }
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        return json.dumps({"checksum": hash_bytes(text.encode("utf-8")), "state": json.loads(text)}, indent=1)


def dense_location(settings: Settings) -> Path | str:
    """Where the vectors live: the Chroma server URL, else `<index>/chroma`."""
    return settings.chroma_url or IndexLayout(settings.index_dir).chroma


def read_state(layout: IndexLayout) -> IndexState | None:
    """The live state, None when there is none yet (raises StateDamagedError when it cannot be trusted)."""
    try:
        data = layout.state.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateDamagedError(f"{STATE} cannot be read ({error.strerror})") from error
    try:
        outer = json.loads(data.decode("utf-8"))
        body = outer["state"]
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        if hash_bytes(text.encode("utf-8")) != outer["checksum"]:
            raise StateDamagedError(f"{STATE} does not match its own checksum")
        if body["format"] != STATE_FORMAT:
            raise StateDamagedError(f"{STATE} has format {body['format']!r}, this version reads {STATE_FORMAT}")
        return IndexState(
            generation=int(body["generation"]),
            lexical=str(body["lexical"]),
            lexical_checksum=str(body["lexical_checksum"]),
            dense_count=int(body["dense_count"]),
            dense_files={name: FileSum.from_json(value) for name, value in body["dense_files"].items()},
            manifest_stat=_stat_tuple(body["manifest_stat"]),
            chroma_stat=_stat_tuple(body.get("chroma_stat", [0, 0, 0, 0])),  # absent before it was recorded
            written_at=str(body["written_at"]),
        )
    except StateDamagedError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise StateDamagedError(f"{STATE} is not a valid state record ({type(error).__name__}: {error})") from error


def manifest_stat(layout: IndexLayout) -> tuple[int, int, int, int]:
    """The manifest file's size, modification time, change time and inode now ((0, 0, 0, 0) when absent)."""
    return _file_stat(layout.manifest)


def chroma_stat(layout: IndexLayout) -> tuple[int, int, int, int]:
    """The same of an embedded store's chroma.sqlite3; zeros while a rollback journal beside it is not done."""
    database = layout.chroma / "chroma.sqlite3"
    if database.with_name("chroma.sqlite3-journal").exists():
        return (0, 0, 0, 0)
    return _file_stat(database)


def _file_stat(path: Path) -> tuple[int, int, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0, 0, 0)
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def _stat_tuple(value: object) -> tuple[int, int, int, int]:
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"not a file stat: {value!r}")
    return (value[0], value[1], value[2], value[3])


def write_state(layout: IndexLayout, state: IndexState) -> None:
    """Make `state` the live one (atomic replace)."""
    write_atomic(layout.state, state.to_json())
