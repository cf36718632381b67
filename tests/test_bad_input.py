"""Bad input: every case gets a clear message, and the index stays exactly in sync with the folder."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.catalog import Catalog
from ingest.embedding import Embedder, SentenceTransformerEmbedder
from ingest.layout import MANIFEST
from ingest.reports import SyncReport
from ingest.settings import Settings
from ingest.sync import sync
from tests.index_checks import assert_in_sync

SettingsFactory = Callable[..., Settings]
QUESTION = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"
ARTICLE = "قالت مصادر محلية إن اشتباكات عنيفة اندلعت قرب الحدود. وأضافت المصادر أن القوات تقدمت ببطء.\n"


@pytest.fixture(scope="module")
def assistant(lexical_seed_index: AssistantSettings) -> Assistant:
    return Assistant.from_settings(lexical_seed_index)


def skipped(report: SyncReport) -> dict[str, str]:
    return {s.path: s.reason for s in report.skipped}


# --- questions -----------------------------------------------------------------------------------------------


@pytest.mark.reliability("empty or whitespace question")
@pytest.mark.parametrize("question", ["", "   ", "\n\t  \n"])
def test_empty_question(assistant: Assistant, question: str) -> None:
    result = assistant.ask(question)
    assert result.abstained and "empty" in result.text and result.citations == ()


@pytest.mark.reliability("100 KB question")
def test_huge_question_is_bounded(assistant: Assistant, record_property: Callable[[str, object], None]) -> None:
    question = (QUESTION + " ") * 2_500
    assert len(question.encode()) > 100_000
    started = time.monotonic()
    result = assistant.ask(question)
    seconds = time.monotonic() - started
    record_property("measured", f"answered in {seconds:.2f} s")
    assert len(result.question) <= 2_000
    assert not result.abstained and result.citations[0].source == "003_0262f053a42b4a37.txt"
    assert seconds < 30


@pytest.mark.reliability("question in another script (Chinese, Cyrillic) or emoji only")
@pytest.mark.parametrize("question", ["北京的人口是多少？", "Какая столица Японии?", "😀🔥🙏", "؟؟؟ !!! ..."])
def test_other_scripts_and_emoji_abstain(assistant: Assistant, question: str) -> None:
    result = assistant.ask(question)
    assert result.abstained and result.citations == ()
    assert result.text in ("I could not find this in the documents.", "لم أجد إجابة لهذا السؤال في الوثائق.")


@pytest.mark.reliability("control and bidi-override characters in a question")
def test_control_and_bidi_characters_are_removed(assistant: Assistant) -> None:
    dirty = "\u202e" + QUESTION.replace(" ", " \u200f\u0000\u2066", 2) + "\u0007\u202c"
    clean = assistant.ask(QUESTION)
    result = assistant.ask(dirty)
    assert result.question == QUESTION
    assert result.text == clean.text


# --- files ---------------------------------------------------------------------------------------------------


@pytest.mark.reliability("binary, invalid UTF-8 and empty files")
def test_binary_invalid_and_empty_files(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    sync(settings)
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "latin1.md").write_bytes("café crème brûlée".encode("latin-1"))
    (docs / "empty.html").write_bytes(b"")
    reasons = skipped(sync(settings))
    assert "binary" in reasons["binary.txt"]
    assert "not valid UTF-8" in reasons["latin1.md"] and "save the file as UTF-8" in reasons["latin1.md"]
    assert reasons["empty.html"] == "empty file"
    assert_in_sync(settings.index_dir, docs, unreadable=frozenset({"binary.txt", "latin1.md", "empty.html"}))


@pytest.mark.reliability("50 MB file")
def test_huge_file_is_skipped_unread(
    make_settings: SettingsFactory, docs: Path, record_property: Callable[[str, object], None]
) -> None:
    settings = make_settings()
    sync(settings)
    with open(docs / "dump.txt", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    started = time.monotonic()
    report = sync(settings)
    record_property("measured", f"skipped in {time.monotonic() - started:.2f} s")
    assert skipped(report) == {"dump.txt": "larger than 20 MB; split it into smaller files"}
    assert_in_sync(settings.index_dir, docs, unreadable=frozenset({"dump.txt"}))


@pytest.mark.reliability("deeply nested HTML")
def test_deeply_nested_html(
    make_settings: SettingsFactory, docs: Path, record_property: Callable[[str, object], None]
) -> None:
    settings = make_settings()
    depth = 20_000
    html = "<html><body>" + "<div>" * depth + ARTICLE + "</div>" * depth + "</body></html>"
    (docs / "nested.html").write_text(html, encoding="utf-8")
    report = sync(settings)
    if "nested.html" in report.added:
        record_property("measured", f"{depth} levels: indexed")
        assert_in_sync(settings.index_dir, docs)
        catalog = Catalog(settings.index_dir / MANIFEST, readonly=True)
        article = catalog.article("nested.html")
        catalog.close()
        assert article is not None and "اشتباكات عنيفة" in article.text
    else:
        record_property("measured", f"{depth} levels: skipped ({skipped(report)['nested.html']})")
        assert_in_sync(settings.index_dir, docs, unreadable=frozenset({"nested.html"}))


@pytest.mark.reliability("file names with spaces, Arabic letters and '..'")
def test_unusual_file_names(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    names = ["خبر عاجل عن الرقة.txt", "report  two.md", "a..b.txt", "sub dir/مقال.html"]
    for index, name in enumerate(names):
        (docs / name).parent.mkdir(exist_ok=True)
        (docs / name).write_text(f"{ARTICLE} رقم {index}", encoding="utf-8")
    report = sync(settings)
    assert set(names) <= set(report.added)
    contents = assert_in_sync(settings.index_dir, docs)
    assert set(names) <= set(contents.files)


@pytest.mark.reliability("symbolic links out of the documents folder")
def test_symlinks_outside_the_folder_are_refused(make_settings: SettingsFactory, docs: Path, tmp_path: Path) -> None:
    settings = make_settings()
    secret = tmp_path / "secret.txt"
    secret.write_text("كلمة السر السرية", encoding="utf-8")
    (docs / "leak.txt").symlink_to(secret)
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    (docs / "inside.txt").symlink_to(docs / "000_568e6625231925c3.txt")
    report = sync(settings)
    reasons = skipped(report)
    assert reasons["leak.txt"] == "symbolic link pointing outside the documents folder"
    assert reasons["loop.txt"] == "broken symbolic link"
    assert [(d.path, d.duplicate_of) for d in report.duplicates] == [("inside.txt", "000_568e6625231925c3.txt")]
    contents = assert_in_sync(settings.index_dir, docs, unreadable=frozenset({"leak.txt", "loop.txt"}))
    assert "leak.txt" not in contents.files


class RacingEmbedder:
    """Loads the real model, and meanwhile deletes one file and rewrites another, as a person might mid-ingest."""

    def __init__(self, delete: Path, change: Path) -> None:
        self.delete, self.change = delete, change

    def __call__(self, settings: Settings) -> Embedder:
        self.delete.unlink()
        self.change.write_text(ARTICLE + " نسخة معدلة أثناء الفهرسة.", encoding="utf-8")
        return SentenceTransformerEmbedder(settings.embedding_model)


@pytest.mark.reliability("a file deleted or changed while it is being ingested")
def test_file_deleted_or_changed_during_ingest(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    (docs / "gone.txt").write_text(ARTICLE + " سيحذف.", encoding="utf-8")
    (docs / "edited.txt").write_text(ARTICLE + " الأصل.", encoding="utf-8")
    report = sync(settings, embedder_factory=RacingEmbedder(docs / "gone.txt", docs / "edited.txt"))
    assert "cannot be read" in skipped(report)["gone.txt"]
    assert "edited.txt" in report.added
    assert_in_sync(settings.index_dir, docs)
    again = sync(settings)
    assert "edited.txt" in again.unchanged  # the content that was read is the content now on disk
    assert (again.added, again.removed, again.embedded) == ((), (), 0)


@pytest.mark.reliability("PDF without a text layer")
def test_pdf_without_text_layer(make_settings: SettingsFactory, docs: Path) -> None:
    from pypdf import PdfWriter

    settings = make_settings()
    buffer = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(buffer)
    (docs / "scan.pdf").write_bytes(buffer.getvalue())
    reasons = skipped(sync(settings))
    assert "no text layer" in reasons["scan.pdf"] and "OCR" in reasons["scan.pdf"]
    assert_in_sync(settings.index_dir, docs, unreadable=frozenset({"scan.pdf"}))


@pytest.mark.reliability("unreadable file (permissions)")
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    locked = docs / "locked.txt"
    locked.write_text(ARTICLE, encoding="utf-8")
    locked.chmod(0)
    assert "cannot be read" in skipped(sync(settings))["locked.txt"]
