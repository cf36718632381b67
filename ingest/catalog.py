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
from typing import Any

from ingest.dates import date_key
from ingest.metadata import outlet_key
from ingest.records import Article, Chunk, Metadata

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
CREATE TABLE IF NOT EXISTS article_meta (
    source TEXT PRIMARY KEY REFERENCES files(source) ON DELETE CASCADE,
    title TEXT,
    date TEXT,
    day INTEGER,
    outlet TEXT,
    outlet_key TEXT,
    author TEXT,
    url TEXT
);
CREATE INDEX IF NOT EXISTS article_meta_day ON article_meta(day);
CREATE TABLE IF NOT EXISTS signatures (
    source TEXT PRIMARY KEY REFERENCES files(source) ON DELETE CASCADE,
    version TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS stories (
    source TEXT PRIMARY KEY REFERENCES files(source) ON DELETE CASCADE,
    story TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_story ON stories(story);
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
            # every column a scan reads (file_table), so that SQLite reads this index and not the rows,
            # which hold each article's text: gigabytes at a million chunks
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS files_table ON files(source, origin, hash, size, duplicate_of, title, "
                "chunker, mtime_ns, ctime_ns, inode, hashed_at_ns)"
            )
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
        """The cleaned article stored for `source`, with its metadata."""
        row = self._db.execute("SELECT source, title, text, hash FROM files WHERE source = ?", (source,)).fetchone()
        if not row:
            return None
        return Article(row[0], row[1], row[2], row[3], self.article_meta([source]).get(source, Metadata()))

    def source_with_hash(self, digest: str) -> str | None:
        """The indexed source (not a duplicate) whose content hash is `digest`, the first by path."""
        row = self._db.execute(
            "SELECT source FROM files WHERE hash = ? AND duplicate_of IS NULL ORDER BY source LIMIT 1", (digest,)
        ).fetchone()
        return row[0] if row else None

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

    def has_vectors(self) -> bool:
        """True when some chunk has a vectors row (the model's vectors, which Chroma's can be restored from)."""
        return self._db.execute("SELECT 1 FROM vectors LIMIT 1").fetchone() is not None

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
                self._insert_meta(record.source, article.meta)
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

    # article metadata and wire stories ------------------------------------------------------------------
    def article_meta(self, sources: Iterable[str]) -> dict[str, Metadata]:
        """The metadata of those `sources` that have any."""
        found: dict[str, Metadata] = {}
        for batch in _batches(list(sources)):
            marks = ",".join("?" * len(batch))
            query = f"SELECT source, title, date, outlet, author, url FROM article_meta WHERE source IN ({marks})"
            for source, *values in self._table_rows(query, batch):
                found[source] = Metadata(*values)
        return found

    def outlets(self) -> list[str]:
        """Every outlet name the articles carry, once per outlet key, sorted."""
        rows = self._table_rows(
            "SELECT outlet_key, MIN(outlet) FROM article_meta WHERE outlet_key IS NOT NULL GROUP BY outlet_key", ()
        )
        return sorted(name for _, name in rows)

    def sources_within(self, since: int | None, until: int | None, outlets: Sequence[str]) -> list[str]:
        """Indexed articles dated within [since, until] (days as `date_key`) and of `outlets` (outlet keys).

        A bound or an empty `outlets` limits nothing; an article without a date is outside every range, one
        without an outlet outside every outlet list (as `ingest.filters.ArticleFilter.allows`).
        """
        clauses = ["f.duplicate_of IS NULL"]
        parameters: list[object] = []
        if since is not None:
            clauses.append("m.day >= ?")
            parameters.append(since)
        if until is not None:
            clauses.append("m.day <= ?")
            parameters.append(until)
        found: list[str] = []
        for batch in _batches(list(outlets)) if outlets else [None]:
            where = list(clauses)
            values: list[object] = list(parameters)
            if batch is not None:
                where.append(f"m.outlet_key IN ({','.join('?' * len(batch))})")
                values.extend(batch)
            query = "SELECT m.source FROM article_meta m JOIN files f ON f.source = m.source WHERE " + " AND ".join(
                where
            )
            found.extend(row[0] for row in self._table_rows(query, values))
        return sorted(set(found))

    def signatures(self, version: str) -> tuple[dict[str, bytes], list[str]]:
        """Wire-story signatures made by `version` (ingest.wire) of indexed articles, and the articles lacking one."""
        query = (
            "SELECT f.source, s.data FROM files f LEFT JOIN signatures s ON s.source = f.source AND s.version = ? "
            "WHERE f.duplicate_of IS NULL"
        )
        found: dict[str, bytes] = {}
        lacking: list[str] = []
        for source, data in self._table_rows(query, (version,)):
            if data is None:
                lacking.append(source)
            else:
                found[source] = data
        return found, lacking

    def lacks_signatures(self, version: str) -> bool:
        """Whether an indexed article has no wire-story signature made by `version` (no signature is read)."""
        query = (
            "SELECT 1 FROM files f WHERE f.duplicate_of IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM signatures s WHERE s.source = f.source AND s.version = ?) LIMIT 1"
        )
        return bool(self._table_rows(query, (version,)))

    def texts(self, sources: Sequence[str]) -> Iterator[tuple[str, str]]:
        """(source, cleaned text) of those `sources` that are indexed."""
        for batch in _batches(list(sources)):
            marks = ",".join("?" * len(batch))
            yield from self._db.execute(f"SELECT source, text FROM files WHERE source IN ({marks})", batch)

    def set_signatures(self, signatures: Iterable[tuple[str, bytes]], version: str) -> None:
        """Store wire-story signatures (source, data) made by `version`."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO signatures (source, version, data) VALUES (?, ?, ?)",
                [(source, version, data) for source, data in signatures],
            )

    def set_stories(self, stories: Mapping[str, str]) -> None:
        """Replace the wire stories: {source: story} for every article that has copies."""
        with self._db:
            self._db.execute("DELETE FROM stories")
            self._db.executemany("INSERT INTO stories (source, story) VALUES (?, ?)", list(stories.items()))

    def stories(self, sources: Iterable[str]) -> dict[str, str]:
        """The story of those `sources` that share one with other articles."""
        found: dict[str, str] = {}
        for batch in _batches(list(sources)):
            marks = ",".join("?" * len(batch))
            found.update(self._table_rows(f"SELECT source, story FROM stories WHERE source IN ({marks})", batch))
        return found

    def all_stories(self) -> dict[str, str]:
        """The story of every article that shares one (one read of the table)."""
        return dict(self._table_rows("SELECT source, story FROM stories", ()))

    def story_members(self, stories: Iterable[str]) -> dict[str, list[str]]:
        """The articles of each story, in source order."""
        found: dict[str, list[str]] = {}
        for batch in _batches(list(set(stories))):
            marks = ",".join("?" * len(batch))
            query = f"SELECT story, source FROM stories WHERE story IN ({marks}) ORDER BY source"
            for story, source in self._table_rows(query, batch):
                found.setdefault(story, []).append(source)
        return found

    def _table_rows(self, query: str, parameters: Sequence[object]) -> list[Any]:
        """Rows of a query on a table a manifest written before that table existed may lack (then none)."""
        try:
            return self._db.execute(query, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise

    def _insert_meta(self, source: str, meta: Metadata) -> None:
        if meta == Metadata():
            return
        self._db.execute(
            "INSERT OR REPLACE INTO article_meta (source, title, date, day, outlet, outlet_key, author, url) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                source,
                meta.title,
                meta.date,
                date_key(meta.date),
                meta.outlet,
                outlet_key(meta.outlet) or None,
                meta.author,
                meta.url,
            ),
        )

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


def _batches(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
