"""Corruption campaign: every file of an index damaged four ways; status names it, answers stay true, ingest repairs.

Each case copies one undamaged index, damages one file (truncated to half, 4 KB zeroed, 4 KB of random
bytes, deleted) and runs the command line in this process, so a crash inside Chroma or tantivy would end
the test run. It checks that no command shows a traceback, that a question is answered correctly or
with a note (or refused with an error), never silently wrong, and that `assistant ingest` (or `--rebuild`,
when the message asks for it) restores exactly the undamaged index.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.cli import main
from ingest.chroma_store import ChromaStore
from ingest.layout import IndexLayout
from ingest.settings import Settings
from ingest.sync import sync
from tests.conftest import SEEDS
from tests.corpus import seed_sentences, write_articles
from tests.index_checks import IndexContents, read_index

pytestmark = [pytest.mark.slow]

FILES = {
    "manifest.sqlite3": "manifest.sqlite3",
    "state.json": "state.json",
    ".lock": ".lock",
    "lexical checksums.json": "lexical/gen-*/checksums.json",
    "lexical meta.json": "lexical/gen-*/meta.json",
    "lexical .managed.json": "lexical/gen-*/.managed.json",
    "lexical *.idx": "lexical/gen-*/*.idx",
    "lexical *.term": "lexical/gen-*/*.term",
    "lexical *.store": "lexical/gen-*/*.store",
    "lexical *.fast": "lexical/gen-*/*.fast",
    "lexical *.fieldnorm": "lexical/gen-*/*.fieldnorm",
    "chroma.sqlite3": "chroma/chroma.sqlite3",
    "HNSW header.bin": "chroma/*/header.bin",
    "HNSW data_level0.bin": "chroma/*/data_level0.bin",
    "HNSW length.bin": "chroma/*/length.bin",
    "HNSW link_lists.bin": "chroma/*/link_lists.bin",
    "HNSW index_metadata.pickle": "chroma/*/index_metadata.pickle",
}
DAMAGES = ("truncate", "zero", "garbage", "delete")
QUESTION = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"
CHUNKS = {"ASSISTANT_CHUNK_TOKENS": "40"}


class Pristine:
    """The undamaged index, its contents, vectors and answer."""

    def __init__(self, root: Path, model: Path) -> None:
        self.docs = root / "docs"
        shutil.copytree(SEEDS, self.docs)
        write_articles(self.docs, 80, seed_sentences(SEEDS), prefix="extra")
        self.model = model
        self.index = root / "index"
        # small chunks: over 1,000 vectors, so Chroma has folded its log into the HNSW graph files
        settings = Settings.from_env(CHUNKS, docs_dir=self.docs, index_dir=self.index, embedding_model=str(model))
        sync(settings)
        self.contents = read_index(self.index)
        self.vectors = vectors(self.index, sorted(self.contents.dense_ids))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(ask_argv(self.index, model)) == 0
        assert self.contents.dense_ids and hnsw_elements(self.index) > 1_000
        self.answer: dict[str, Any] = json.loads(out.getvalue())
        assert self.answer["citations"] and not self.answer["note"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Pristine:
    return Pristine(tmp_path_factory.mktemp("pristine"), tiny_model)


def hnsw_elements(index: Path) -> int:
    """Vectors held by Chroma's HNSW graph files (not only in its log)."""
    import struct

    headers = list(IndexLayout(index).chroma.glob("*/header.bin"))
    return sum(int(struct.unpack_from("<Q", h.read_bytes(), 4 + 16)[0]) for h in headers)


def vectors(index: Path, ids: list[str]) -> np.ndarray:
    store = ChromaStore.open(IndexLayout(index).chroma)
    try:
        found = store.embeddings(ids)
    finally:
        store.close()
    return np.stack([found[i] for i in ids])


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def ask_argv(index: Path, model: Path) -> list[str]:
    return ["ask", QUESTION, "--index", str(index), "--model", str(model), "--json"]


def ask(index: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(ask_argv(index, model), capsys)
    return code, json.loads(out) if code == 0 else {}, err


def damage(path: Path, how: str, rng: random.Random) -> None:
    size = path.stat().st_size
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        os.truncate(path, size // 2)
    else:
        with open(path, "r+b") as handle:
            handle.seek(size // 4)
            count = min(4096, size - size // 4)
            handle.write(bytes(count) if how == "zero" else rng.randbytes(count))


def comparable(contents: IndexContents) -> tuple[object, ...]:
    return (
        contents.files,
        contents.duplicates,
        contents.manifest_chunks,
        contents.chunk_sources,
        contents.dense_ids,
        contents.dense_sources,
        contents.lexical_ids,
        contents.vector_ids,
    )


@pytest.mark.reliability("corruption campaign: every index file truncated, zeroed, garbled or deleted")
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("role", list(FILES))
def test_damage_is_named_answers_stay_true_and_ingest_restores_the_index(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pristine: Pristine,
    role: str,
    how: str,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    for variable, value in CHUNKS.items():
        monkeypatch.setenv(variable, value)
    index = tmp_path / "index"
    shutil.copytree(pristine.index, index)
    targets = sorted(index.glob(FILES[role]), key=lambda p: -p.stat().st_size)
    if not targets:
        pytest.skip(f"this index has no {role}")
    damage(targets[0], how, random.Random(f"{role}/{how}"))
    row = {"file": role, "damage": how}

    code, out, err = run(["status", "--index", str(index), "--json"], capsys)
    status = json.loads(out)
    named = sorted({p["part"] for p in status["problems"]})
    row["status"] = f"names {', '.join(named)}" if named else "clean"
    assert code == (1 if named else 0)

    code, answer, err = ask(index, pristine.model, capsys)
    if code != 0:
        assert err.startswith("Error: ") and "--rebuild" in err  # only a damaged manifest stops answering
        row["question"] = "error naming `--rebuild`"
    elif answer["note"]:
        row["question"] = "answered, with a note"
    else:
        assert answer["citations"] == pristine.answer["citations"] and answer["text"] == pristine.answer["text"]
        row["question"] = "answered as before"

    model = ["--model", str(pristine.model)]
    code, out, err = run(["ingest", str(pristine.docs), "--index", str(index), *model, "--json"], capsys)
    row["repair"] = "`ingest`"
    if code != 0:
        assert "--rebuild" in err and "manifest" in err
        code, out, err = run(
            ["ingest", str(pristine.docs), "--index", str(index), *model, "--rebuild", "--json"], capsys
        )
        row["repair"] = "`ingest` names `--rebuild`; `--rebuild`"
    assert code == 0, err
    report = json.loads(out)
    if report["repairs"]:
        row["repair"] += ": " + "; ".join(report["repairs"])

    assert comparable(read_index(index)) == comparable(pristine.contents)
    # vectors restored from the manifest's int8 passage vectors are within their quantization error
    cosines = np.einsum("ij,ij->i", vectors(index, sorted(pristine.contents.dense_ids)), pristine.vectors)
    assert float(cosines.min()) >= 0.9999
    code, out, err = run(["status", "--index", str(index), "--json"], capsys)
    assert code == 0 and json.loads(out)["problems"] == []
    code, answer, err = ask(index, pristine.model, capsys)
    assert code == 0 and answer["citations"] == pristine.answer["citations"] and not answer["note"]
    row["restored"] = "yes"
    record_property("campaign", row)
