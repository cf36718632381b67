"""Faults and load: disk full during ingest, questions during an ingest, many chat sessions at once."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.sync import sync
from tests.conftest import ROOT, SEEDS, serve_app
from tests.corpus import seed_sentences, write_articles
from tests.index_checks import assert_in_sync, assert_in_sync_in_fresh_process, ingest_command

pytestmark = pytest.mark.slow
QUESTION = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"


@pytest.mark.reliability("disk full during ingest (ulimit -f)")
def test_disk_full_gives_a_clear_error_and_the_old_index_still_answers(
    tmp_path: Path, docs: Path, tiny_model: Path, record_property: Callable[[str, object], None]
) -> None:
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
    )
    sync(settings.index)
    write_articles(docs, 150, seed_sentences(SEEDS), prefix="more")
    # no file may grow past the largest one already there (+ a few KB): the next writes of any size fail
    largest = max(p.stat().st_size for p in settings.index.index_dir.rglob("*") if p.is_file())
    command = (
        f"ulimit -f {largest // 1024 + 8}; exec {sys.executable} -m assistant ingest {docs} "
        f"--index {settings.index.index_dir} --model {tiny_model}"
    )
    full = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    record_property("measured", full.stderr.strip().splitlines()[-1][:160] if full.stderr.strip() else "no message")
    assert full.returncode == 1
    assert full.stderr.startswith("Error: ") or "\nError: " in full.stderr
    assert "Traceback" not in full.stderr and "previous index is intact" in full.stderr

    fresh = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "ask",
            QUESTION,
            "--index",
            str(settings.index.index_dir),
            "--model",
            str(tiny_model),
            "--source",
            "003_0262f053a42b4a37.txt",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr
    assert "003_0262f053a42b4a37.txt" in fresh.stdout  # the previous index still answers

    repaired = subprocess.run(
        ingest_command(docs, settings.index.index_dir, tiny_model),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert repaired.returncode == 0, repaired.stderr
    assert_in_sync_in_fresh_process(settings.index.index_dir, docs)


@pytest.mark.reliability("questions answered while an ingest runs")
def test_questions_during_an_ingest_are_answered_from_the_last_consistent_index(
    tmp_path: Path, docs: Path, tiny_model: Path, record_property: Callable[[str, object], None]
) -> None:
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
    )
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    write_articles(docs, 150, seed_sentences(SEEDS), prefix="batch")
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            sync(settings.index, embedder_factory=lambda _s: assistant.retriever.embedder)  # type: ignore[arg-type,return-value]
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    worker = threading.Thread(target=ingest)
    worker.start()
    answered = 0
    while worker.is_alive():
        result = assistant.ask(QUESTION, sources=["003_0262f053a42b4a37.txt"])
        assert not result.abstained and result.citations[0].source == "003_0262f053a42b4a37.txt"
        answered += 1
    worker.join()
    record_property("measured", f"{answered} answers during the ingest")
    assert errors == [] and answered >= 3
    assert_in_sync(settings.index.index_dir, docs)
    assistant.close()


@pytest.mark.reliability("50 concurrent chat sessions through gradio_client")
def test_fifty_concurrent_sessions_are_all_answered(
    lexical_seed_index: AssistantSettings, record_property: Callable[[str, object], None]
) -> None:
    from gradio_client import Client

    from assistant.ui import create_app

    assistant = Assistant.from_settings(lexical_seed_index)
    app = create_app(assistant)
    url = serve_app(app)
    questions = [QUESTION, "كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟", "ماذا حدث في تفجير منبج؟"]

    def session(number: int) -> tuple[float, dict[str, Any]]:
        # one client per person (its own session); a loaded 2-core machine can take over httpx's default 5 s to
        # accept 50 simultaneous joins, which is queueing, not failure
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})
        started = time.monotonic()
        answer: dict[str, Any] = client.predict(questions[number % len(questions)], api_name="/ask")
        return time.monotonic() - started, answer

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(session, range(50), timeout=300))
        total = time.monotonic() - started
    finally:
        app.close()
        assistant.close()
    latencies = sorted(seconds for seconds, _ in results)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    record_property(
        "measured", f"50/50 answered; p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, all in {total:.1f} s"
    )
    assert len(results) == 50
    for number, (_, answer) in enumerate(results):
        assert not answer["abstained"], number
        assert answer["citations"][0]["source"] == "003_0262f053a42b4a37.txt"
