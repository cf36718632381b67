"""One read-side snapshot: a reader that stays open sees what a later ingest in another process wrote."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.sync import sync
from tests.conftest import ROOT
from tests.index_checks import ingest_command

FIRE = (
    "حريق في مصنع للنسيج بطنجة\n"
    "لقي أحد عشر عاملاً مصرعهم إثر اندلاع حريق ضخم في مصنع للنسيج بمدينة طنجة شمالي المغرب، وفق ما أعلنت "
    "السلطات المحلية. وأوضحت السلطات أن النيران اشتعلت في الطابق السفلي قبل أن تمتد إلى المخازن.\n"
)
QUESTION = "How many workers died in the fire at the textile factory in Tangier?"


def test_an_open_reader_searches_vectors_another_process_wrote(tmp_path: Path, docs: Path, tiny_model: Path) -> None:
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
    )
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    try:
        assert assistant.retriever.retrieve("منبج").dense
        first = assistant.retriever.reader.generation
        (docs / "fire.txt").write_text(FIRE, encoding="utf-8")
        done = subprocess.run(
            ingest_command(docs, settings.index.index_dir, tiny_model), cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        embedder = assistant.retriever.embedder
        assert embedder is not None
        vector = embedder.embed_documents([FIRE.splitlines()[1]])[0]
        with assistant.retriever.reader.snapshot() as snapshot:
            assert snapshot.generation == first + 1
            chunks = snapshot.chunks([hit.chunk_id for hit in snapshot.dense_search(vector, 3)])
        assert any(chunk.source == "fire.txt" for chunk in chunks.values())  # the new vectors, not the old graph
    finally:
        assistant.close()


@pytest.mark.slow
@pytest.mark.reliability("a running chat server answers from a document a CLI ingest added after it started")
def test_a_running_server_answers_from_a_document_a_cli_ingest_added(
    tmp_path: Path, docs: Path, bundled_cache: Path, record_property: Callable[[str, object], None]
) -> None:
    from gradio_client import Client

    from assistant.ui import create_app, launch

    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model="bundled", cache_dir=bundled_cache
    )
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    app = create_app(assistant)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    launch(app, "127.0.0.1", port, None, block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        before: dict[str, Any] = client.predict(QUESTION, api_name="/ask")
        assert all(c["source"] != "fire.txt" for c in before["citations"])

        (docs / "fire.txt").write_text(FIRE, encoding="utf-8")
        env = {**os.environ, "ASSISTANT_CACHE_DIR": str(bundled_cache)}
        command = [sys.executable, "-m", "assistant", "ingest", str(docs), "--index", str(settings.index.index_dir)]
        done = subprocess.run([*command, "--model", "bundled"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

        after: dict[str, Any] = client.predict(QUESTION, api_name="/ask")
        assert not after["abstained"] and after["citations"][0]["source"] == "fire.txt"
        # only the vectors can find it: an English question shares no term with the Arabic article
        fire = [p for p in assistant.retriever.retrieve(QUESTION).passages if p.source == "fire.txt"]
        assert fire and all(p.found_by == ("dense",) for p in fire)
        record_property("measured", f"cited {after['citations'][0]['source']} (found by the vectors only)")
    finally:
        app.close()
        assistant.close()


def test_a_lexical_file_damaged_under_an_open_reader_is_noted_in_that_answer(
    tmp_path: Path, docs: Path, tiny_model: Path
) -> None:
    from assistant.notes import NoteKind
    from ingest.layout import IndexLayout, read_state

    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "index", embedding_model=str(tiny_model)
    )
    sync(settings.index)
    assistant = Assistant.from_settings(settings)
    try:
        assert not assistant.retriever.retrieve("منبج").notes
        layout = IndexLayout(settings.index.index_dir)
        state = read_state(layout)
        assert state is not None
        live = layout.lexical / state.lexical
        largest = max((p for p in live.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
        largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
        found = assistant.retriever.retrieve("منبج")  # the search finds the damage: this answer carries the note
        assert [n.kind for n in found.notes] == [NoteKind.LEXICAL_UNAVAILABLE]
        assert found.dense
    finally:
        assistant.close()


def test_a_reader_that_read_state_json_as_an_ingest_published_opens_the_new_generation(
    make_settings: Callable[..., Any], docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.reader
    from ingest.layout import IndexLayout, read_state, write_state

    settings = make_settings()
    sync(settings)
    layout = IndexLayout(settings.index_dir)
    before = read_state(layout)
    (docs / "added.txt").write_text("ضرب زلزال مدمر جزيرة هوكايدو في اليابان صباح اليوم.", encoding="utf-8")
    sync(settings)
    after = read_state(layout)
    assert before is not None and after is not None and before.lexical != after.lexical
    reads: list[str] = []

    def racing(at: IndexLayout) -> Any:
        reads.append("state.json")
        if len(reads) == 1:  # read just before the ingest published (and removed the generation named here)
            write_state(at, after)
            return before
        return read_state(at)

    monkeypatch.setattr(ingest.reader, "read_state", racing)
    reader = ingest.reader.IndexReader(settings)
    try:
        with reader.snapshot() as snapshot:
            assert snapshot.problems == [] and snapshot.state == after and len(reads) == 2
            assert [h.chunk_id for h in snapshot.lexical_search("زلزال في اليابان", 1)]
    finally:
        reader.close()
