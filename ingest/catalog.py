"""The manifest: file -> content hash -> chunks, with each article's cleaned text.

A SQLite database (`<index>/manifest.sqlite3`). Each ingest commits its changes in one
transaction, so the manifest moves from one consistent state to the next; it is the
record of truth that the dense and lexical indexes are repaired against.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.records import Article, Chunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    duplicate_of TEXT,
    title TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    chunker TEXT NOT NULL DEFAULT '',
    mtime_ns INTEGER,
    ctime_ns INTEGER,
    inode INTEGER,
    hashed_at_ns INTEGER
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    terms TEXT
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source, number);
CREATE TABLE IF NOT EXISTS vectors (
    chunk_id TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the manifest knows of one file (`duplicate_of` set for an unindexed duplicate)."""

    source: str
    origin: str
    hash: str
    size: int
    duplicate_of: str | None
    title: str
    chunker: str


@dataclass(frozen=True, slots=True)
class FileStat:
    """A file's content hash with the stat fields it had when it was hashed (see `ingest.scanning`)."""

    hash: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    hashed_at_ns: int

    @classmethod
    def of(cls, stat: os.stat_result, digest: str, hashed_at_ns: int) -> FileStat:
        """The record of a file just hashed."""
        return cls(digest, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, hashed_at_ns)


_STAT_COLUMNS = {"mtime_ns": "INTEGER", "ctime_ns": "INTEGER", "inode": "INTEGER", "hashed_at_ns": "INTEGER"}


class Catalog:
    """Read and write access to the manifest database."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
            if "terms" not in columns:  # a manifest written before analyzed terms were kept
                self._db.execute("ALTER TABLE chunks ADD COLUMN terms TEXT")
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
            for column, kind in _STAT_COLUMNS.items():  # a manifest written before scans reused hashes
                if column not in columns:
                    self._db.execute(f"ALTER TABLE files ADD COLUMN {column} {kind}")
        self._db.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def begin_snapshot(self) -> None:
        """Hold one read transaction from now on, so every read sees the same committed state (WAL keeps it)."""
        self._db.execute("BEGIN")
        self._db.execute("SELECT COUNT(*) FROM meta").fetchone()

    # meta -------------------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        """All recorded settings and counters."""
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def generation(self) -> int:
        """Number of committed changes; the lexical index records the one it was built from."""
        return int(self.meta().get("generation", "0"))

    # reads ------------------------------------------------------------------------------------------
    def files(self) -> dict[str, FileRecord]:
        """Every file the manifest knows, by source path."""
        rows = self._db.execute("SELECT source, origin, hash, size, duplicate_of, title, chunker FROM files").fetchall()
        return {row[0]: FileRecord(*row) for row in rows}

    def file_table(self) -> tuple[dict[str, FileRecord], dict[str, FileStat]]:
        """`files()` and `file_stats()` in one read of the files table (a scan needs both)."""
        records: dict[str, FileRecord] = {}
        stats: dict[str, FileStat] = {}
        query = (
            "SELECT source, origin, hash, size, duplicate_of, title, chunker, mtime_ns, ctime_ns, inode, hashed_at_ns "
            "FROM files"
        )
        for row in self._db.execute(query):
            records[row[0]] = FileRecord(*row[:7])
            if row[10] is not None:
                stats[row[0]] = FileStat(row[2], row[3], row[7], row[8], row[9], row[10])
        return records, stats

    def file_stats(self) -> dict[str, FileStat]:
        """The recorded stat of every file that has one, by source path."""
        rows = self._db.execute(
            "SELECT source, hash, size, mtime_ns, ctime_ns, inode, hashed_at_ns FROM files "
            "WHERE hashed_at_ns IS NOT NULL"
        ).fetchall()
        return {row[0]: FileStat(*row[1:]) for row in rows}

    def article(self, source: str) -> Article | None:
        """The cleaned article stored for `source`."""
        row = self._db.execute("SELECT source, title, text, hash FROM files WHERE source = ?", (source,)).fetchone()
        return Article(*row) if row else None

    def hashes(self, sources: Iterable[str]) -> dict[str, str]:
        """Content hashes of the files `sources` that the manifest knows."""
        wanted = list(sources)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            marks = ",".join("?" * len(batch))
            found.update(self._db.execute(f"SELECT source, hash FROM files WHERE source IN ({marks})", batch))
        return found

    def chunk_ids(self, sources: Iterable[str] | None = None) -> list[str]:
        """Ids of the chunks of `sources` (all chunks when None)."""
        if sources is None:
            return [row[0] for row in self._db.execute("SELECT id FROM chunks ORDER BY source, number")]
        ids: list[str] = []
        for source in sources:
            ids.extend(
                row[0] for row in self._db.execute("SELECT id FROM chunks WHERE source = ? ORDER BY number", (source,))
            )
        return ids

    def chunks(self, ids: Sequence[str] | None = None) -> Iterator[Chunk]:
        """Chunks by id (all, in source order, when None); unknown ids are skipped."""
        query = (
            "SELECT c.id, c.source, f.title, c.number, c.start, c.end, c.text "
            "FROM chunks c JOIN files f ON f.source = c.source"
        )
        if ids is None:
            for row in self._db.execute(query + " ORDER BY c.source, c.number"):
                yield Chunk(*row)
            return
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            found = {row[0]: Chunk(*row) for row in self._db.execute(f"{query} WHERE c.id IN ({marks})", batch)}
            yield from (found[i] for i in batch if i in found)

    def chunk_terms(self) -> Iterator[tuple[str, str, str, str | None]]:
        """(id, source, text, stored analyzed terms or None) of every chunk, in source order."""
        yield from self._db.execute("SELECT id, source, text, terms FROM chunks ORDER BY source, number")

    def set_terms(self, terms: Iterable[tuple[str, str]], version: str) -> None:
        """Store analyzed terms (chunk id, terms) computed by analyzer `version`."""
        with self._db:
            self._db.executemany("UPDATE chunks SET terms = ? WHERE id = ?", [(t, i) for i, t in terms])
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('terms_version', ?)", (version,))

    def quick_check(self) -> list[str]:
        """SQLite's `PRAGMA quick_check`: ["ok"], or what it found wrong (reads every page)."""
        return [str(row[0]) for row in self._db.execute("PRAGMA quick_check")]

    def checkpoint(self) -> None:
        """Move committed changes from the write-ahead log into the database file, as far as readers allow."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def vectors(self, ids: Sequence[str]) -> dict[str, bytes]:
        """Encoded chunk and sentence vectors (ingest.passage_vectors) of those `ids` that have them."""
        found: dict[str, bytes] = {}
        try:
            for start in range(0, len(ids), 500):
                batch = list(ids[start : start + 500])
                marks = ",".join("?" * len(batch))
                query = f"SELECT chunk_id, data FROM vectors WHERE chunk_id IN ({marks})"
                found.update(self._db.execute(query, batch))
        except sqlite3.OperationalError:  # a read-only manifest written before the table existed
            return {}
        return found

    def chunks_without_vectors(self) -> list[str]:
        """Ids of chunks that have no vectors row yet (indexed without the model, or before rows existed)."""
        query = "SELECT c.id FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id WHERE v.chunk_id IS NULL"
        return [row[0] for row in self._db.execute(query)]

    def set_vectors(self, vectors: Iterable[tuple[str, bytes]], meta: dict[str, str] | None = None) -> None:
        """Store vectors rows for existing chunks (and record `meta`) in one transaction."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (chunk_id, data) VALUES (?, ?)", list(vectors))
            if meta:
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))

    def counts(self) -> tuple[int, int]:
        """(indexed documents, chunks)."""
        documents = self._db.execute("SELECT COUNT(*) FROM files WHERE duplicate_of IS NULL").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(documents), int(chunks)

    # writes -----------------------------------------------------------------------------------------
    def commit_changes(
        self,
        remove: Iterable[str],
        articles: Sequence[tuple[FileRecord, Article, Sequence[Chunk], Sequence[str]]],
        duplicates: Sequence[FileRecord],
        meta: dict[str, str],
        stats: Mapping[str, FileStat] | None = None,
        vectors: Mapping[str, bytes] | None = None,
    ) -> int:
        """Apply one ingest's changes in a single transaction; returns the new generation.

        `stats` records what the scan saw of files (new, changed, or unchanged but touched); `vectors`
        holds the new chunks' passage vectors.
        """
        generation = self.generation() + 1
        with self._db:
            self._db.executemany("DELETE FROM files WHERE source = ?", [(s,) for s in remove])
            for record, article, chunks, terms in articles:
                self._db.execute("DELETE FROM files WHERE source = ?", (record.source,))
                self._insert_file(record, article.text)
                self._db.executemany(
                    "INSERT INTO chunks (id, source, number, start, end, text, terms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(c.id, c.source, c.number, c.start, c.end, c.text, t) for c, t in zip(chunks, terms, strict=True)],
                )
            new_ids = [c.id for _, _, chunks, _ in articles for c in chunks]
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (chunk_id, data) VALUES (?, ?)",
                [(i, vectors[i]) for i in new_ids if vectors and i in vectors],
            )
            for record in duplicates:
                self._db.execute("DELETE FROM files WHERE source = ?", (record.source,))
                self._insert_file(record, "")
            meta = {**meta, "generation": str(generation)}
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            self._write_stats(stats or {})
        return generation

    def record_stats(self, stats: Mapping[str, FileStat]) -> None:
        """Record file stats without counting a new generation (files touched but unchanged)."""
        if stats:
            with self._db:
                self._write_stats(stats)

    def _write_stats(self, stats: Mapping[str, FileStat]) -> None:
        self._db.executemany(
            "UPDATE files SET mtime_ns = ?, ctime_ns = ?, inode = ?, hashed_at_ns = ? WHERE source = ? AND hash = ?",
            [(s.mtime_ns, s.ctime_ns, s.inode, s.hashed_at_ns, source, s.hash) for source, s in stats.items()],
        )

    def set_meta(self, meta: dict[str, str]) -> None:
        """Record settings without counting a new generation."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))

    def _insert_file(self, record: FileRecord, text: str) -> None:
        self._db.execute(
            "INSERT INTO files (source, origin, hash, size, duplicate_of, title, text, chunker) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.source,
                record.origin,
                record.hash,
                record.size,
                record.duplicate_of,
                record.title,
                text,
                record.chunker,
            ),
        )
