"""Names in Latin letters found in Arabic text (assistant/names.py), and the extractive answerer's use of them."""

from __future__ import annotations

import pytest

from assistant.extractive import CALIBRATED, extract_answer, score_sentences
from assistant.names import arabic_skeletons, latin_skeleton, names_found, names_share, question_names
from assistant.records import Passage
from ingest import bundled_model
from ingest.passage_vectors import sentence_spans


@pytest.mark.parametrize(
    ("latin", "arabic"),
    [
        ("Talabani", "طالباني"),
        ("Lahur", "لاهور"),
        ("Mattis", "ماتيس"),
        ("Baghouz", "بالباغوز"),
        ("Manbij", "منبج"),
        ("Raqqa", "الرقة"),
        ("Sean", "شون"),
        ("Ryan", "راين"),
        ("Ahmed", "أحمد"),
        ("Mosul", "الموصل"),
        ("Trump", "ترامب"),
        ("Kurdistan", "كردستان"),
    ],
)
def test_a_name_and_its_arabic_spelling_share_a_skeleton(latin: str, arabic: str) -> None:
    assert latin_skeleton(latin) in arabic_skeletons(arabic)


@pytest.mark.parametrize(("latin", "arabic"), [("Mosul", "موسكو"), ("Manbij", "منبر"), ("Cup", "قبل")])
def test_different_words_do_not(latin: str, arabic: str) -> None:
    assert latin_skeleton(latin) not in arabic_skeletons(arabic)


def test_the_names_of_a_question_are_its_runs_of_capitalized_words() -> None:
    assert question_names("Who is Lahur Talabani?") == [["Lahur", "Talabani"]]
    assert question_names("What did al-Baghdadi say to ISIS fighters in Baghouz?") == [
        ["Baghdadi"],
        ["ISIS"],
        ["Baghouz"],
    ]
    assert question_names("Baghouz: what happened there?") == [["Baghouz"]]  # a first word that is no stopword
    assert question_names("What happened there?") == []


def test_a_question_typed_without_capitals_offers_its_runs_of_words_that_are_not_stopwords() -> None:
    assert question_names("who is lahur talabani?") == [["lahur", "talabani"]]
    assert question_names("what happened there?") == [["happened"]]  # a candidate; only a spelled one counts
    assert question_names("what is it?") == []
    # one capital anywhere and the capitals decide, as before
    assert question_names("who is lahur Talabani?") == [["Talabani"]]
    assert names_found("who is sean ryan?", "وقال المتحدث باسم التحالف الدولي شون راين إن") == 2
    assert names_found("what happened there?", "وقال المتحدث باسم التحالف الدولي شون راين إن") == 0


def test_a_short_name_counts_only_beside_another_name_of_the_question() -> None:
    assert names_found("Who is Sean Ryan?", "وقال المتحدث باسم التحالف الدولي شون راين إن") == 2
    assert names_found("Who is Sean Ryan?", "شن الجيش هجوما في رانيا") == 0  # two-letter skeletons, apart
    assert names_found("What did Ban say?", "بان ذلك") == 0
    assert names_found("What did Ahmed Ban say?", "قال أحمد بان") == 2


def test_the_share_is_over_all_of_the_question_terms() -> None:
    assert names_share("Who is Lahur Talabani?", "لاهور طالباني") == 1.0
    assert names_share("How many were killed in Manbij yesterday?", "هجوم منبج") < 0.5
    assert names_share("Who is Angela Merkel?", "لاهور طالباني") == 0.0
    assert names_share("", "لاهور طالباني") == 0.0


class Calibrated:
    """Stands for the bundled model: extract_answer only reads its checksum (sentence vectors come stored)."""

    checksum = bundled_model.SHA256


TALABANI = "قال مسؤول أمني إن الحرب طويلة. وقال لاهور طالباني إن البغدادي متوتر."


def passage(text: str, similarity: float, terms: float) -> Passage:
    count = len(sentence_spans(text))
    scores = (similarity,) * count
    return Passage("c1", "a.txt", "a", text, 0, len(text), 1.0, similarity, 1.0, ("dense",), scores, terms_score=terms)


def test_a_question_that_is_its_names_is_answered_by_the_sentence_that_spells_them() -> None:
    # meaning and latent terms below the cross-language thresholds: without the names it abstains
    thin = passage(TALABANI, 0.70, 5.0)
    answer = extract_answer("Who is Lahur Talabani?", [thin], embedder=Calibrated())  # type: ignore[arg-type]
    assert not answer.abstained and "لاهور طالباني" in answer.citations[0].quote
    assert extract_answer("Who is Abu Omar?", [thin], embedder=Calibrated()).abstained  # type: ignore[arg-type]


def test_names_vouch_but_do_not_rank() -> None:
    scored = score_sentences("Who is Lahur Talabani?", [passage(TALABANI, 0.70, 5.0)], None)
    assert [round(s.named, 2) for s in scored] == [0.0, 0.6]
    assert [s.coverage for s in scored] == [0.0, 0.0]  # coverage, which orders the sentences, is unchanged
    rule = CALIBRATED[bundled_model.SHA256]
    assert scored[1].named >= rule.coverage
