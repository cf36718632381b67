"""The web chat end to end in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots of failing tests are kept in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.files import IndexLock
from ingest.status import index_status
from ingest.sync import sync
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT, build_lexical_seed_index, serve_app
from tests.corpus import SEED_QUESTIONS

ARTIFACTS = ROOT / "test-artifacts"

# Skipped on a developer machine without Chromium; under CI (which installs it) a missing browser fails instead.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium fonts-noto-core; .ci/run does)",
)

NEW_ARTICLE = (
    "عاصفة رملية تضرب مدينة الرقة\n"
    "ضربت عاصفة رملية شديدة مدينة الرقة السورية يوم الأحد وأدت إلى إغلاق الطرق الرئيسية لمدة ثلاثة أيام.\n"
    "وقال مسؤولون محليون إن العاصفة الرملية أوقفت حركة الشاحنات بين الرقة ودير الزور.\n"
)
HOSTILE_ARTICLE = (
    "تقرير عن الطائرات المسيرة فوق الموصل\n"
    "رصد سكان الموصل طائرات مسيرة صغيرة فوق المدينة القديمة <script>alert(1)</script> "
    '<img src=x onerror="alert(2)"> [اضغط هنا](javascript:alert(3)) وأكدوا أن الطائرات المسيرة حلقت ليلاً.\n'
)


@dataclass
class Served:
    """The chat served in-process on 127.0.0.1 over its own lexical-only copy of the seeds."""

    url: str
    settings: AssistantSettings
    app: Any
    assistant: Assistant

    def close(self) -> None:
        self.app.close()
        self.assistant.close()


def serve(root: Path, refresh_seconds: float = 5.0) -> Served:
    from assistant.ui import create_app

    assistant = Assistant.from_settings(build_lexical_seed_index(root))
    app = create_app(assistant, refresh_seconds=refresh_seconds)
    return Served(serve_app(app), assistant.settings, app, assistant)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app for the tests that only add documents (each test adds its own)."""
    app = serve(tmp_path_factory.mktemp("ui"))
    yield app
    app.close()


@pytest.fixture(scope="module")
def app_url(served: Served) -> str:
    return served.url


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Served]:
    """An app of its own, for a test that damages, edits or removes what the index holds."""
    app = serve(tmp_path / "app", refresh_seconds=1.0)
    yield app
    app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def open_page(browser: Any, url: str) -> Any:
    """A fresh browser session on the app; records dialogs and every request that leaves 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.external = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on(
        "request",
        lambda r: (
            page.external.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))
            else None
        ),
    )
    page.goto(url, wait_until="load")
    page.wait_for_selector("#question textarea")
    return page


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Any]]:
    """Opens browser sessions (closed after the test; screenshots of them kept when it fails)."""
    opened: list[Any] = []

    def new(url: str) -> Any:
        opened.append(open_page(browser, url))
        return opened[-1]

    yield new
    report = getattr(request.node, "rep_call", None)
    for number, page in enumerate(opened):
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{number}.png"), full_page=True)
        page.context.close()


@pytest.fixture
def page(pages: Callable[[str], Any], app_url: str) -> Any:
    """A fresh browser session on the shared app."""
    return pages(app_url)


def ask(page: Any, question: str) -> Any:
    """Type a question, send it, and wait for the answer; returns the last answer message element."""
    before = page.locator("#chat .message-row.bot-row, #chat .bot-row").count()
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .bot-row').length > n && "
        "!document.querySelector('#chat .generating') && "
        "![...document.querySelectorAll('#chat .msg')].some(m => m.textContent === '…')",
        arg=before,
        timeout=60_000,
    )
    page.wait_for_timeout(300)
    return page.locator("#chat .msg").last


def test_arabic_question_gets_an_rtl_answer_citing_the_right_file(page: Any) -> None:
    ask(page, "ما مدة الرسالة الصوتية الجديدة للبغدادي؟")
    answer = page.locator("#chat .msg").filter(has_text="بحسب الوثائق").last
    assert answer.get_attribute("dir") == "rtl"
    assert answer.locator(".cite").first.inner_text() == "[1]"
    assert "55 دقيقة" in answer.inner_text()
    direction = answer.evaluate("el => getComputedStyle(el).direction")
    assert direction == "rtl"
    page.get_by_text("المصادر (", exact=False).last.click()
    source = page.locator("#chat .source").first
    assert "003_0262f053a42b4a37.txt" in source.inner_text()
    assert "55 دقيقة" in source.locator("mark").first.inner_text()
    assert page.external == []


def test_opening_a_source_shows_the_article_with_the_passage_highlighted(page: Any) -> None:
    ask(page, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟")
    page.click("#source-choice input")
    page.get_by_role("option").first.click()
    mark = page.locator("#viewer #passage-highlight")
    mark.wait_for(timeout=10_000)
    assert "20 و30 ألف" in mark.inner_text()
    assert page.locator("#viewer .article").get_attribute("dir") == "rtl"
    page.wait_for_timeout(500)
    in_view = mark.evaluate(
        "el => { const r = el.getBoundingClientRect(); const b = el.closest('.article-body').getBoundingClientRect();"
        " return r.top < b.bottom && r.bottom > b.top && r.top < innerHeight && r.bottom > 0; }"
    )
    assert in_view


def test_english_question_is_shown_left_to_right(page: Any) -> None:
    ask(page, "What did the UN estimate about the number of داعش fighters (الأمم المتحدة)?")
    question = page.locator("#chat .msg").filter(has_text="What did the UN").first
    assert question.get_attribute("dir") == "ltr"
    answer = page.locator("#chat .msg").filter(has_text="According to the documents").last
    if answer.count():
        assert answer.get_attribute("dir") == "ltr"
    else:  # an honest abstention is in English too
        assert page.locator("#chat .msg").filter(has_text="I could not find").last.get_attribute("dir") == "ltr"


def upload(page: Any, path: Path, until: str = "Indexed:") -> str:
    """Add a file through the documents panel; returns the report once it shows `until`."""
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_timeout(500)
    page.click("#add")
    return report_showing(page, until)


def report_showing(page: Any, text: str, timeout: float = 120_000) -> str:
    page.wait_for_function(
        "t => document.querySelector('#ingest-report')?.innerText.includes(t)", arg=text, timeout=timeout
    )
    return str(page.locator("#ingest-report").inner_text())


def test_uploaded_article_is_indexed_and_cited(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "عاصفة الرقة.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    report = upload(page, path)
    assert "1 added" in report
    ask(page, "كم يوماً أغلقت العاصفة الرملية الطرق في الرقة؟")
    page.get_by_text("المصادر (", exact=False).last.click()
    assert "عاصفة الرقة.txt" in page.locator("#chat .source").first.inner_text()
    assert "ثلاثة أيام" in page.locator("#chat .msg").filter(has_text="بحسب الوثائق").last.inner_text()


def test_hostile_article_shows_as_text_and_runs_nothing(page: Any, tmp_path: Path) -> None:
    path = tmp_path / "drones.txt"
    path.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    upload(page, path)
    ask(page, "ماذا رصد سكان الموصل من طائرات مسيرة فوق المدينة القديمة؟")
    page.get_by_text("المصادر (", exact=False).last.click()
    page.wait_for_timeout(1000)
    chat_text = page.locator("#chat").inner_text()
    assert "<script>alert(1)</script>" in chat_text  # shown as text
    assert page.locator("#chat script, #chat img[src='x'], #chat a[href^='javascript']").count() == 0
    assert page.dialogs == []


def test_api_answers_eight_questions_in_parallel(app_url: str) -> None:
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    questions = [*SEED_QUESTIONS, "What is the capital of Japan?", "ما هي عاصمة اليابان؟"]
    lock = threading.Lock()
    seen: list[str] = []

    def call(question: str) -> dict[str, Any]:
        result: dict[str, Any] = client.predict(question, api_name="/ask")
        with lock:
            seen.append(question)
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, questions))
    assert sorted(seen) == sorted(questions)
    for question, answer in zip(questions, answers, strict=True):
        assert {"text", "language", "abstained", "mode", "citations"} <= set(answer)
        assert answer["language"] == ("en" if question.startswith("What") else "ar")
    assert answers[0]["citations"][0]["source"] == "003_0262f053a42b4a37.txt"
    assert answers[6]["abstained"] and answers[7]["abstained"]


STORM_QUESTION = "كم يوماً أغلقت العاصفة الرملية الطرق في الرقة؟"


def status_text(page: Any) -> str:
    return str(page.locator("#status").inner_text())


def test_upload_while_another_ingest_holds_the_index_is_queued_then_indexed(
    pages: Callable[[str], Any], served: Served, tmp_path: Path
) -> None:
    page = pages(served.url)
    path = tmp_path / "storm-queued.txt"
    path.write_text(NEW_ARTICLE.replace("الرقة", "الطبقة"), encoding="utf-8")
    with IndexLock(served.settings.index.index_dir):  # another `assistant ingest` is writing
        report = upload(page, path, until="Queued")
        assert "another ingest" in report and "storm-queued.txt: saved" in report
        assert "--wait" not in report and str(served.settings.index.index_dir) not in report
        page.wait_for_function("() => (document.querySelector('#status')?.innerText ?? '').includes('queued')")
        page.wait_for_timeout(1500)
        assert "Indexed:" not in page.locator("#ingest-report").inner_text()  # still waiting for the lock
    report = report_showing(page, "Indexed:", timeout=60_000)
    assert "storm-queued.txt: indexed" in report
    ask(page, "كم يوماً أغلقت العاصفة الرملية الطرق في الطبقة؟")
    page.get_by_text("المصادر (", exact=False).last.click()
    assert "storm-queued.txt" in page.locator("#chat .source").first.inner_text()


def test_upload_without_the_documents_folder_is_refused_and_the_index_kept(
    pages: Callable[[str], Any], fresh: Served, tmp_path: Path
) -> None:
    docs = fresh.settings.index.docs_dir
    page = pages(fresh.url)
    shutil.move(docs, tmp_path / "moved-away")
    path = tmp_path / "storm.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    report = upload(page, path, until="missing")
    assert "documents folder is missing" in report and "nothing was saved" in report
    assert str(docs) not in report
    assert not docs.exists()  # never re-created empty
    page.wait_for_timeout(1500)
    assert index_status(fresh.settings.index).documents == 5
    page.click("#reindex")
    assert "documents folder is missing" in report_showing(page, "nothing was indexed")
    assert index_status(fresh.settings.index).documents == 5


def test_every_session_reads_the_current_status_and_document_list(
    pages: Callable[[str], Any], fresh: Served, tmp_path: Path
) -> None:
    early = pages(fresh.url)  # open before the upload, left open
    assert re.search(r"documents\s+5", status_text(early))
    path = tmp_path / "عاصفة.md"  # its front matter names an outlet no other article has
    path.write_text(f"---\noutlet: صحيفة العاصفة\ndate: 2019-05-01\n---\n{NEW_ARTICLE}", encoding="utf-8")
    upload(pages(fresh.url), path)
    late = pages(fresh.url)  # a new session after the upload
    for page in (late, early):  # the new one at load, the open one within a refresh
        page.wait_for_function(
            "() => /documents\\s+6/.test(document.querySelector('#status')?.innerText ?? '')", timeout=15_000
        )
    for page in (late, early):
        page.get_by_text("Settings / الإعدادات").click()
        page.click("#outlets input")
        page.get_by_role("option", name="صحيفة العاصفة").wait_for(timeout=5_000)
        page.keyboard.press("Escape")
    page = late
    page.click("#filter input")
    page.get_by_role("option", name="عاصفة.md").click()
    page.keyboard.press("Escape")
    ask(page, STORM_QUESTION)
    assert "not in the list of choices" not in page.locator("body").inner_text()
    page.get_by_text("المصادر (", exact=False).last.click()
    assert "عاصفة.md" in page.locator("#chat .source").first.inner_text()


def open_first_source(page: Any) -> Any:
    page.click("#source-choice input")
    page.get_by_role("option").first.click()
    page.locator("#viewer .article").wait_for(timeout=10_000)
    page.wait_for_timeout(300)
    return page.locator("#viewer")


def test_citation_viewer_warns_when_the_article_changed_and_finds_the_quote(
    pages: Callable[[str], Any], fresh: Served
) -> None:
    page = pages(fresh.url)
    ask(page, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟")
    source = fresh.settings.index.docs_dir / "003_0262f053a42b4a37.txt"
    lines = source.read_text(encoding="utf-8").split("\n")
    # the article is edited: a paragraph added near the top moves every later sentence
    source.write_text("\n".join([*lines[:3], "فقرة جديدة أضيفت إلى المقال بعد نشره بأيام. " * 5, *lines[3:]]), "utf-8")
    sync(fresh.settings.index)
    viewer = open_first_source(page)
    assert "This article changed" in viewer.inner_text() or "تغيّرت هذه المقالة" in viewer.inner_text()
    assert "20 و30 ألف" in viewer.locator("#passage-highlight").inner_text()

    page.click("#clear")
    page.wait_for_function("() => !document.querySelector('#chat .bot-row')")
    ask(page, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟")
    source.write_text("\n".join(lines[:3]), "utf-8")  # now cut short: the quoted sentence is gone
    sync(fresh.settings.index)
    viewer = open_first_source(page)
    text = viewer.inner_text()
    assert "لم تعد تحتوي الجملة المقتبسة" in text and "كانت الإجابة تقتبس" in text
    assert viewer.locator("#passage-highlight").count() == 0


def test_citation_viewer_follows_a_renamed_article_and_says_when_it_is_gone(
    pages: Callable[[str], Any], fresh: Served
) -> None:
    page = pages(fresh.url)
    ask(page, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟")
    docs = fresh.settings.index.docs_dir
    (docs / "أرشيف").mkdir()
    (docs / "003_0262f053a42b4a37.txt").rename(docs / "أرشيف" / "منبج.txt")  # renamed under an open citation
    sync(fresh.settings.index)
    viewer = open_first_source(page)
    text = viewer.inner_text()
    assert "نُقلت هذه المقالة أو أُعيدت تسميتها" in text and "أرشيف/منبج.txt" in text
    assert "20 و30 ألف" in viewer.locator("#passage-highlight").inner_text()

    page.click("#clear")
    page.wait_for_function("() => !document.querySelector('#chat .bot-row')")
    ask(page, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟")  # now cited under its new name
    (docs / "أرشيف" / "منبج.txt").unlink()
    sync(fresh.settings.index)
    page.click("#source-choice input")
    page.get_by_role("option").first.click()
    page.wait_for_function("() => document.querySelector('#viewer').innerText.includes('لم تعد هذه المقالة')")
    assert "لم تعد هذه المقالة في الفهرس" in viewer.inner_text() and "كانت الإجابة تقتبس" in viewer.inner_text()
    assert viewer.locator("#passage-highlight").count() == 0


def test_a_damaged_index_gives_advice_not_a_raw_error(pages: Callable[[str], Any], fresh: Served) -> None:
    from gradio_client import Client

    from ingest.layout import IndexLayout, read_state

    page = pages(fresh.url)
    layout = IndexLayout(fresh.settings.index.index_dir)
    state = read_state(layout)
    assert state is not None
    live = layout.lexical / state.lexical
    largest = max((p for p in live.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])  # truncated under the running server
    ask(page, "ماذا حدث في تفجير منبج؟")
    text = page.locator("#chat").inner_text()
    assert "الفهرس المعجمي مفقود أو تالف" in text and "assistant ingest" in text  # a note, in the question's language
    assert "Errno" not in text and str(live) not in text and "Error:" not in text
    client = Client(fresh.url, verbose=False)
    answer = client.predict("What happened in Manbij?", api_name="/ask")
    assert "The lexical index is missing or damaged" in answer["note"] and str(live) not in str(answer)
