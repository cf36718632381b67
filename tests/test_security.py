"""Security of the web chat: login, exposure warning, escaped model output, no secrets in messages or logs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from assistant.cli import exposure_warning, parse_auth
from assistant.llm import redact
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, ROOT, free_port, serve_app

QUESTION = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"
HOSTILE_REPLY = (
    'مدة الرسالة 55 دقيقة [1]. <img src=x onerror="alert(1)"> <script>alert(2)</script> '
    '[اضغط](javascript:alert(3)) <a href="javascript:alert(4)">رابط</a> $$\\alert$$'
)


def serve(assistant: Assistant, auth: tuple[str, str] | None = None) -> tuple[Any, str]:
    from assistant.ui import create_app

    app = create_app(assistant)
    return app, serve_app(app, auth)


@pytest.mark.reliability("wrong credentials are rejected")
def test_login_is_required_and_wrong_credentials_rejected(lexical_seed_index: AssistantSettings) -> None:
    import httpx
    from gradio_client import Client

    assistant = Assistant.from_settings(lexical_seed_index)
    app, url = serve(assistant, auth=("reader", "correct horse"))
    try:
        assert httpx.post(f"{url}login", data={"username": "reader", "password": "wrong"}).status_code >= 400
        assert httpx.get(f"{url}config").status_code in (401, 403)
        with pytest.raises(Exception, match=r"(?i)login|auth|credentials|401|403"):
            Client(url, auth=("reader", "wrong"), verbose=False, analytics_enabled=False)
        client = Client(url, auth=("reader", "correct horse"), verbose=False, analytics_enabled=False)
        answer = client.predict(QUESTION, api_name="/ask")
        assert answer["citations"][0]["source"] == "003_0262f053a42b4a37.txt"
    finally:
        app.close()
        assistant.close()


@pytest.mark.reliability("binding beyond loopback without --auth warns")
def test_exposure_warning() -> None:
    assert exposure_warning("127.0.0.1", None) == ""
    assert exposure_warning("0.0.0.0", ("a", "b")) == ""
    assert "--auth" in exposure_warning("0.0.0.0", None)
    assert parse_auth("user:pa:ss") == ("user", "pa:ss")
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_auth("nopassword")


@pytest.fixture
def hostile_page(lexical_seed_index: AssistantSettings) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium")
    assistant = Assistant.from_settings(lexical_seed_index, chat_model=FakeListChatModel(responses=[HOSTILE_REPLY]))
    app, url = serve(assistant)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page: Any = browser.new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url, wait_until="load")
        page.wait_for_selector("#question textarea")
        yield page
        browser.close()
    app.close()
    assistant.close()


@pytest.mark.reliability("prompt-injected or hostile LLM output cannot render active HTML")
def test_llm_output_is_shown_as_text(hostile_page: Any) -> None:
    page = hostile_page
    page.fill("#question textarea", QUESTION)
    page.click("#send")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chat .msg')].some(m => m.innerText.includes('alert(2)'))",
        timeout=60_000,
    )
    page.wait_for_timeout(1000)
    text = page.locator("#chat").inner_text()
    assert "<script>alert(2)</script>" in text and "javascript:alert(4)" in text
    assert page.locator("#chat script, #chat img[src='x'], #chat a[href^='javascript'], #chat .katex").count() == 0
    assert page.dialogs == []


@pytest.mark.reliability("no secrets in error messages or logs")
def test_secrets_never_reach_messages_or_logs(
    tmp_path: Path, lexical_seed_index: AssistantSettings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-proj-SECRETSECRET1234567890"
    environment = {
        "OPENAI_API_KEY": secret,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "ASSISTANT_AUTH": "admin:hunter2-password",
    }
    environment["OPENAI_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"  # the OpenAI-compatible server is down
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "-v",
            "ask",
            QUESTION,
            "--index",
            str(lexical_seed_index.index.index_dir),
            "--model",
            lexical_seed_index.index.embedding_model,
            "--llm",
            "openai:gpt-4o-mini",
        ],
        cwd=ROOT,
        env={**environment, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    try:
        import langchain_openai  # noqa: F401
    except ImportError:  # without the [openai] extra: the error names it
        assert result.returncode == 1 and "arabic-news-assistant[openai]" in output
    else:  # with it: the unreachable server gives the extractive answer and a note (Arabic: an Arabic question)
        assert result.returncode == 0 and "تعذّر الوصول إلى النموذج اللغوي" in output
    assert secret not in output and "hunter2" not in output

    class LeakyModel:
        def stream(self, messages: list[Any]) -> Iterator[str]:
            raise PermissionError(f"Incorrect API key provided: {secret}. Bearer {secret}")

    os.environ["OPENAI_API_KEY"] = secret
    try:
        answer = Assistant.from_settings(lexical_seed_index, chat_model=LeakyModel()).ask(QUESTION)
    finally:
        del os.environ["OPENAI_API_KEY"]
    assert answer.mode == "extractive-fallback" and secret not in answer.note and "***" in answer.note
    assert "LLM failed" in caplog.text and secret not in caplog.text
    assert redact(f"token {secret} and Bearer abc.def") == "token *** and ***"


PASSWORD = "pa55-w0rd-s3cret"


@pytest.mark.reliability("URL user:password and configured secrets kept out of notes, errors, logs and JSON")
def test_url_passwords_never_reach_notes_errors_logs_or_json(
    tmp_path: Path,
    docs: Path,
    tiny_model: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from assistant.cli import main
    from ingest.sync import sync

    url = f"http://reader:{PASSWORD}@127.0.0.1:{free_port()}"  # the Chroma server is down
    local = AssistantSettings.from_env({}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model))
    sync(local.index)
    remote = AssistantSettings.from_env(
        {"ASSISTANT_CHROMA_URL": url, "ASSISTANT_AUTH": "admin:hunter2-password"},
        docs_dir=docs,
        index_dir=tmp_path / "index",
        embedding_model=str(tiny_model),
    )
    assistant = Assistant.from_settings(remote)
    caplog.set_level(logging.INFO)
    answer = assistant.ask(QUESTION)
    assistant.close()
    assert "***@127.0.0.1" in answer.note and "assistant status" in answer.note  # the note, in Arabic
    logging.getLogger("somewhere.else").warning("connecting to %s as admin:hunter2-password", url)
    assert PASSWORD not in answer.note and PASSWORD not in caplog.text and "hunter2" not in caplog.text

    monkeypatch.setenv("ASSISTANT_CHROMA_URL", url)
    index, model = str(tmp_path / "index"), str(tiny_model)
    assert main(["ask", QUESTION, "--index", index, "--model", model, "--json"]) == 0
    assert main(["ingest", str(docs), "--index", str(tmp_path / "other"), "--model", model]) == 1
    out, err = capsys.readouterr()
    assert "***@127.0.0.1" in out and "not reachable" in err
    assert PASSWORD not in out + err + caplog.text


def test_redact_hides_userinfo_keys_and_configured_secrets() -> None:
    assert (
        redact("postgres://app:longpassword@db:5432/x and https://u@h") == "postgres://***@db:5432/x and https://***@h"
    )
    assert redact("the token is abcd-1234-zz", secrets={"abcd-1234-zz"}) == "the token is ***"
    assert redact("Authorization: Bearer abc.def") == "Authorization: ***"
    settings = AssistantSettings.from_env(
        {"ASSISTANT_AUTH": "admin:correct-horse", "ASSISTANT_CHROMA_URL": "http://a:b1b2@h"}
    )
    assert {"admin:correct-horse", "correct-horse", "b1b2"} <= settings.secrets()
