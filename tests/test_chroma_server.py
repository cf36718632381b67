"""The dense store on a real `chroma run` server (127.0.0.1): ingest, ask, sync, SIGKILL repair, outage."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.phrases import phrase
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.sync import sync
from tests.conftest import ROOT, SEEDS
from tests.corpus import seed_sentences, write_articles
from tests.index_checks import assert_in_sync, assert_in_sync_in_fresh_process, ingest_command, wait_for

CHROMA = Path(sys.executable).parent / "chroma"
pytestmark = pytest.mark.slow


class ChromaServer:
    """`chroma run` on a free loopback port, stoppable and restartable on the same data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("chroma run did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    chroma = ChromaServer(tmp_path / "chroma-server-data")
    chroma.start()
    yield chroma
    chroma.stop()


def settings_for(tmp_path: Path, docs: Path, model: Path, url: str) -> AssistantSettings:
    return AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(model), chroma_url=url
    )


@pytest.mark.reliability("a real `chroma run` server: ingest, ask, incremental sync")
def test_ingest_ask_and_sync_against_the_server(
    tmp_path: Path, docs: Path, tiny_model: Path, server: ChromaServer
) -> None:
    settings = settings_for(tmp_path, docs, tiny_model, server.url)
    report = sync(settings.index)
    assert report.dense and len(report.added) == 5
    assert not (settings.index.index_dir / "chroma").exists()  # vectors live on the server
    assert_in_sync(settings.index.index_dir, docs, chroma_url=server.url)

    (docs / "000_568e6625231925c3.txt").unlink()
    (docs / "new.txt").write_text("ضربت عاصفة رملية مدينة الرقة وأغلقت الطرق ثلاثة أيام.\n", encoding="utf-8")
    report = sync(settings.index)
    assert report.added == ("new.txt",) and report.removed == ("000_568e6625231925c3.txt",)
    assert_in_sync(settings.index.index_dir, docs, chroma_url=server.url)

    assistant = Assistant.from_settings(settings)
    answer = assistant.ask("كم يوماً أغلقت العاصفة الطرق في الرقة؟", sources=["new.txt"])
    assert answer.mode == "extractive" and answer.note == "" and answer.citations[0].source == "new.txt"
    assistant.close()


@pytest.mark.reliability("SIGKILL during ingest against the Chroma server")
def test_sigkilled_ingest_is_repaired_against_the_server(
    tmp_path: Path, tiny_model: Path, server: ChromaServer
) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    write_articles(docs, 120, seed_sentences(SEEDS))
    env = {**os.environ, "ASSISTANT_CHROMA_URL": server.url}
    command = ingest_command(docs, index, tiny_model)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(index / ".pending", process)
    time.sleep(1.0)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    repaired = subprocess.run([*command, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout)["chunks"] > 0
    assert_in_sync_in_fresh_process(index, docs, env)


@pytest.mark.reliability("Chroma server stopped mid-questions, then restarted")
def test_server_outage_degrades_to_lexical_and_recovers(
    tmp_path: Path, docs: Path, tiny_model: Path, server: ChromaServer
) -> None:
    settings = settings_for(tmp_path, docs, tiny_model, server.url)
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    question = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"
    assert assistant.ask(question).note == ""
    server.stop()
    during = assistant.ask(question)
    assert during.note == phrase("note_dense_unavailable", "ar", where=server.url)  # in the question's language
    assert during.citations and during.citations[0].source == "003_0262f053a42b4a37.txt"
    server.start()
    after = assistant.ask(question)
    assert after.note == "" and after.mode == "extractive"
    assistant.close()


@pytest.mark.reliability("Chroma server unreachable at ingest")
def test_unreachable_server_at_ingest_is_a_clear_error(tmp_path: Path, docs: Path, tiny_model: Path) -> None:
    from ingest.chroma_store import DenseStoreUnavailableError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(tmp_path, docs, tiny_model, f"http://127.0.0.1:{port}")
    with pytest.raises(DenseStoreUnavailableError, match="chroma run"):
        sync(settings.index)
    shutil.rmtree(tmp_path / "index", ignore_errors=True)


@pytest.mark.reliability("Chroma server unreachable at status")
def test_status_says_to_start_an_unreachable_server_not_to_ingest(tmp_path: Path, docs: Path, tiny_model: Path) -> None:
    from assistant.cli import format_status
    from ingest.status import index_status

    sync(
        AssistantSettings.from_env(
            {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
        ).index
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(tmp_path, docs, tiny_model, f"http://reader:s3cret@127.0.0.1:{port}")
    status = index_status(settings.index, deep=True)
    assert not status.healthy and not status.dense and status.lexical
    (problem,) = status.problems
    assert problem.part == "dense" and not problem.repairable
    assert "chroma run" in problem.detail and "assistant ingest" not in problem.detail
    shown = format_status(status)
    assert "not checked (the Chroma server does not answer" in shown
    assert "s3cret" not in shown and "s3cret" not in json.dumps(status.to_dict())
