"""When Chroma saves its vector index: once per ingest, after the last write, not every 1,000 records.

Chroma's embedded writer saves the graph and its whole id map after every `sync_threshold` records;
the records it has not saved are replayed into the graph by the next process that opens the index.
These tests read what Chroma wrote (its log and the sequence number its vector index files hold) in
real Chroma stores and one real ingest.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.chroma_store import (
    HNSW,
    SMALLEST_SYNC_THRESHOLD,
    SYNC_THRESHOLD,
    ChromaStore,
    _unsaved_records,
)
from ingest.layout import IndexLayout
from ingest.settings import Settings
from ingest.sync import sync

DIM = 16


def vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((count, DIM)).astype(np.float32)
    unit: np.ndarray = values / np.linalg.norm(values, axis=1, keepdims=True)
    return unit


def fill(store: ChromaStore, prefix: str, count: int, seed: int) -> None:
    ids = [f"{prefix}{i}" for i in range(count)]
    store.add(ids, vectors(count, seed), None, [{"source": f"{prefix}.txt"}] * count)


def unsaved(chroma_dir: Path) -> int:
    store = ChromaStore.open(chroma_dir)
    try:
        return _unsaved_records(chroma_dir, str(store._collection.id))
    finally:
        store.close()


def hnsw_configuration(chroma_dir: Path) -> dict[str, object]:
    store = ChromaStore.open(chroma_dir)
    try:
        return dict(store._collection.configuration["hnsw"])
    finally:
        store.close()


def in_fresh_process(chroma_dir: Path, query: np.ndarray) -> tuple[int, str]:
    """Count and nearest id as a new process sees them (it loads the saved index and replays the rest)."""
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from ingest.chroma_store import ChromaStore\n"
        "store = ChromaStore.open(Path(sys.argv[1]), create=False)\n"
        "hit = store.search(np.array([float(x) for x in sys.argv[2].split(',')], dtype=np.float32), 1)\n"
        "print(store.count(), hit[0].chunk_id)\n"
    )
    shown = ",".join(f"{x:.7f}" for x in query)
    done = subprocess.run(
        [sys.executable, "-c", code, str(chroma_dir), shown], capture_output=True, text=True, check=True, timeout=120
    )
    count, nearest = done.stdout.split()
    return int(count), nearest


def test_without_a_plan_chroma_leaves_the_last_records_unsaved(tmp_path: Path) -> None:
    """The behaviour this module changes: 300 records under the default threshold are only in the log."""
    store = ChromaStore.open(tmp_path)
    fill(store, "a", 300, seed=1)
    store.close()
    assert unsaved(tmp_path) == 300


def test_a_planned_write_is_saved_once_at_its_end_and_the_default_comes_back(tmp_path: Path) -> None:
    store = ChromaStore.open(tmp_path)
    fill(store, "a", 300, seed=1)  # 300 records left unsaved, as above
    store.close()
    store = ChromaStore.open(tmp_path)
    assert store.save_after(150 + 250)  # the unsaved 300 are added to the threshold
    store.delete([f"a{i}" for i in range(150)])
    fill(store, "b", 250, seed=2)
    store.close()
    assert unsaved(tmp_path) == 0
    configuration = hnsw_configuration(tmp_path)
    assert configuration["sync_threshold"] == SYNC_THRESHOLD
    assert {k: configuration[k] for k in ("max_neighbors", "ef_construction", "ef_search")} == {
        k: HNSW[k] for k in ("max_neighbors", "ef_construction", "ef_search")
    }
    query = vectors(250, seed=2)[7]
    assert in_fresh_process(tmp_path, query) == (400, "b7")


def test_fewer_records_than_chromas_batch_keep_the_default(tmp_path: Path) -> None:
    store = ChromaStore.open(tmp_path)
    assert not store.save_after(SMALLEST_SYNC_THRESHOLD - 1)
    assert not store.save_after(0)
    fill(store, "a", 40, seed=3)
    store.close()
    assert unsaved(tmp_path) == 40
    assert hnsw_configuration(tmp_path)["sync_threshold"] == SYNC_THRESHOLD


def test_a_plan_made_too_late_or_too_large_is_slower_never_wrong(tmp_path: Path) -> None:
    """Planned after the vectors were read (Chroma already loaded its index), or for more records than
    are written: nothing is saved early or lost; the next process replays what is unsaved."""
    store = ChromaStore.open(tmp_path)
    fill(store, "a", 200, seed=4)
    store.search(vectors(1, seed=9)[0], 1)  # loads the index with the default threshold
    assert store.save_after(200)
    fill(store, "b", 200, seed=5)
    store.close()
    assert unsaved(tmp_path) == 400
    store = ChromaStore.open(tmp_path)
    assert store.save_after(1_000)  # 400 unsaved and 1,000 planned, 100 written
    fill(store, "c", 100, seed=6)
    store.close()
    assert unsaved(tmp_path) == 500
    assert hnsw_configuration(tmp_path)["sync_threshold"] == SYNC_THRESHOLD
    assert in_fresh_process(tmp_path, vectors(200, seed=5)[3]) == (500, "b3")
    assert in_fresh_process(tmp_path, vectors(100, seed=6)[8]) == (500, "c8")


def test_more_records_than_the_cap_are_saved_every_cap_and_the_rest_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.chroma_store as chroma_store

    monkeypatch.setattr(chroma_store, "LARGEST_SYNC_THRESHOLD", 300)
    store = ChromaStore.open(tmp_path)
    assert store.save_after(700)
    for part in range(7):  # one Chroma write each: saved after the third and the sixth
        ids = [f"d{part}-{i}" for i in range(100)]
        store.add(ids, vectors(100, seed=20 + part), None, [{"source": "d.txt"}] * 100)
    store.close()
    assert unsaved(tmp_path) == 0
    assert hnsw_configuration(tmp_path)["sync_threshold"] == SYNC_THRESHOLD
    assert in_fresh_process(tmp_path, vectors(100, seed=26)[5]) == (700, "d6-5")


def test_a_server_store_keeps_chromas_default(tmp_path: Path) -> None:
    """`save_after` acts only on an embedded store (a server's writer was loaded long before)."""
    store = ChromaStore(collection=None, client=None, location="http://127.0.0.1:9")
    assert not store.save_after(10_000)


def write_articles(docs: Path, numbers: range, version: str) -> None:
    for number in numbers:
        words = " ".join(f"{version}{number}x{k}" for k in range(12))
        (docs / f"article-{number:02d}.txt").write_text(
            f"خبر رقم {number}\n\n" + "\n\n".join(f"{words} فقرة {p}." for p in range(3)), encoding="utf-8"
        )


def test_an_ingest_leaves_nothing_unsaved(make_settings: Callable[..., Settings], docs: Path) -> None:
    """A first ingest of some 150 chunks, then a rewrite of a third of the articles: each saved once, at its end."""
    write_articles(docs, range(50), "كلمة")
    settings = make_settings(chunk_tokens=24)
    chroma = IndexLayout(settings.index_dir).chroma
    first = sync(settings)
    assert first.chunks >= 150
    assert unsaved(chroma) == 0
    write_articles(docs, range(0, 50, 3), "تعديل")
    second = sync(settings)
    assert len(second.updated) == 17
    assert second.embedded >= SMALLEST_SYNC_THRESHOLD / 2  # with the replaced chunks' deletes, over Chroma's batch
    assert unsaved(chroma) == 0
    assert hnsw_configuration(chroma)["sync_threshold"] == SYNC_THRESHOLD
