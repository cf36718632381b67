"""The dense store: one Chroma collection of chunk vectors (embedded PersistentClient by default)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from ingest.redaction import strip_userinfo

logger = logging.getLogger(__name__)

COLLECTION = "articles"
# HNSW chosen by benchmarks/hnsw_recall.py (docs/hnsw.md): Recall@10 0.9995 on real sentence vectors and
# 0.9999 on 100k synthetic 1024-d vectors, where Chroma's defaults (16 neighbours, ef 100/100) lose all ten
# true neighbours for 5.6% of queries. Chroma applies it to new collections only (rebuild to change it).
HNSW = {"space": "cosine", "max_neighbors": 32, "ef_construction": 200, "ef_search": 256}
# Chroma's default: an embedded writer saves its vector index files (the graph's changed elements and the
# whole id map, tens of MB at a million vectors) after every this many records (`ChromaStore.save_after`).
SYNC_THRESHOLD = 1000
# Chroma refuses a sync threshold below its batch size (100 by default)
SMALLEST_SYNC_THRESHOLD = 100
# Records that may wait unsaved in Chroma's log (an interrupted write replays them into the graph when
# the index is next opened: about a minute and a half at a million vectors here)
LARGEST_SYNC_THRESHOLD = 50_000


class DenseStoreUnavailableError(RuntimeError):
    """The Chroma server cannot be reached."""


@dataclass(frozen=True, slots=True)
class DenseHit:
    """One chunk found by vector search; `similarity` is cosine, in [-1, 1]."""

    chunk_id: str
    similarity: float


class ChromaStore:
    """Adds, deletes, lists and searches chunk vectors in one Chroma collection.

    An embedded client keeps the vector index it loaded until it is closed: another process's writes
    become visible to a new store opened after every earlier one on the same path was closed
    (`close()`; chromadb shares one client per path within a process).
    """

    def __init__(self, collection: Any, client: Any, location: Path | str = "") -> None:
        self._collection = collection
        self._client = client
        self.location = location
        self._threshold_changed = False
        self._threshold_capped = False

    @classmethod
    def open(
        cls,
        location: Path | str,
        metadata: Mapping[str, str | int | float | bool] | None = None,
        collection: str = COLLECTION,
        *,
        create: bool = True,
    ) -> ChromaStore:
        """Open the collection (creating it when absent, unless not `create`): `location` is a directory or a URL."""
        if not create and isinstance(location, Path) and not (location / "chroma.sqlite3").is_file():
            raise DenseStoreUnavailableError(f"{location} holds no Chroma store")
        client = _client(location)
        try:
            if create:
                handle = client.get_or_create_collection(
                    collection,
                    configuration={"hnsw": HNSW},
                    metadata=dict(metadata) if metadata else None,
                    embedding_function=None,
                )
            else:
                handle = client.get_collection(collection, embedding_function=None)
        except BaseException:
            _close(client)
            raise
        return cls(handle, client, location)

    @classmethod
    def drop(cls, location: Path | str, collection: str = COLLECTION) -> None:
        """Delete the collection (the client stays valid for this process, unlike deleting files)."""
        if isinstance(location, Path) and not location.exists():
            return
        client = _client(location)
        try:
            if collection in {c.name for c in client.list_collections()}:
                client.delete_collection(collection)
        finally:
            _close(client)

    def close(self) -> None:
        """Release the client (an embedded one frees its vector index once no other store in the process uses it)."""
        capped = self._threshold_capped and isinstance(self.location, Path)
        name = self._collection.name if capped else ""
        if self._threshold_changed:
            self._set_sync_threshold(SYNC_THRESHOLD)
        self._threshold_changed = self._threshold_capped = False
        _close(self._client)
        self._collection = None
        if capped:
            _save_unsaved(Path(self.location), name)

    def save_after(self, count: int) -> bool:
        """Have an embedded store save its vector index once, after the next `count` records this process writes.

        Chroma saves the graph's changed elements and its whole id map after every `SYNC_THRESHOLD` records
        (deletes count too), so a change of 10,000 chunks at a million vectors saved the index twenty times;
        records not yet saved are replayed into the graph by every process that opens it next. Call before
        anything in this process reads the vectors (the threshold is read when Chroma loads the index), with
        the exact number of ids to delete and upsert: the records Chroma already holds unsaved are added to
        it. More than `LARGEST_SYNC_THRESHOLD` records are saved every that many, and `close()` saves the
        rest (opening the index again once). `close()` restores the default for other processes. Returns
        whether the threshold was set (not for a server, nor for fewer records than Chroma's batch size).
        """
        if not isinstance(self.location, Path) or count <= 0:
            return False
        wanted = count + _unsaved_records(self.location, str(self._collection.id))
        threshold = min(wanted, LARGEST_SYNC_THRESHOLD)
        if threshold < SMALLEST_SYNC_THRESHOLD:
            return False
        self._set_sync_threshold(threshold)
        self._threshold_changed = threshold != SYNC_THRESHOLD
        self._threshold_capped = wanted > threshold
        return True

    def _set_sync_threshold(self, threshold: int) -> None:
        try:
            self._collection.modify(configuration={"hnsw": {"sync_threshold": threshold}})
        except Exception as error:  # noqa: BLE001 - saving more often is slower, never wrong
            logger.info("could not set Chroma's sync threshold to %d: %s", threshold, error)

    @property
    def metadata(self) -> dict[str, Any]:
        """The collection's metadata (model id, dimension, analyzer and chunker settings)."""
        return dict(self._collection.metadata or {})

    def set_metadata(self, metadata: Mapping[str, str | int | float | bool]) -> None:
        """Replace the collection's recorded settings."""
        self._collection.modify(metadata=dict(metadata))

    def count(self) -> int:
        """Number of vectors stored."""
        return int(self._collection.count())

    def probe(self, dimension: int) -> None:
        """Read the collection the way a question does (raises whatever Chroma raises on damaged files)."""
        self._collection.get(limit=1, include=["embeddings", "metadatas"])
        if dimension > 0 and self.count():
            vector = np.random.default_rng(0).standard_normal(dimension).astype(np.float32)
            self.search(vector / np.linalg.norm(vector), 1)

    def ids(self, page: int = 10_000) -> Iterator[str]:
        """Every stored chunk id, page by page."""
        offset = 0
        while True:
            batch = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            yield from batch
            if len(batch) < page:
                return
            offset += page

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of those `ids` that exist."""
        found: dict[str, np.ndarray] = {}
        for batch in _batches(list(ids), 5_000):
            result = self._collection.get(ids=batch, include=["embeddings"])
            for chunk_id, vector in zip(result["ids"], result["embeddings"], strict=True):
                found[chunk_id] = np.asarray(vector, dtype=np.float32)
        return found

    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        documents: Sequence[str] | None,
        metadatas: Sequence[Mapping[str, str | int | float | bool]],
    ) -> None:
        """Upsert vectors (idempotent, so a repair can replay it).

        The project passes no `documents`: chunk text lives in the manifest, and storing it in Chroma
        too would cost about three quarters of the collection's disk (text plus Chroma's full-text
        index) for nothing that search reads.
        """
        limit = self._max_batch()
        for start in range(0, len(ids), limit):
            end = start + limit
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(documents[start:end]) if documents is not None else None,
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors; ids that are not stored are ignored."""
        limit = self._max_batch()
        for batch in _batches(list(ids), limit):
            self._collection.delete(ids=batch)

    def search(
        self, vector: np.ndarray, k: int, sources: Sequence[str] | None = None, where: dict[str, Any] | None = None
    ) -> list[DenseHit]:
        """The `k` nearest chunks to `vector`, optionally only from `sources`, or only those matching `where`
        (a Chroma metadata filter, ingest.filters.chroma_where; it takes the place of `sources`)."""
        if k <= 0:  # an empty collection answers an empty list; no count() round trip per question
            return []
        if where is None and sources:
            where = {"source": {"$in": list(sources)}}
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, where=where, include=["distances"]
        )
        return [
            DenseHit(chunk_id, max(-1.0, min(1.0, 1.0 - float(distance))))
            for chunk_id, distance in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def _max_batch(self) -> int:
        try:
            return max(1, min(5_000, int(self._client.get_max_batch_size())))
        except Exception:  # noqa: BLE001 - older servers do not report it
            return 1_000


def _client(location: Path | str) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        url = urlsplit(location)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=_basic_auth(url.username, url.password),
                settings=settings,
            )
        except Exception as error:
            shown = strip_userinfo(location)
            raise DenseStoreUnavailableError(
                f"The Chroma server at {shown} is not reachable ({strip_userinfo(str(error))}). Start it (chroma run "
                "--path DIR --host 127.0.0.1 --port PORT) or unset ASSISTANT_CHROMA_URL to use the embedded store."
            ) from error
    path = Path(location)
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except BaseException:
        _forget_failed_client(str(path))
        raise


def _forget_failed_client(identifier: str) -> None:
    """Drop a client chromadb 1.5 cached for `identifier` although it failed to start (a damaged chroma.sqlite3).

    chromadb keeps one System per path and registers it before starting it; when starting fails, the
    broken System stays cached and every later client of that path gets it.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    if isinstance(systems, dict):
        systems.pop(identifier, None)


@dataclass(frozen=True, slots=True)
class StoredCollection:
    """What an embedded store's own database says of one collection, read without a Chroma client."""

    count: int
    """Records in the collection (what `count()` answers)."""
    vector_files: tuple[str, ...]
    """Files of its vector index, relative to the store's directory."""


def inspect_embedded(chroma_dir: Path, collection: str = COLLECTION) -> StoredCollection | None:
    """Count and vector index files of `collection` in an embedded store (None when it has no such collection).

    Reads chroma.sqlite3 directly: starting a Chroma client costs seconds, and a garbled vector index can
    crash the process inside Chroma's native code, so damaged files must be found before Chroma loads them.
    Raises sqlite3.DatabaseError when chroma.sqlite3 itself cannot be read.
    """
    import sqlite3

    database = chroma_dir / "chroma.sqlite3"
    if not database.is_file():
        return None
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        segments = dict(
            db.execute(
                "SELECT s.scope, s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE c.name = ?",
                (collection,),
            ).fetchall()
        )
        if not segments:
            return None
        count = 0
        if "METADATA" in segments:
            row = db.execute("SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (segments["METADATA"],)).fetchone()
            count = int(row[0])
    finally:
        db.close()
    files: list[str] = []
    vector = segments.get("VECTOR")
    if vector is not None and (chroma_dir / str(vector)).is_dir():
        files = [f"{vector}/{p.name}" for p in sorted((chroma_dir / str(vector)).iterdir()) if p.is_file()]
    return StoredCollection(count, tuple(files))


def _save_unsaved(chroma_dir: Path, collection: str) -> None:
    """Save the records a capped write left in Chroma's log now, not in the next process that opens the index.

    A new client loads the saved index and replays the log into it; with the threshold set to what is
    unsaved, Chroma saves once it has replayed them.
    """
    try:
        store = ChromaStore.open(chroma_dir, collection=collection, create=False)
    except Exception as error:  # noqa: BLE001 - the next process replays them instead
        logger.info("could not reopen %s to save its vector index: %s", chroma_dir, error)
        return
    try:
        unsaved = _unsaved_records(chroma_dir, str(store._collection.id))
        if unsaved >= SMALLEST_SYNC_THRESHOLD:
            store._set_sync_threshold(unsaved)
            store._threshold_changed = True
            store._collection.get(limit=1, include=["embeddings"])  # loads the index: replayed, then saved
    finally:
        store.close()


def _unsaved_records(chroma_dir: Path, collection_id: str) -> int:
    """Records of the collection's log that its vector index files do not hold yet (0 when unknown)."""
    import sqlite3

    database = chroma_dir / "chroma.sqlite3"
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            row = db.execute(
                "SELECT m.seq_id FROM segments s JOIN max_seq_id m ON m.segment_id = s.id "
                "WHERE s.collection = ? AND s.scope = 'VECTOR'",
                (collection_id,),
            ).fetchone()
            saved = int(row[0]) if row and row[0] is not None else 0
            found = db.execute(
                "SELECT COUNT(*) FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ?",
                (f"%/{collection_id}", saved),
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        logger.debug("could not read Chroma's log: %s", error)
        return 0
    return int(found[0])


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        try:
            close()
        except Exception as error:  # noqa: BLE001 - closing must not mask the error that led here
            logger.debug("closing the Chroma client failed: %s", error)


def _basic_auth(user: str | None, password: str | None) -> dict[str, str] | None:
    """The Authorization header for a URL's user:password@ (a reverse proxy in front of Chroma checks it)."""
    if not user:
        return None
    token = base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
