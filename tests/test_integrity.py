"""Integrity: status names the damaged part, ingest repairs what it can, a damaged manifest names --rebuild."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from ingest.catalog import Catalog
from ingest.layout import IndexLayout, read_state
from ingest.reader import ManifestDamagedError
from ingest.scanning import RACY_NS, scan
from ingest.settings import Settings
from ingest.status import index_status
from ingest.sync import sync
from tests.index_checks import files_hashed

SettingsFactory = Callable[..., Settings]


def settle(docs: Path) -> None:
    """Wait until the files were last changed more than RACY_NS before now (so a scan may trust their stats)."""
    newest = max(p.stat().st_ctime for p in docs.rglob("*") if p.is_file())
    time.sleep(max(0.0, newest + RACY_NS / 1e9 - time.time()) + 0.1)


def test_status_names_a_damaged_lexical_file_and_ingest_rebuilds_it_without_embedding(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    sync(settings)
    layout = IndexLayout(settings.index_dir)
    state = read_state(layout)
    assert state is not None
    victim = max((p for p in (layout.lexical / state.lexical).iterdir()), key=lambda p: p.stat().st_size)
    with open(victim, "r+b") as handle:  # same size, other bytes: only the checksum can tell
        handle.seek(victim.stat().st_size // 2)
        handle.write(b"\x00" * 64)

    assert main(["status", "--index", str(settings.index_dir)]) == 1
    out = capsys.readouterr().out
    assert "problem:    lexical:" in out and victim.name in out and "does not match its checksum" in out

    report = sync(settings)
    assert report.embedded == 0 and report.repairs == ("lexical index rebuilt from the manifest",)
    status = index_status(settings, deep=True)
    assert status.healthy and status.lexical and status.dense


def test_a_damaged_manifest_is_reported_with_rebuild_and_rebuild_restores(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    before = sync(settings)
    manifest = IndexLayout(settings.index_dir).manifest
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 3])

    with pytest.raises(ManifestDamagedError, match="--rebuild"):
        sync(settings)
    argv = ["ingest", str(settings.docs_dir), "--index", str(settings.index_dir), "--model", settings.embedding_model]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--rebuild" in err and "manifest" in err and "intact" not in err and "Traceback" not in err

    assert main([*argv, "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chunks"] == before.chunks
    assert index_status(settings, deep=True).healthy


def test_a_scan_trusts_untouched_files_and_reads_edited_ones_even_with_their_times_restored(
    make_settings: SettingsFactory, docs: Path
) -> None:
    settings = make_settings()
    sync(settings)
    settle(docs)
    sync(settings)  # the first scan after the files were written hashed them again; this one recorded them

    def scanned() -> tuple[int, dict[str, str]]:
        catalog = Catalog(IndexLayout(settings.index_dir).manifest, readonly=True)
        try:
            found = scan([docs], docs, catalog.file_stats())
        finally:
            catalog.close()
        return found.hashed, {source: entry.hash for source, entry in found.files.items()}

    hashed, hashes = scanned()
    assert hashed == 0 and len(hashes) == 5

    path = sorted(docs.glob("*.txt"))[0]
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("داعش", "دولة", 1), encoding="utf-8")  # same number of bytes
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its modification time put back
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    hashed, after = scanned()
    assert hashed == 1 and after[path.name] != hashes[path.name]
    assert sync(settings).updated == (path.name,)


def test_after_a_changing_ingest_no_check_reads_the_lexical_files_again(
    make_settings: SettingsFactory, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new generation links the old one's segments; the record it leaves matches them once the old one is gone."""
    from ingest.checksums import changed_files
    from ingest.tantivy_lexical import read_record

    settings = make_settings()
    sync(settings)
    (docs / "added.txt").write_text("ضرب زلزال مدمر جزيرة هوكايدو في اليابان صباح اليوم.", encoding="utf-8")
    assert sync(settings).added == ("added.txt",)
    layout = IndexLayout(settings.index_dir)
    state = read_state(layout)
    assert state is not None
    record = read_record(layout.lexical, state.lexical, state.lexical_checksum)  # state.json names this record
    assert changed_files(layout.lexical / state.lexical, record.files) == []
    assert all(p.stat().st_nlink == 1 for p in (layout.lexical / state.lexical).iterdir())  # the old one is gone

    settle(docs)
    hashed = files_hashed(monkeypatch)
    report = sync(settings)
    assert not (report.added or report.updated or report.removed) and hashed == []
    assert index_status(settings, deep=True).healthy


@pytest.mark.reliability("chroma.sqlite3 garbled where Chroma panics as it starts: ingest starts the vectors over")
def test_chromas_database_is_read_whole_only_when_it_changed(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's consistency check of chroma.sqlite3 reads every page (hundreds of MB at a million vectors):
    an ingest runs it when the file is not as the last ingest recorded it, and records it again after."""
    import ingest.sync as sync_module
    from ingest.integrity import PartProblem, check_chroma_database

    settings = make_settings()
    sync(settings)
    checked: list[Path] = []

    def counted(layout: IndexLayout) -> list[PartProblem]:
        checked.append(layout.chroma)
        return check_chroma_database(layout)

    monkeypatch.setattr(sync_module, "check_chroma_database", counted)
    sync(settings)
    assert checked == []
    database = IndexLayout(settings.index_dir).chroma / "chroma.sqlite3"
    os.utime(database)  # another process wrote it, as far as a stat can tell
    sync(settings)
    assert checked == [database.parent]
    sync(settings)
    assert checked == [database.parent]
    with open(database, "r+b") as handle:  # damaged where Chroma panics as it starts: found, then started over
        handle.seek(4096)
        handle.write(b"\xff" * 4096)
    report = sync(settings)
    assert checked == [database.parent] * 2
    assert "dense index damaged: started over" in report.repairs
    status = index_status(settings, deep=True)
    assert status.healthy and status.vectors == status.chunks > 0
