"""Hybrid retrieval on the seed index: fusion, filters, lexical-only mode, model checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.fusion import dense_evidence, fuse_rrf, fuse_scores
from assistant.notes import NoteKind
from assistant.retrieval import IndexMissingError, Retriever, carry_topic
from assistant.settings import AssistantSettings
from ingest.embedding import ModelMismatchError
from ingest.sync import sync

BAGHOUZ = "002_f008f8df6c8a9b3c.txt"
MANBIJ = "003_0262f053a42b4a37.txt"


def test_rrf_adds_reciprocal_ranks() -> None:
    fused = fuse_rrf([["a", "b", "c"], ["b", "d"]], k=60)
    assert [doc for doc, _ in fused] == ["b", "a", "d", "c"]
    assert dict(fused)["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert dict(fused)["d"] == pytest.approx(1 / 62)


def test_rrf_weights_and_empty_lists() -> None:
    assert fuse_rrf([[], []]) == []
    fused = fuse_rrf([["a"], ["b"]], k=1, weights=[1.0, 3.0])
    assert fused == [("b", 1.5), ("a", 0.5)]


def test_fusion_combines_normalized_scores_with_each_candidates_weight() -> None:
    lexical = {"a": 4.0, "b": 2.0}
    dense = {"b": 0.9, "c": 0.8, "a": 0.7}
    fused = fuse_scores(["a", "b", "c"], lexical, dense, 0.5)
    assert dict(fused) == pytest.approx({"a": 0.5, "b": 0.75, "c": 0.25})
    assert [c for c, _ in fused] == ["b", "a", "c"]
    assert [c for c, _ in fuse_scores(["a", "b", "c"], lexical, dense, 1.0)] == ["a", "b", "c"]
    assert [c for c, _ in fuse_scores(["a", "b", "c"], lexical, dense, 0.0)] == ["b", "c", "a"]
    across = fuse_scores(["a", "b", "c"], lexical, dense, {"a": 0.5, "b": 0.1, "c": 0.1})
    assert dict(across)["b"] == pytest.approx(0.1 * 0.5 + 0.9 * 1.0)


def test_fusion_without_dense_scores_and_ties_in_candidate_order() -> None:
    assert fuse_scores([], {}, {}) == []
    assert [c for c, _ in fuse_scores(["x", "y", "z"], {"y": 1.0, "x": 1.0}, {})] == ["x", "y", "z"]
    assert dict(fuse_scores(["x", "y"], {}, {"x": 0.5, "y": 0.5}, 0.5)) == {"x": 0.5, "y": 0.5}


def test_dense_evidence_mixes_chunk_and_best_sentence() -> None:
    import numpy as np

    from ingest.passage_vectors import PassageVectors

    axis = np.eye(3, dtype=np.float32)
    passage = PassageVectors("ar", axis[0], np.stack([axis[1], axis[0]]), ((0, 5), (6, 9)))
    evidence = dense_evidence(axis[1], {"p": passage}, sentence_weight=0.5)["p"]
    assert evidence.chunk == 0.0 and evidence.sentences == (1.0, 0.0) and evidence.score == 0.5
    assert evidence.language == "ar"


def test_a_follow_ups_topic_comes_first_only_when_it_scores_close_to_the_best() -> None:
    fused = [("a1", 1.0), ("b1", 0.95), ("a2", 0.92), ("b2", 0.5)]
    source_of = {"a1": "a.txt", "a2": "a.txt", "b1": "b.txt", "b2": "b.txt"}
    assert carry_topic(fused, source_of, "b.txt", 0.9) == [("b1", 0.95), ("a1", 1.0), ("a2", 0.92), ("b2", 0.5)]
    assert carry_topic(fused, source_of, "b.txt", 0.99) == fused  # not close enough: the best stays first
    assert carry_topic(fused, source_of, "a.txt", 0.9) == [("a1", 1.0), ("a2", 0.92), ("b1", 0.95), ("b2", 0.5)]
    assert carry_topic(fused, source_of, "c.txt", 0.0) == fused and carry_topic([], source_of, "a.txt", 0.9) == []


def test_passages_keep_scores_offsets_and_finders(seed_index: AssistantSettings) -> None:
    retriever = Retriever.open(seed_index)
    result = retriever.retrieve("ما الذي حدث في الباغوز؟", k=5)
    assert result.dense and len(result.passages) == 5
    # the tiny model's vectors are random, so which finder ranks first is not asserted (1 build in 25 put a
    # dense-only passage first); each passage names its finders and has a lexical score exactly when found so
    lexical = [p for p in result.passages if "lexical" in p.found_by]
    assert lexical and all(p.lexical_score is not None for p in lexical)
    assert all(p.lexical_score is None for p in result.passages if "lexical" not in p.found_by)
    assert all(p.found_by for p in result.passages)
    for passage in result.passages:
        text = retriever.article_text(passage.source)
        assert text is not None and text[passage.start : passage.end] == passage.text
    scores = [p.score for p in result.passages]
    assert scores == sorted(scores, reverse=True)
    retriever.close()


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("ما مدة التسجيل الصوتي للمهاجر عن الباغوز؟", BAGHOUZ),
        ("ماذا حدث في تفجير منبج؟", MANBIJ),
        ("ما عدد مقاتلي داعش بحسب تقديرات الأمم المتحدة؟", MANBIJ),
        ("بماذا هدد المهاجر نيوزيلندا؟", "004_13e14b1b79b6834b.txt"),
    ],
)
def test_arabic_questions_find_the_right_article(
    lexical_seed_index: AssistantSettings, question: str, source: str
) -> None:
    retriever = Retriever.open(lexical_seed_index)
    assert retriever.retrieve(question, k=3).passages[0].source == source
    retriever.close()


def test_source_filter_limits_both_retrievers(seed_index: AssistantSettings) -> None:
    retriever = Retriever.open(seed_index)
    result = retriever.retrieve("داعش البغدادي", k=5, sources=[BAGHOUZ])
    assert result.passages and {p.source for p in result.passages} == {BAGHOUZ}
    retriever.close()


def test_lexical_only_index_retrieves_and_says_so(tmp_path: Path, docs: Path) -> None:
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "i", embedding_model=str(tmp_path / "none")
    )
    sync(settings.index)
    retriever = Retriever.open(settings)
    result = retriever.retrieve("الباغوز", k=3)
    assert not result.dense and [n.kind for n in result.notes] == [NoteKind.NO_DENSE_PART]
    assert result.passages and all(p.found_by == ("lexical",) for p in result.passages)
    retriever.close()


def test_opening_with_another_model_names_both(seed_index: AssistantSettings, other_tiny_model: Path) -> None:
    settings = AssistantSettings.from_env(
        {}, index_dir=seed_index.index.index_dir, embedding_model=str(other_tiny_model)
    )
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        Retriever.open(settings)


def test_missing_index_says_to_ingest(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        Retriever.open(AssistantSettings.from_env({}, index_dir=tmp_path / "nothing"))


def test_retriever_picks_up_a_new_generation(tmp_path: Path, seed_index: AssistantSettings) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(seed_index.index.docs_dir, docs)
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=tmp_path / "i", embedding_model=seed_index.index.embedding_model
    )
    sync(settings.index)
    retriever = Retriever.open(settings)
    assert not retriever.retrieve("زلزال مدمر في اليابان", k=3, sources=["quake.txt"]).passages
    (docs / "quake.txt").write_text("ضرب زلزال مدمر جزيرة في اليابان صباح اليوم.\n", encoding="utf-8")
    sync(settings.index)
    passages = retriever.retrieve("زلزال مدمر في اليابان", k=3).passages
    assert passages[0].source == "quake.txt"
    retriever.close()


def test_fusion_weights_come_from_settings(seed_index: AssistantSettings) -> None:
    from dataclasses import replace

    settings = AssistantSettings.from_env({"ASSISTANT_LEXICAL_WEIGHT": "1"}, index_dir=seed_index.index.index_dir)
    assert settings.lexical_weight == 1.0 and settings.cross_lexical_weight == 0.1
    lexical_first = Retriever.open(replace(seed_index, lexical_weight=1.0))
    question = "ما مدة التسجيل الصوتي للمهاجر عن الباغوز؟"
    passages = lexical_first.retrieve(question, k=3).passages
    assert passages[0].chunk_id == next(iter(lexical_first.lexical_hits(question, 1)))
    lexical_first.close()
    with pytest.raises(ValueError, match="ASSISTANT_K must be a whole number from 1 to 50"):
        AssistantSettings.from_env({"ASSISTANT_K": "0"})


def test_rerank_reorders_candidates_with_a_cross_encoder(
    lexical_seed_index: AssistantSettings, tiny_model: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from assistant.reranking import Reranker
    from assistant.service import Assistant
    from tests.tiny_models import build_cross_encoder

    # the tiny sentence-transformer was saved from tiny_model.parent / "raw"
    cross_encoder = build_cross_encoder(tmp_path, tiny_model.parent)
    settings = replace(lexical_seed_index, rerank=True, reranker_model=str(cross_encoder), k=3)
    assistant = Assistant.from_settings(settings)
    assert isinstance(assistant.retriever.reranker, Reranker)
    passages = assistant.retriever.retrieve("ما مدة الرسالة الصوتية الجديدة للبغدادي؟").passages
    assert len(passages) == 3 and all("rerank" in p.found_by for p in passages)
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assistant.close()


def test_missing_reranker_says_what_to_do(lexical_seed_index: AssistantSettings, tmp_path: Path) -> None:
    from dataclasses import replace

    from assistant.service import Assistant
    from ingest.embedding import EmbeddingUnavailableError

    settings = replace(lexical_seed_index, rerank=True, reranker_model=str(tmp_path / "no-reranker"))
    with pytest.raises(EmbeddingUnavailableError, match="--rerank"):
        Assistant.from_settings(settings)
