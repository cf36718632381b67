"""`assistant eval`: pure metrics on hand-computed values, file parsing, and runs on real indexes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import format_eval_report, main
from assistant.evaluation import (
    EvalFileError,
    EvalItem,
    EvalReport,
    abstention_metrics,
    contains_answer,
    first_relevant_rank,
    paragraph_file,
    parse_eval_text,
    rank_metrics,
)
from assistant.records import Answer
from ingest.settings import Settings
from ingest.sync import sync

# Sentences of the seed articles (seeds/), one paragraph each.
PARAGRAPHS = [
    "بث التنظيم الإرهابي داعش رسالة صوتية يائسة إلى أتباعه يدعوهم فيها إلى الثبات. "
    "ودعا داعش أتباعه إلى الدفاع عن معاقله في العراق وسوريا، وفي بقية معاقله في ليبيا واليمن والصومال وتونس.",
    "ولا تزال قوات سوريا الديمقراطية، التي تدعمها الولايات المتحدة، تخوض ومنذ اسابيع معارك ضد مسلحي داعش "
    "في الباغوز الواقعة على ضفاف نهر الفرات قرب الحدود العراقية.",
    "أصدر زعيم تنظيم داعش أبو بكر البغدادي رسالة صوتية جديدة مدتها 55 دقيقة. "
    "الرسالة جاءت بعد عام على آخر خطاب للبغدادي في أيلول/سبتمبر 2017.",
    "وفي محاولة من التنظيم لوقف نزيف فرار عناصره، بث مقطع مصور على أحد مواقعه حمل اسم «صناعة الرجال». "
    "تضمن المقطع كلمات حماسية ولقطات ظهر فيها متطرفون سابقون.",
]
QUESTIONS = [  # (paragraph, question, gold answer)
    (0, "في أي دول توجد بقية معاقل داعش؟", "ليبيا واليمن والصومال وتونس"),
    (1, "أين تقع الباغوز التي تخوض فيها قوات سوريا الديمقراطية معارك؟", "على ضفاف نهر الفرات"),
    (1, "من يدعم قوات سوريا الديمقراطية؟", "الولايات المتحدة"),
    (2, "ما مدة الرسالة الصوتية الجديدة للبغدادي؟", "55 دقيقة"),
    (3, "ما اسم المقطع المصور الذي بثه التنظيم؟", "صناعة الرجال"),
]
IMPOSSIBLE = "ما هو سعر القهوة في مقاهي طوكيو اليوم؟"
METRIC_KEYS = {
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "mrr_at_10",
    "answer_containment",
    "abstention_precision",
    "abstention_recall",
}


def squad_document() -> dict[str, Any]:
    """A tiny SQuAD v2-style document over PARAGRAPHS, with one unanswerable question."""
    paragraphs: list[dict[str, Any]] = []
    for number, context in enumerate(PARAGRAPHS):
        qas: list[dict[str, Any]] = [
            {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": context.find(a)}]}
            for i, (p, q, a) in enumerate(QUESTIONS)
            if p == number
        ]
        paragraphs.append({"context": context, "qas": qas})
    paragraphs[0]["qas"].append({"id": "impossible", "question": IMPOSSIBLE, "answers": [], "is_impossible": True})
    return {"version": "2.0", "data": [{"title": "داعش", "paragraphs": paragraphs}]}


def answer(text: str, abstained: bool = False) -> Answer:
    return Answer(text, "ar", abstained, "extractive", ())


# ---------------------------------------------------------------- pure metrics


def test_rank_metrics_match_hand_computed_values() -> None:
    ranked = [
        ["b", "a", "c"],  # relevant a at rank 2
        ["x", "x", "y", "z", "w", "v", "q"],  # relevant x at rank 1 (twice), q at rank 7
        ["m"] * 10 + ["r"],  # relevant r only at rank 11, beyond the depth
    ]
    relevant = [["a"], ["q", "x"], ["r"]]
    metrics = rank_metrics(ranked, relevant)
    assert metrics == pytest.approx(
        {
            "recall_at_1": (0 + 1 / 2 + 0) / 3,
            "recall_at_5": (1 + 1 / 2 + 0) / 3,
            "recall_at_10": (1 + 1 + 0) / 3,
            "mrr_at_10": (1 / 2 + 1 + 0) / 3,
        }
    )


def test_rank_metrics_edge_cases() -> None:
    assert rank_metrics([], []) == dict.fromkeys(["recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10"])
    assert rank_metrics([[]], [["a"]]) == {
        "recall_at_1": 0.0,
        "recall_at_5": 0.0,
        "recall_at_10": 0.0,
        "mrr_at_10": 0.0,
    }
    assert rank_metrics([["a", "b"]], [["b"]], cutoffs=(1, 2)) == {
        "recall_at_1": 0.0,
        "recall_at_2": 1.0,
        "mrr_at_2": 0.5,
    }
    with pytest.raises(ValueError, match="one per item"):
        rank_metrics([["a"]], [])
    with pytest.raises(ValueError, match="no relevant sources"):
        rank_metrics([["a"]], [[]])


def test_abstention_metrics_match_hand_computed_values() -> None:
    abstained = [True, True, False, False, True]
    unanswerable = [True, False, True, False, False]
    assert abstention_metrics(abstained, unanswerable) == pytest.approx(
        {"abstention_precision": 1 / 3, "abstention_recall": 1 / 2}
    )
    assert abstention_metrics([False, False], [True, False]) == {
        "abstention_precision": None,
        "abstention_recall": 0.0,
    }
    assert abstention_metrics([True], [False]) == {"abstention_precision": 0.0, "abstention_recall": None}


def test_containment_normalizes_spelling_and_ignores_citation_markers() -> None:
    text = "بحسب الوثائق: أصدر زعيم تنظيم داعش أبو بكر البغدادي رسالة صوتية جديدة [1] مدتها ٥٥ دقيقة [2]"
    assert contains_answer(answer(text), ["أَبُو بَكْر   البغدادي"])  # harakat and spacing
    assert contains_answer(answer(text), ["رسالة صوتية جديدة مدتها 55 دقيقة"])  # across a marker, digits
    assert contains_answer(answer(text), ["الموصل", "اصدر زعيم"])  # any gold answer; أ -> ا
    assert not contains_answer(answer(text), ["الموصل"])
    assert not contains_answer(answer(text), [""])
    assert not contains_answer(answer(text, abstained=True), ["البغدادي"])


# ---------------------------------------------------------------- reading files


def test_squad_paragraphs_are_deduplicated_and_impossible_questions_unanswerable() -> None:
    document = squad_document()
    document["data"].append(
        {"title": "مكرر", "paragraphs": [{"context": PARAGRAPHS[2], "qas": [{"question": "سؤال؟", "answers": []}]}]}
    )
    eval_set = parse_eval_text(json.dumps(document, ensure_ascii=False), "tiny.json")
    assert eval_set.format == "squad"
    assert eval_set.paragraphs == tuple(PARAGRAPHS)
    first = eval_set.items[0]
    assert first == EvalItem(QUESTIONS[0][1], (paragraph_file(0),), (QUESTIONS[0][2],))
    assert paragraph_file(0) == "p00000.txt"
    impossible = next(i for i in eval_set.items if i.question == IMPOSSIBLE)
    assert impossible == EvalItem(IMPOSSIBLE, None, ())
    assert eval_set.items[-1] == EvalItem("سؤال؟", None, ())  # empty answers: unanswerable
    assert len(eval_set.head(2).items) == 2 and eval_set.head(2).paragraphs == eval_set.paragraphs


def test_jsonl_items() -> None:
    text = (
        '{"question": "أين تقع الباغوز؟", "sources": ["./news/a.txt"], "answers": ["نهر الفرات"]}\n'
        "\n"
        '{"question": "ما عاصمة اليابان؟", "answers": []}\n'
        '{"question": "من هو المهاجر؟", "sources": []}\n'
    )
    eval_set = parse_eval_text(text, "q.jsonl")
    assert eval_set.format == "jsonl" and eval_set.paragraphs == ()
    assert eval_set.items == (
        EvalItem("أين تقع الباغوز؟", ("news/a.txt",), ("نهر الفرات",)),
        EvalItem("ما عاصمة اليابان؟", None, ()),
        EvalItem("من هو المهاجر؟", None, None),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not json\n", r"q\.txt is not SQuAD JSON or JSONL \(line 1: "),
        ('{"question": "سؤال؟"}\n{"question": 3}\n', r"\(line 2: expected an object like"),
        ('{"question": "سؤال؟", "answers": "نعم"}\n', r"\(line 1: \"answers\" must be a list of strings\)"),
        ('{"data": [{"title": "x"}]}', r"not valid SQuAD JSON \(data\[0\] needs a 'paragraphs' list\)"),
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}', r"qas\[0\] needs a 'question'"),
        ("\n\n", "holds no questions"),
    ],
)
def test_bad_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(EvalFileError, match=message):
        parse_eval_text(text, "q.txt")


# ---------------------------------------------------------------- end to end


def test_eval_squad_builds_a_temporary_index(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(squad_document(), ensure_ascii=False), encoding="utf-8")
    assert main(["eval", str(path), "--model", str(tiny_model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report.keys() >= METRIC_KEYS
    assert (report["file"], report["format"], report["questions"]) == ("tiny-squad.json", "squad", 6)
    assert (report["ranked_questions"], report["answerable_questions"], report["unanswerable_questions"]) == (5, 5, 1)
    assert report["recall_at_10"] == 1.0  # four paragraphs, ten passages
    assert all(0.0 <= report[key] <= 1.0 for key in METRIC_KEYS if report[key] is not None)
    assert report["abstention_recall"] is not None
    assert report["abstention_precision"] is not None or report["abstained_questions"] == 0
    assert (report["mode"], report["dense"], report["model"]) == ("extractive", True, str(tiny_model))
    assert report["seconds_per_question"] > 0
    assert report["notes"] == []


def test_eval_jsonl_on_an_existing_index(
    tmp_path: Path, make_settings: Callable[..., Settings], tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    sync(settings)
    baghouz, speech = "002_f008f8df6c8a9b3c.txt", "003_0262f053a42b4a37.txt"
    lines = [
        {"question": "أين تقع الباغوز؟", "sources": [baghouz], "answers": ["نهر الفرات"]},
        {"question": "ما مدة رسالة البغدادي الصوتية الجديدة؟", "sources": [speech], "answers": ["55 دقيقة"]},
        {"question": "ما هو سعر القهوة في مقاهي طوكيو اليوم؟", "answers": []},
        {"question": "من هو أبو الحسن المهاجر؟"},  # neither ranked nor scored
        {"question": "ماذا حدث في منبج؟", "sources": ["missing.txt"]},
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    argv = ["eval", str(path), "--index", str(settings.index_dir), "--model", str(tiny_model)]
    assert main([*argv, "--json", "--k", "3"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["format"], report["questions"], report["ranked_questions"]) == ("jsonl", 5, 3)
    assert (report["answerable_questions"], report["unanswerable_questions"]) == (2, 1)
    assert report["recall_at_10"] == pytest.approx(2 / 3)  # missing.txt is never found
    assert all(0.0 <= report[key] <= 1.0 for key in METRIC_KEYS if report[key] is not None)
    assert "Warning: 1 sources named in questions.jsonl are not in the index (missing.txt)" in captured.err

    assert main([*argv, "--limit", "2"]) == 0
    table = capsys.readouterr().out
    assert "questions.jsonl (jsonl, 2 questions)" in table
    assert "mode: extractive; dense: yes" in table
    assert "abstention recall" in table and "n/a" in table


def test_eval_bad_file_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("أسئلة بلا تنسيق\n", encoding="utf-8")
    assert main(["eval", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: notes.txt is not SQuAD JSON or JSONL (line 1: ") and "Traceback" not in err
    assert main(["eval", str(tmp_path / "absent.json")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_plain_report_is_an_aligned_table() -> None:
    report = EvalReport(
        file="arcd-test.json",
        format="squad",
        questions=50,
        ranked_questions=50,
        recall_at_1=0.66,
        recall_at_5=0.96,
        recall_at_10=1.0,
        mrr_at_10=0.8013,
        answerable_questions=50,
        answer_containment=0.82,
        unanswerable_questions=0,
        abstained_questions=1,
        abstention_precision=None,
        abstention_recall=None,
        seconds_per_question=0.0041,
        mode="lexical-only",
        dense=False,
        model="BAAI/bge-m3",
    )
    lines = format_eval_report(report).splitlines()
    assert lines[:2] == [
        "arcd-test.json (squad, 50 questions)",
        "mode: lexical-only; dense: no (lexical search only); model: BAAI/bge-m3",
    ]
    table = lines[3:]
    assert table[0].split() == ["metric", "value", "questions"]
    assert table[4].split() == ["MRR@10", "0.801", "50"]
    assert table[6].split() == ["abstention", "precision", "n/a", "1"]
    assert len({len(line) for line in table}) == 1  # columns line up


def test_a_passage_counts_for_the_wire_copies_it_stands_for() -> None:
    """Retrieval shows one copy of a story; the copies listed under also_in are found with it."""
    ranked = [frozenset({"a.txt", "a-copy.txt"}), "b.txt"]
    assert first_relevant_rank(ranked, ["a-copy.txt"]) == 1
    assert first_relevant_rank(ranked, ["b.txt"]) == 2 and first_relevant_rank(ranked, ["c.txt"]) == 0
    assert rank_metrics([ranked], [["a-copy.txt", "b.txt"]], cutoffs=(1, 2)) == {
        "recall_at_1": 0.5,
        "recall_at_2": 1.0,
        "mrr_at_2": 1.0,
    }
