"""The real bundled model on the seed articles: English questions over Arabic text, meaning beyond words,
abstention in both languages, and conversations that keep their topic and their language."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from assistant.alignment import aligner
from assistant.records import Answer
from assistant.retrieval import Retriever
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest import bundled_model
from ingest.status import index_status
from ingest.sync import sync
from tests.conftest import SEEDS

DATA = Path(__file__).parent / "data"
AUDIO = "000_568e6625231925c3.txt"
VIDEO = "001_117cbf478e95276b.txt"
BAGHOUZ = ("002_f008f8df6c8a9b3c.txt", "004_13e14b1b79b6834b.txt")
MANBIJ = "003_0262f053a42b4a37.txt"


def read_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def bundled_seed_index(tmp_path_factory: pytest.TempPathFactory, bundled_cache: Path) -> AssistantSettings:
    """The five seeds indexed with the bundled multilingual-e5-small (dense, lexical, passage vectors)."""
    root = tmp_path_factory.mktemp("bundled-seed-index")
    shutil.copytree(SEEDS, root / "docs")
    settings = AssistantSettings.from_env(
        {}, docs_dir=root / "docs", index_dir=root / "index", embedding_model="bundled", cache_dir=bundled_cache
    )
    sync(settings.index)
    return settings


@pytest.fixture(scope="session")
def assistant(bundled_seed_index: AssistantSettings) -> Iterator[Assistant]:
    shared = Assistant.from_settings(bundled_seed_index)
    yield shared
    shared.close()


def cited(answer: Answer, sources: tuple[str, ...] | list[str]) -> bool:
    return not answer.abstained and bool(answer.citations) and answer.citations[0].source in sources


def test_the_index_records_the_bundled_model_and_its_weights(bundled_seed_index: AssistantSettings) -> None:
    status = index_status(bundled_seed_index.index)
    assert status.model == bundled_model.MODEL_ID and status.model_checksum == bundled_model.SHA256
    assert status.dense and status.lexical and status.documents == 5
    retriever = Retriever.open(bundled_seed_index)
    assert retriever.embedder is not None and getattr(retriever.embedder, "latent", None) is not None
    retriever.close()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_seed_questions_cite_the_right_article(assistant: Assistant, language: str) -> None:
    questions = [q for q in read_jsonl("seed_questions.jsonl") if q["language"] == language]
    answers = [assistant.ask(q["question"]) for q in questions]
    missed = [q["question"] for q, a in zip(questions, answers, strict=True) if not cited(a, q["sources"])]
    # benchmarks/answers.py measures the same set (docs/answers.md); the one miss allowed is a retrieval miss
    assert len(missed) <= 1, missed
    assert all(a.language == language for a in answers)


def test_an_english_question_is_answered_in_english_from_arabic_text(assistant: Assistant) -> None:
    answer = assistant.ask("How did the ISIS spokesman describe Trump's visit to Iraq?")
    assert cited(answer, BAGHOUZ[:1]) and answer.language == "en"
    assert answer.text.startswith("According to the documents (quoted in the original Arabic):")


def test_meaning_finds_what_no_word_matches(assistant: Assistant, bundled_seed_index: AssistantSettings) -> None:
    question = "How did the ISIS spokesman describe Trump's visit to Iraq?"
    lexical_only = Retriever(bundled_seed_index, None)
    assert not any(p.source == BAGHOUZ[0] for p in lexical_only.retrieve(question, 3).passages)
    lexical_only.close()
    assert assistant.retriever.retrieve(question, 3).passages[0].source == BAGHOUZ[0]


@pytest.mark.parametrize(
    "question",
    ["What is the capital of Australia?", "How do I bake sourdough bread at home?", "ما هي عاصمة أستراليا؟"],
)
def test_off_topic_questions_abstain_in_both_languages(assistant: Assistant, question: str) -> None:
    assert assistant.ask(question).abstained


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("كَمْ عَدَدُ قَتْلَى تَفْجِيرِ مَنْبِج؟", "كم عدد قتلى تفجير منبج؟"),
        ("كم عدد قتـلى تفـجير منـبج؟", "كم عدد قتلى تفجير منبج؟"),
    ],
)
def test_a_vowelled_or_stretched_question_is_answered_like_the_plain_one(
    assistant: Assistant, typed: str, plain: str
) -> None:
    # The model reads harakat and tatweel as other tokens: given to it as typed, both questions abstained. They
    # reach it in plain spelling (docs/retrieval.md, "How a question is spelled").
    expected, answer = assistant.ask(plain), assistant.ask(typed)
    assert not expected.abstained and expected.citations
    assert not answer.abstained and answer.citations
    assert answer.citations[0].source == expected.citations[0].source
    assert answer.citations[0].quote == expected.citations[0].quote


def test_an_abstention_under_a_filter_says_how_many_articles_were_searched(assistant: Assistant) -> None:
    chosen = [AUDIO, VIDEO]
    answer = assistant.ask("What is the capital of Australia?", sources=chosen)
    assert answer.abstained and "Only the articles that pass the filter (2) were searched" in answer.note
    arabic = assistant.ask("ما هي عاصمة أستراليا؟", sources=chosen)
    assert arabic.abstained and "بُحث فقط في المقالات التي يسمح بها المرشِّح (عددها 2)" in arabic.note
    unfiltered = assistant.ask("What is the capital of Australia?")
    assert unfiltered.abstained and "filter" not in unfiltered.note
    answered = assistant.ask("What is the real name of Abu Bakr al-Baghdadi?", sources=chosen)
    assert cited(answered, (AUDIO,)) and "filter" not in answered.note  # only an abstention says it


def test_english_questions_are_read_against_the_background(assistant: Assistant) -> None:
    on_topic = assistant.retriever.retrieve("How did the ISIS spokesman describe Trump's visit to Iraq?", 5).closeness
    off_topic = assistant.retriever.retrieve("What is the capital of Australia?", 5).closeness
    assert on_topic is not None and off_topic is not None
    assert 0.0 < on_topic.background < on_topic.best < 1.0
    assert on_topic.best - on_topic.background > off_topic.best - off_topic.background + 0.02


def test_an_english_question_aligns_token_by_token_with_the_arabic_sentence_that_answers_it(
    assistant: Assistant,
) -> None:
    question = "How did the ISIS spokesman describe Trump's visit to Iraq?"
    quote = assistant.ask(question).citations[0].quote
    asked = aligner(assistant.retriever.embedder, question)
    other = aligner(assistant.retriever.embedder, "What was the final score of the AFC Championship Game?")
    assert asked is not None and other is not None
    assert asked(quote) > other(quote) + 0.15  # measured 0.67 against 0.38


@pytest.mark.parametrize(
    "question",
    [
        "What was the final score of the AFC Championship Game?",
        "Which airport is home to the busiest single runway in the world?",
        "What is the longest time that a teaching certificate is good for?",
    ],
)
def test_english_questions_close_to_news_only_in_tone_abstain(assistant: Assistant, question: str) -> None:
    """XQuAD questions that the cosine and latent terms alone answered from the seeds; the lift does not."""
    answer = assistant.ask(question)
    assert answer.abstained and answer.language == "en"


def test_the_english_off_topic_seed_questions_abstain(assistant: Assistant) -> None:
    asked = read_jsonl("seed_unanswerable.jsonl")
    questions = [q["question"] for q in asked if q["language"] == "en" and q["kind"] == "off-topic"]
    assert len(questions) == 10
    assert [q for q in questions if not assistant.ask(q).abstained] == []


def conversation(assistant: Assistant, turns: list[str]) -> Answer:
    history: list[tuple[str, str]] = []
    answer: Answer | None = None
    for turn in turns:
        answer = assistant.ask(turn, history=history)
        history.append((turn, answer.text))
    assert answer is not None
    return answer


def test_a_new_english_question_after_an_arabic_one_stands_alone_in_english(assistant: Assistant) -> None:
    answer = conversation(assistant, ["ما مدة الرسالة الصوتية الجديدة للبغدادي؟", "Who is Lahur Talabani?"])
    assert answer.question == "Who is Lahur Talabani?" and answer.language == "en"
    # The name's meaning is too thin for the cross-language thresholds; the sentence that spells it in
    # Arabic letters (لاهور طالباني) answers.
    assert cited(answer, (AUDIO,)) and "لاهور طالباني" in answer.citations[0].quote


def test_a_lowercase_english_question_about_another_article_stands_alone(assistant: Assistant) -> None:
    # no capitals to find the name by: it stands alone because only the article it retrieves alone spells it
    answer = conversation(assistant, ["ما مدة الرسالة الصوتية الجديدة للبغدادي؟", "who is lahur talabani?"])
    assert answer.question == "who is lahur talabani?" and answer.language == "en"
    assert cited(answer, (AUDIO,)) and "لاهور طالباني" in answer.citations[0].quote
    # and a lowercase follow-up about the same article is still joined
    follow = conversation(assistant, ["What happened in Manbij?", "how many americans were killed?"])
    assert follow.question != "how many americans were killed?" and cited(follow, (MANBIJ,))


def test_an_english_name_spelled_in_arabic_answers_a_question_about_it(assistant: Assistant) -> None:
    answer = assistant.ask("Who is Sean Ryan?")
    assert cited(answer, (MANBIJ,)) and "شون راين" in answer.citations[0].quote and answer.language == "en"


def test_a_name_that_is_a_small_part_of_a_question_does_not_choose_the_sentence(assistant: Assistant) -> None:
    # "Manbij" is spelled in a sentence about the council's spokesman; meaning picks the Pentagon's count.
    answer = assistant.ask("How many Americans were killed in the Manbij attack according to the Pentagon?")
    assert cited(answer, (MANBIJ,)) and "أربعة أميركيين" in answer.citations[0].quote


def test_an_english_name_absent_from_the_articles_still_abstains(assistant: Assistant) -> None:
    assert assistant.ask("Who is Angela Merkel?").abstained
    assert assistant.ask("who is angela merkel?").abstained


@pytest.mark.parametrize(
    ("question", "spelled"), [("who is sean ryan?", "شون راين"), ("who is lahur talabani?", "لاهور طالباني")]
)
def test_a_name_typed_in_lowercase_still_answers_a_question_about_it(
    assistant: Assistant, question: str, spelled: str
) -> None:
    # No capitals to find the name by: the question's words that are not stopwords are the candidates
    answer = assistant.ask(question)
    assert not answer.abstained and answer.language == "en" and spelled in answer.citations[0].quote


def test_a_new_arabic_question_after_an_english_one_stands_alone_in_arabic(assistant: Assistant) -> None:
    answer = conversation(
        assistant, ["What did the coalition spokesman say about al-Baghdadi?", "من هو لاهور طالباني؟"]
    )
    assert answer.language == "ar" and cited(answer, (AUDIO,))
    assert answer.question == "من هو لاهور طالباني؟"


def test_a_question_ending_in_ta_marbuta_is_not_taken_for_a_follow_up(assistant: Assistant) -> None:
    answer = conversation(assistant, ["من هو لاهور طالباني؟", "ما قصة معركة الباغوز الأخيرة؟"])
    assert answer.question == "ما قصة معركة الباغوز الأخيرة؟" and cited(answer, BAGHOUZ)


def test_a_follow_up_carries_the_earlier_question_along_a_chain(assistant: Assistant) -> None:
    answer = conversation(assistant, ["ماذا حدث في منبج؟", "كم عدد القتلى؟", "ومن تبنى العملية؟"])
    assert answer.language == "ar" and "منبج" in answer.question and cited(answer, (MANBIJ,))


def test_a_follow_up_stays_with_the_article_under_discussion(assistant: Assistant) -> None:
    # Alone, "من تبنى العملية؟" ranks the video article first (it "claimed dozens of operations"); after a
    # question about Manbij, the Manbij article's passage scores within TOPIC_MARGIN of it and answers.
    answer = conversation(assistant, ["What happened in Manbij?", "من تبنى العملية؟"])
    assert answer.language == "ar" and cited(answer, (MANBIJ,)) and "وتبنى تنظيم داعش العملية" in answer.text


def test_a_follow_up_answered_clearly_better_elsewhere_leaves_the_earlier_article(assistant: Assistant) -> None:
    # The first question finds the other Baghouz article first; only 002 reports the Trump visit.
    turns = ["What did the ISIS spokesman say about Baghouz?", "How long was the recording?"]
    answer = conversation(assistant, [*turns, "What did he say about Trump's visit?"])
    assert answer.language == "en" and cited(answer, (BAGHOUZ[0],))


def test_an_arabic_follow_up_starting_with_the_conjunction_is_answered(assistant: Assistant) -> None:
    # "وكم" once counted as a word of the question that no sentence holds, and the answer abstained
    answer = conversation(assistant, ["What did the ISIS spokesman say about Baghouz?", "وكم كانت مدة التسجيل؟"])
    assert answer.language == "ar" and cited(answer, (BAGHOUZ[0],)) and "44 دقيقة" in answer.text


def test_the_follow_up_setting_off_answers_each_question_alone(assistant: Assistant) -> None:
    alone = Assistant(replace(assistant.settings, follow_ups="off"), assistant.retriever)
    answer = alone.ask("ومن تبنى العملية؟", history=[("ماذا حدث في منبج؟", "...")])
    assert answer.question == "ومن تبنى العملية؟"
