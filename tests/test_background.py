"""The background level of a question (assistant/background.py) and the lift that reads meaning against it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from assistant.background import NEAREST, Background, background_for, file_name
from assistant.extractive import CALIBRATED, UNCALIBRATED, Lift, extract_answer, is_relevant, score_sentences
from assistant.records import Closeness
from assistant.service import Assistant
from ingest import bundled_model
from ingest.embedding import TokenStates
from tests.test_names import Calibrated, passage

MANBIJ = "قال البنتاغون إن الهجوم في منبج أدى إلى مقتل أربعة أمريكيين. وأعلن التنظيم مسؤوليته عن التفجير."
QUESTION = "How many Americans were killed in the attack?"


def test_the_bundled_model_ships_a_background_of_unit_vectors() -> None:
    background = background_for(bundled_model.SHA256)
    assert background is not None
    count, dimension = background.vectors.shape
    assert dimension == 384 and count >= 300
    assert np.allclose(np.linalg.norm(background.vectors, axis=1), 1.0, atol=1e-3)
    assert file_name(bundled_model.SHA256) == f"background-{bundled_model.SHA256[:12]}.npy"


def test_a_model_without_a_background_file_has_none() -> None:
    assert background_for("") is None
    assert background_for("0" * 64) is None


def test_the_level_is_the_mean_cosine_of_the_nearest_background_passages() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[3]
    nearest = np.sort(vectors @ query)[-NEAREST:]
    assert Background(vectors).level(query) == pytest.approx(float(nearest.mean()), abs=1e-6)
    assert Background(vectors[:4]).level(query) == pytest.approx(float((vectors[:4] @ query).mean()), abs=1e-6)


def test_the_lift_weighs_the_best_similarity_against_the_background() -> None:
    lift = Lift(best=1.5, background=2.0, terms=0.15, threshold=0.4, alignment=0.5)
    assert lift.of(0.8, Closeness(0.8, 0.75), 20.0) == pytest.approx(0.8 + 1.2 - 1.5 + 0.03)
    assert lift.of(0.8, Closeness(0.8, 0.75), None, 0.6) == pytest.approx(0.8 + 1.2 - 1.5 + 0.3)
    many = lift.score(np.array([0.8, 0.7]), np.array([0.8, 0.8]), np.array([0.75, 0.7]), np.zeros(2), np.ones(2))
    assert many.tolist() == pytest.approx([0.8 + 1.2 - 1.5 + 0.5, 0.7 + 1.2 - 1.4 + 0.5])


ALIGNED = 1.0
"""The alignment of every sentence read by CalibratedReader."""


class CalibratedReader(Calibrated):
    """The bundled model's checksum, and token states that align every sentence fully with the question."""

    def token_states(self, texts: Sequence[tuple[str, str]], layer: int) -> list[TokenStates]:
        return [TokenStates(("\u2581word",), np.ones((1, 4), dtype=np.float32) / 2.0) for _ in texts]


def background_at_threshold(lift: Lift, similarity: float, best: float, latent: float) -> float:
    """The background level at which a sentence with these scores (aligned ALIGNED) just reaches the lift."""
    return (lift.score(similarity, best, 0.0, latent, ALIGNED) - lift.threshold) / lift.background


def rule_of_bundled() -> Lift:
    lift = CALIBRATED[bundled_model.SHA256].lift
    assert lift is not None
    return lift


ARABIC_QUESTION = "كم أمريكيا قتل في الهجوم في منبج؟"


def same_language_gate() -> Lift:
    gate = CALIBRATED[bundled_model.SHA256].same_lift
    assert gate is not None and gate.terms == 0.0 and gate.alignment == 0.0
    return gate


def test_across_languages_the_same_similarity_answers_or_abstains_by_the_background() -> None:
    lift = rule_of_bundled()
    best = max(score_sentences(QUESTION, [passage(MANBIJ, 0.79, 20.0)], None), key=lambda s: s.score)
    rule = CALIBRATED[bundled_model.SHA256]
    at = background_at_threshold(lift, 0.79, 0.80, 20.0)
    assert is_relevant(best, "en", "ar", rule, Closeness(0.80, at - 0.02), lambda _: ALIGNED)
    assert not is_relevant(best, "en", "ar", rule, Closeness(0.80, at + 0.02), lambda _: ALIGNED)
    # without a Closeness (or for another model) the cosine and latent-term thresholds decide, as before
    assert is_relevant(best, "en", "ar", rule) == (rule.cross_similarity <= 0.79 and rule.cross_terms <= 20.0)
    assert UNCALIBRATED.lift is None


@pytest.mark.parametrize(
    ("question", "rule_of", "similarity", "best", "latent", "language"),
    [
        (QUESTION, rule_of_bundled, 0.79, 0.80, 20.0, "en"),  # across languages: the lift
        (ARABIC_QUESTION, same_language_gate, 0.86, 0.86, 30.0, "ar"),  # Arabic over Arabic: the same-language lift
    ],
    ids=["english-over-arabic", "arabic-over-arabic"],
)
def test_extract_answer_abstains_when_the_question_sits_as_close_to_generic_text(
    question: str, rule_of: Callable[[], Lift], similarity: float, best: float, latent: float, language: str
) -> None:
    lift = rule_of()
    near = [passage(MANBIJ, similarity, latent)]
    at = background_at_threshold(lift, similarity, best, latent)
    reader = CalibratedReader()
    answered = extract_answer(question, near, embedder=reader, closeness=Closeness(best, at - 0.05))  # type: ignore[arg-type]
    assert not answered.abstained and answered.language == language
    generic = extract_answer(question, near, embedder=reader, closeness=Closeness(best, at + 0.05))  # type: ignore[arg-type]
    assert generic.abstained and generic.language == language


def test_a_lift_that_weighs_alignment_needs_it() -> None:
    best = max(score_sentences(QUESTION, [passage(MANBIJ, 0.79, 20.0)], None), key=lambda s: s.score)
    weighed = Lift(1.5, 1.5, 0.05, 1.5, alignment=1.0)
    rule = CALIBRATED[bundled_model.SHA256]._replace(lift=weighed)
    closeness = Closeness(0.80, 0.70)  # lift 0.79 + 1.2 - 1.05 + 0.01 = 0.95 before alignment
    assert is_relevant(best, "en", "ar", rule, closeness, lambda _: 0.6)
    assert not is_relevant(best, "en", "ar", rule, closeness, lambda _: 0.5)
    # an embedder that cannot show token states: the cosine and latent-term thresholds decide
    assert is_relevant(best, "en", "ar", rule, closeness) == is_relevant(best, "en", "ar", rule)


def never_read(sentence: str) -> float:
    raise AssertionError(f"read {sentence!r} although its lift was decided without it")


def test_a_sentence_is_not_read_when_its_lift_is_decided_without_alignment() -> None:
    best = max(score_sentences(QUESTION, [passage(MANBIJ, 0.79, 20.0)], None), key=lambda s: s.score)
    rule = CALIBRATED[bundled_model.SHA256]._replace(lift=Lift(1.5, 1.5, 0.05, 1.5, alignment=1.0))
    # 0.79 + 1.2 - 1.5 x background + 0.01: at background 0.30, 1.55 before alignment, which only adds
    assert is_relevant(best, "en", "ar", rule, Closeness(0.80, 0.30), never_read)
    # index best 0.50 at background 0.90: 0.79 + 0.75 - 1.35 + 0.01 = 0.20, and a perfect alignment adds 1.0
    assert not is_relevant(best, "en", "ar", rule, Closeness(0.50, 0.90), never_read)


def test_words_found_still_vouch_across_languages_whatever_the_background() -> None:
    text = "Pentagon: four Americans were killed in the Manbij attack."
    best = max(score_sentences(QUESTION, [passage(text, 0.70, 0.0)], None), key=lambda s: s.score)
    assert is_relevant(best, "en", "ar", CALIBRATED[bundled_model.SHA256], Closeness(0.70, 0.99))


def test_a_model_without_a_background_gets_no_closeness(seed_assistant: Assistant) -> None:
    retrieval = seed_assistant.retriever.retrieve("How many Americans were killed in Manbij?", 3)
    assert retrieval.dense and retrieval.passages and retrieval.closeness is None


def test_in_arabic_a_sentence_whose_words_match_still_needs_the_same_language_lift() -> None:
    gate = same_language_gate()
    rule = CALIBRATED[bundled_model.SHA256]
    best = max(score_sentences(ARABIC_QUESTION, [passage(MANBIJ, 0.86, 30.0)], None), key=lambda s: s.score)
    assert best.coverage >= rule.coverage  # its words vouch for it: answered without a Closeness
    assert is_relevant(best, "ar", "ar", rule)
    # the background level at which this sentence (index best 0.86) just reaches the gate
    at = background_at_threshold(gate, 0.86, 0.86, 0.0)
    assert is_relevant(best, "ar", "ar", rule, Closeness(0.86, at - 0.01))
    assert not is_relevant(best, "ar", "ar", rule, Closeness(0.86, at + 0.01))
    # the background is Arabic text: an English question over an English passage is not gated
    english = max(
        score_sentences(QUESTION, [passage("Four Americans were killed in the attack.", 0.86, 30.0)], None),
        key=lambda s: s.score,
    )
    assert is_relevant(english, "en", "en", rule) == is_relevant(english, "en", "en", rule, Closeness(0.86, at + 0.5))
    assert is_relevant(english, "en", "en", rule)
    assert UNCALIBRATED.same_lift is None


def test_a_follow_up_is_not_gated_by_the_same_language_lift() -> None:
    gate = same_language_gate()
    near = [passage(MANBIJ, 0.86, 30.0)]
    generic = Closeness(0.86, background_at_threshold(gate, 0.86, 0.86, 0.0) + 0.05)
    reader = CalibratedReader()
    alone = extract_answer(ARABIC_QUESTION, near, embedder=reader, closeness=generic)  # type: ignore[arg-type]
    assert alone.abstained
    # the same words as the standalone form of a follow-up ("and in Manbij?") after an earlier question
    joined = extract_answer(ARABIC_QUESTION, near, embedder=reader, closeness=generic, asked="وفي منبج؟")  # type: ignore[arg-type]
    assert not joined.abstained and joined.language == "ar"
    # a question asked after earlier turns, even one the follow-up rule lets stand alone
    later = extract_answer(ARABIC_QUESTION, near, embedder=reader, closeness=generic, in_conversation=True)  # type: ignore[arg-type]
    assert not later.abstained and later.language == "ar"
