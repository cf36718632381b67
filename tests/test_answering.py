"""Extractive answers, abstention, follow-ups, the Python API and `assistant ask`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant import Answer, Assistant, answer
from assistant.cli import main
from assistant.extractive import coverage
from assistant.followup import MAX_STANDALONE_CHARS, Standalone, follow_up_cue, names_something_new, rule_standalone
from assistant.settings import AssistantSettings

NOT_FOUND_AR = "لم أجد إجابة لهذا السؤال في الوثائق."
NOT_FOUND_EN = "I could not find this in the documents."


@pytest.fixture(scope="module")
def lexical_assistant(lexical_seed_index: AssistantSettings) -> Assistant:
    return Assistant.from_settings(lexical_seed_index)


def assert_citations_consistent(result: Answer) -> None:
    """Every [n] in the text has a citation, every citation is used, and its quote lies in its passage."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", result.text)}
    assert numbers == {c.number for c in result.citations}
    for citation in result.citations:
        for sentence in re.split(r"(?<=[.!؟?])\s+", citation.quote):
            assert sentence.strip("«» ") in citation.passage


@pytest.mark.parametrize(
    ("question", "source", "expected"),
    [
        ("ما مدة الرسالة الصوتية الجديدة للبغدادي؟", "003_0262f053a42b4a37.txt", "55 دقيقة"),
        ("كم عدد أفراد تنظيم داعش بحسب تقديرات الأمم المتحدة؟", "003_0262f053a42b4a37.txt", "20 و30 ألف"),
        ("كم كانت مدة التسجيل الصوتي لأبي الحسن المهاجر؟", "002_f008f8df6c8a9b3c.txt", "44 دقيقة"),
        ("من هو لاهور طالباني؟", "000_568e6625231925c3.txt", "لاهور طالباني"),
    ],
)
def test_arabic_question_is_answered_in_arabic_citing_the_right_seed(
    lexical_assistant: Assistant, question: str, source: str, expected: str
) -> None:
    result = lexical_assistant.ask(question)
    assert not result.abstained and result.language == "ar" and result.mode == "lexical-only"
    assert result.text.startswith("بحسب الوثائق:")
    assert result.citations[0].source == source
    assert expected in result.citations[0].quote
    assert "lexical" in result.note.casefold() or "معجمي" in result.note
    assert_citations_consistent(result)
    assert len(re.findall(r"\[\d+\]", result.text)) <= 3


def test_the_language_is_read_from_the_whole_question(lexical_assistant: Assistant) -> None:
    """A long question is shortened before retrieval, but its language is that of all its letters."""
    question = "please answer this question: " * 60 + "ما هو الاسم الحقيقي للبغدادي؟ " * 300
    result = lexical_assistant.ask(question)
    assert result.language == "ar" and (result.text.startswith("بحسب الوثائق:") or result.text == NOT_FOUND_AR)
    assert lexical_assistant.ask("؟؟؟").language == "ar" and lexical_assistant.ask("???").language == "en"


def test_english_question_on_arabic_sources_is_framed_in_english(lexical_assistant: Assistant) -> None:
    result = lexical_assistant.ask(
        "What did the UN estimate about the number of داعش fighters in الأمم المتحدة reports?"
    )
    assert result.language == "en"
    if not result.abstained:
        assert result.text.startswith("According to the documents (quoted in the original Arabic):")
        assert_citations_consistent(result)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ما هي عاصمة اليابان وما عدد سكانها؟", NOT_FOUND_AR),
        ("What is the boiling point of liquid nitrogen?", NOT_FOUND_EN),
        ("كيف أطبخ الكبسة باللحم؟", NOT_FOUND_AR),
    ],
)
def test_off_topic_questions_abstain(lexical_assistant: Assistant, question: str, expected: str) -> None:
    result = lexical_assistant.ask(question)
    assert result.abstained and result.text == expected and result.citations == ()


def test_empty_question_is_answered_with_a_hint(lexical_assistant: Assistant) -> None:
    result = lexical_assistant.ask("   \n ")
    assert result.abstained and "empty" in result.text


def test_hybrid_answer_keeps_the_protocol(seed_assistant: Assistant) -> None:
    # restricted to the right article, so the tiny model's random vectors cannot crowd it out
    result = seed_assistant.ask("ما مدة الرسالة الصوتية الجديدة للبغدادي؟", sources=["003_0262f053a42b4a37.txt"])
    assert result.mode == "extractive" and result.note == ""
    assert not result.abstained
    assert_citations_consistent(result)


def test_stream_yields_text_then_the_answer(seed_assistant: Assistant) -> None:
    items = list(seed_assistant.stream("ماذا حدث في منبج؟"))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == items[-1].text


def test_coverage_counts_question_terms_found() -> None:
    assert coverage("رسالة البغدادي", "بث البغدادي رسالة صوتية") == pytest.approx(1.0)
    assert coverage("رسالة البغدادي", "معركة الموصل") == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("question", "cue"),
    [
        ("ومتى حدث ذلك؟", "strong"),
        ("And when was that?", "strong"),
        ("What is his real name?", "strong"),
        ("وماذا عن الموصل؟", "strong"),
        ("من قام بهذا الهجوم في المدينة السورية؟", "strong"),
        ("كم عدد القتلى؟", "weak"),
        ("ما اسمه الحقيقي بحسب المقال؟", "weak"),
        ("من هو لاهور طالباني؟", "weak"),
        ("Who is Lahur Talabani?", "weak"),
        ("ما قصة معركة الباغوز الأخيرة في شرق سوريا؟", "none"),
        ("ما عدد مقاتلي تنظيم داعش في العراق وسوريا حسب الأمم المتحدة؟", "none"),
        ("How many ISIS fighters are there according to United Nations estimates?", "none"),
    ],
)
def test_follow_up_cues(question: str, cue: str) -> None:
    assert follow_up_cue(question) == cue


def test_rule_joins_the_previous_standalone_question_along_a_chain() -> None:
    history = [("ماذا حدث في منبج؟", "..."), ("كم عدد القتلى؟", "...")]
    article = lambda _s: ["سقط 15 قتيلاً وعشرات الجرحى في تفجير منبج، وتبنى داعش العملية؛ عدد كبير"]  # noqa: E731
    elsewhere = lambda _s: ["بث التنظيم مقطعاً مصوراً جديداً"]  # noqa: E731 - the earlier topic lacks these words
    chain = Standalone("ومن تبنى العملية؟", "كم عدد القتلى؟ ماذا حدث في منبج؟")
    assert rule_standalone("ومن تبنى العملية؟", history, article) == chain
    assert chain.text == "ومن تبنى العملية؟ كم عدد القتلى؟ ماذا حدث في منبج؟"
    assert rule_standalone("ومن تبنى العملية؟", history, elsewhere) == Standalone("ومن تبنى العملية؟", "كم عدد القتلى؟")
    assert rule_standalone("كم عدد الجرحى؟", history, elsewhere) == Standalone("كم عدد الجرحى؟")
    assert rule_standalone("كم عدد الجرحى؟", history, article).context == "كم عدد القتلى؟ ماذا حدث في منبج؟"
    standalone = "ما عدد مقاتلي تنظيم داعش في العراق وسوريا حسب الأمم المتحدة؟"
    assert rule_standalone(standalone, history, article) == Standalone(standalone)
    assert rule_standalone("ومتى حدث ذلك؟", None, article) == Standalone("ومتى حدث ذلك؟")
    assert rule_standalone("ومتى حدث ذلك؟", history, article, "off") == Standalone("ومتى حدث ذلك؟")
    assert rule_standalone("Who is Sean Ryan?", history, article) == Standalone("Who is Sean Ryan?")
    assert rule_standalone("Who is Sean Ryan?", history, elsewhere, "always").context == chain.context
    long_chain = [(f"and what about question number {i} with many words in it?", "") for i in range(10)]
    assert len(rule_standalone("And then?", long_chain, article).text) <= MAX_STANDALONE_CHARS


@pytest.mark.parametrize(
    ("question", "previous", "topic", "new"),
    [
        ("Who is Lahur Talabani?", "ما مدة الرسالة الصوتية الجديدة للبغدادي؟", [], True),
        ("When was the city liberated?", "ماذا حدث في منبج؟", [], False),
        ("Who is Sean Ryan?", "What did Sean Ryan say about al-Baghdadi?", [], False),
        ("كم عدد القتلى؟", "ماذا حدث في منبج؟", ["سقط 15 قتيلاً في التفجير وارتفع عدد الضحايا"], False),
        ("من هو لاهور طالباني؟", "What did the coalition spokesman say?", ["قال المتحدث باسم التحالف"], True),
        ("كم أمريكياً قتل في منبج؟", "ما هو الاسم الحقيقي للبغدادي؟", ["اسمه الحقيقي إبراهيم، قتل"], True),
    ],
)
def test_a_short_question_naming_something_new_stands_alone(
    question: str, previous: str, topic: list[str], new: bool
) -> None:
    assert names_something_new(question, previous, topic) is new


TALABANI = "وقال لاهور طالباني، مسؤول جهاز الأمن والمعلومات في إقليم كردستان، إن البغدادي ما زال حياً."
MANBIJ_TOLL = "نتيجة الانفجار في منبج كانت 15 قتيلاً بينهم أربعة أميركيين، وقال خالد إن السوق كان مزدحماً."


@pytest.mark.parametrize(
    ("question", "previous", "topic", "own", "new"),
    [
        # typed without capitals: a candidate name is new when the question alone retrieves text that spells it
        # and the previous question's article does not
        ("who is lahur talabani?", "ما مدة الرسالة الصوتية الجديدة للبغدادي؟", [MANBIJ_TOLL], [TALABANI], True),
        ("who is lahur talabani?", "ما مدة الرسالة الصوتية الجديدة للبغدادي؟", [TALABANI], [TALABANI], False),
        ("who is lahur talabani?", "what did lahur talabani say?", [MANBIJ_TOLL], [TALABANI], False),
        ("how many americans were killed?", "what happened in manbij?", [MANBIJ_TOLL], [MANBIJ_TOLL], False),
        ("when was the city liberated?", "ماذا حدث في منبج؟", [MANBIJ_TOLL], [TALABANI], False),  # nothing spelled
    ],
)
def test_a_lowercase_question_is_new_when_only_its_own_article_spells_its_words(
    question: str, previous: str, topic: list[str], own: list[str], new: bool
) -> None:
    assert names_something_new(question, previous, topic, lambda: own) is new


def test_a_question_with_capitals_never_retrieves_alone_to_decide() -> None:
    def own() -> list[str]:
        raise AssertionError("the capitals decide")

    assert names_something_new("Who is Lahur Talabani?", "ما مدة الرسالة؟", [MANBIJ_TOLL], own) is True
    assert names_something_new("How many were killed?", "What happened in Manbij?", [MANBIJ_TOLL], own) is False


@pytest.mark.parametrize(
    ("question", "cue"),
    [
        ("What did ISIS call its video about the first generation?", "none"),
        ("What did he ask the Sunni tribes to do?", "strong"),
        ("Why did Mattis resign over it?", "weak"),
    ],
)
def test_a_pronoun_after_the_name_it_points_at_is_no_follow_up_cue(question: str, cue: str) -> None:
    assert follow_up_cue(question) == cue


def test_follow_up_question_is_answered_from_the_earlier_topic(lexical_assistant: Assistant) -> None:
    first = "ماذا قال المتحدث باسم التحالف شون راين عن البغدادي؟"
    history = [(first, lexical_assistant.ask(first).text)]
    result = lexical_assistant.ask("وماذا قال عنه أيضاً؟", history=history)
    assert "راين" in result.question
    assert not result.abstained
    assert result.citations[0].source == "003_0262f053a42b4a37.txt"


def test_python_api_uses_the_index_from_the_environment(
    lexical_seed_index: AssistantSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(lexical_seed_index.index.index_dir))
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", lexical_seed_index.index.embedding_model)
    result = answer("ما مدة الرسالة الصوتية الجديدة للبغدادي؟", k=3)
    assert isinstance(result, Answer) and not result.abstained
    assert result.citations[0].source == "003_0262f053a42b4a37.txt"
    filtered = answer("ما مدة الرسالة الصوتية الجديدة للبغدادي؟", sources=["002_f008f8df6c8a9b3c.txt"])
    assert {c.source for c in filtered.citations} <= {"002_f008f8df6c8a9b3c.txt"}


def test_cli_ask_json_is_the_answer(lexical_seed_index: AssistantSettings, capsys: pytest.CaptureFixture[str]) -> None:
    index = str(lexical_seed_index.index.index_dir)
    model = lexical_seed_index.index.embedding_model
    question = "ما مدة الرسالة الصوتية الجديدة للبغدادي؟"
    assert main(["ask", question, "--index", index, "--model", model, "--json", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "بحسب" in out  # UTF-8, not \u escapes
    data = json.loads(out)
    assert set(data) >= {"text", "language", "abstained", "mode", "citations"}
    assert set(data["citations"][0]) == {
        "number",
        "source",
        "title",
        "passage",
        "quote",
        "start",
        "end",
        "score",
        "supported",
        "content_hash",
        "date",
        "outlet",
        "author",
        "url",
        "also_in",
    }
    assert data["citations"][0]["date"] is None and data["citations"][0]["also_in"] == []  # the seeds carry none
    assert data["unsupported"] == []
    assert main(["ask", question, "--index", index, "--model", model]) == 0
    plain = capsys.readouterr().out
    assert "المصادر:" in plain and "[1] 003_0262f053a42b4a37.txt" in plain


def test_cli_ask_without_an_index_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "سؤال", "--index", str(tmp_path / "none")]) == 1
    assert "assistant ingest" in capsys.readouterr().err
