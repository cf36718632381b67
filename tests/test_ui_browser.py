"""The web chat end to end in headless Chromium (Debian's chromium, driven by Playwright).

Screenshots of failing tests are kept in test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT, build_lexical_seed_index

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat app served in-process on 127.0.0.1 over a lexical-only copy of the seeds (its own docs folder)."""
    from assistant.ui import create_app, launch

    assistant = Assistant.from_settings(build_lexical_seed_index(tmp_path_factory.mktemp("ui")))
    app = create_app(assistant)
    port = free_port()
    launch(app, "127.0.0.1", port, None, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    assistant.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, app_url: str, request: pytest.FixtureRequest) -> Iterator[Any]:
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
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#question textarea")
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


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


def upload(page: Any, path: Path) -> str:
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_timeout(500)
    page.click("#add")
    page.wait_for_function(
        "() => document.querySelector('#ingest-report')?.innerText.includes('added')", timeout=120_000
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
    questions = [
        "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
        "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟",
        "كم كانت مدة التسجيل الصوتي لأبي الحسن المهاجر؟",
        "من هو لاهور طالباني؟",
        "بماذا هدد المهاجر نيوزيلندا؟",
        "ماذا حدث في تفجير منبج؟",
        "What is the capital of Japan?",
        "ما هي عاصمة اليابان؟",
    ]
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
