"""Uploads and the chat's index writer: files saved safely, queued while the index is busy, indexed when it is free."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.advice import advise
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.embedding import SentenceTransformerEmbedder
from ingest.files import IndexLock
from ingest.settings import Settings
from ingest.status import index_status
from ingest.sync import EmptyFolderError, sync
from ingest.uploads import DocumentsFolderMissingError, sanitize_filename, save_uploads
from ingest.writer import IndexWriter
from tests.index_checks import assert_in_sync

ARTICLE = "عاصفة رملية تضرب مدينة الرقة\nضربت عاصفة رملية شديدة مدينة الرقة السورية وأغلقت الطرق ثلاثة أيام.\n"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.TXT", "evil.txt"),
        ("خبر عاجل.html", "خبر عاجل.html"),
        ("bad\u202ename\u0000.md", "badname.md"),
        ("...hidden.txt", "hidden.txt"),
        ('a<b>:"c".pdf', "a_b___c_.pdf"),
    ],
)
def test_upload_names_are_sanitized(raw: str, safe: str) -> None:
    assert sanitize_filename(raw) == safe


def test_uploads_stay_inside_the_folder_and_are_checked(tmp_path: Path) -> None:
    docs, incoming = tmp_path / "docs", tmp_path / "incoming"
    docs.mkdir()
    incoming.mkdir()
    (docs / "old.txt").write_text("نص قديم", encoding="utf-8")
    files = {
        "new.txt": "نص جديد".encode(),
        "copy.txt": "نص قديم".encode(),
        "tool.exe": b"MZ",
        "big.txt": b"x" * (2 * 1024 * 1024),
    }
    for name, data in files.items():
        (incoming / name).write_bytes(data)
    (incoming / "sub").mkdir()
    (incoming / "sub" / "new.txt").write_text("نص آخر بنفس الاسم", encoding="utf-8")
    paths = [incoming / n for n in files] + [incoming / "sub" / "new.txt"]
    results = {r.name: (r.outcome, r.message) for r in save_uploads(paths, docs, max_mb=1)}
    assert results["new.txt"] == ("saved", "saved") and results["new-1.txt"] == ("saved", "saved")
    assert results["copy.txt"] == ("duplicate", "same content as old.txt, which is kept")
    assert results["tool.exe"][0] == "refused" and results["tool.exe"][1].startswith("only .csv, .docx, .htm")
    assert ".jsonl" in results["tool.exe"][1]
    assert results["big.txt"] == ("refused", "larger than 1 MB; split it into smaller files")
    assert sorted(p.name for p in docs.iterdir()) == ["new-1.txt", "new.txt", "old.txt"]
    assert not list(tmp_path.glob("*.txt"))


@pytest.mark.reliability("upload while the documents folder is missing")
def test_uploads_into_a_missing_folder_are_refused_and_the_folder_not_recreated(
    make_settings: Callable[..., Settings], docs: Path, tmp_path: Path
) -> None:
    settings = make_settings()
    sync(settings)
    docs.rename(tmp_path / "elsewhere")
    (tmp_path / "new.txt").write_text(ARTICLE, encoding="utf-8")
    with pytest.raises(DocumentsFolderMissingError, match="does not exist, so nothing was saved"):
        save_uploads([tmp_path / "new.txt"], docs)
    assert not docs.exists()
    writer = IndexWriter(settings)
    outcome = writer.wait(writer.request(), timeout=60)
    assert outcome is not None and outcome.report is None and "does not exist" in str(outcome.error)
    assert index_status(settings).documents == 5  # not emptied


@pytest.mark.reliability("re-index of a documents folder left with no file (an unmounted disk)")
def test_a_reindex_of_an_emptied_folder_removes_nothing_and_says_so(
    make_settings: Callable[..., Settings], docs: Path
) -> None:
    settings = make_settings()
    sync(settings)
    for path in docs.iterdir():
        path.unlink()
    writer = IndexWriter(settings)
    outcome = writer.wait(writer.request(), timeout=60)
    assert outcome is not None and outcome.report is None and isinstance(outcome.error, EmptyFolderError)
    assert index_status(settings).documents == 5  # not emptied
    assert "nothing was removed" in advise(outcome.error, "en") and str(docs) not in advise(outcome.error, "en")
    assert "لم يُحذف شيء" in advise(outcome.error, "ar")
    writer.close()


@pytest.mark.reliability("upload while another ingest holds the index: queued, then indexed")
def test_a_request_while_another_ingest_holds_the_lock_is_queued_then_run(
    make_settings: Callable[..., Settings], docs: Path, record_property: Callable[[str, object], None]
) -> None:
    settings = make_settings()
    sync(settings)
    writer = IndexWriter(settings, retry_seconds=0.1)
    with IndexLock(settings.index_dir):  # another process's ingest, as far as the writer can tell
        (docs / "storm.txt").write_text(ARTICLE, encoding="utf-8")
        ticket = writer.request()
        time.sleep(0.5)
        state = writer.state()
        assert state.phase == "queued" and state.pending == 1 and state.waiting_for is not None
        assert writer.wait(ticket, timeout=0.5) is None
        released = time.monotonic()
    outcome = writer.wait(ticket, timeout=60)
    record_property("measured", f"indexed {time.monotonic() - released:.2f} s after the lock was released")
    assert outcome is not None and outcome.error is None and outcome.report is not None
    assert outcome.report.added == ("storm.txt",)
    assert writer.state().phase == "idle" and writer.state().pending == 0
    assert_in_sync(settings.index_dir, docs)
    writer.close()


def test_requests_during_a_run_are_folded_into_the_next_one(
    make_settings: Callable[..., Settings], docs: Path, tiny_model: Path
) -> None:
    settings = make_settings()
    sync(settings)
    saved_during_the_run = threading.Event()

    def slow_embedder(s: Settings) -> SentenceTransformerEmbedder:
        if not saved_during_the_run.is_set():  # the first run: a file arrives while it works
            (docs / "late.txt").write_text(ARTICLE.replace("الرقة", "دير الزور"), encoding="utf-8")
            tickets.append(writer.request())
            saved_during_the_run.set()
        return SentenceTransformerEmbedder(s.embedding_model)

    writer = IndexWriter(settings, slow_embedder)
    tickets: list[int] = []
    (docs / "first.txt").write_text(ARTICLE, encoding="utf-8")
    first = writer.wait(writer.request(), timeout=120)
    second = writer.wait(tickets[0], timeout=120)
    assert first is not None and first.report is not None and "first.txt" in first.report.added
    assert second is not None and second.report is not None and second.report.added == ("late.txt",)
    assert_in_sync(settings.index_dir, docs)
    writer.close()


def test_questions_are_answered_while_the_writer_embeds_with_the_same_model(
    tmp_path: Path, docs: Path, tiny_model: Path
) -> None:
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
    )
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    embedder = assistant.retriever.embedder
    assert embedder is not None
    for number in range(40):
        (docs / f"more-{number}.txt").write_text(f"{ARTICLE} خبر رقم {number}.", encoding="utf-8")
    writer = IndexWriter(settings.index, lambda _s: embedder)  # as the chat does: one loaded model for both
    ticket = writer.request()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            while writer.state().pending:
                assistant.ask("ما مدة الرسالة الصوتية الجديدة للبغدادي؟")
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for thread in askers:
        thread.start()
    outcome = writer.wait(ticket, timeout=300)
    for thread in askers:
        thread.join()
    assert errors == [] and outcome is not None and outcome.error is None
    assistant.close()
    writer.close()
