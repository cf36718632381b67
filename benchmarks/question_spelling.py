"""How a question is spelled: harakat, tatweel and Arabic-Indic digits, with and without `plain_spelling`.

The Arabic questions of ARCD-test and XQuAD-ar (the indexes of benchmarks/retrieval_quality.py, built with
the bundled multilingual-e5-small), asked as written and in three respellings that a person may type:
  harakat   a short vowel, sukun or shadda on most Arabic letters (seeded), as in fully vowelled text
  tatweel   a tatweel inside every word of four letters or more
  digits    the questions that hold ASCII digits, with Arabic-Indic digits instead
each once with the question given to the embedding model as typed (`raw`) and once through
`ingest.analysis.plain_spelling` (`plain`, what the assistant does). The lexical side normalizes all of these
already. Reported: hybrid MRR@10 (`Retriever.retrieve`, a wire copy counting for its `also_in`) and, from
`Assistant.ask` (extractive), the share of questions answered and the share answered citing the question's
paragraph first.

    HF_HUB_OFFLINE=1 python benchmarks/question_spelling.py --limit 300 --out docs/retrieval.md
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reporting import publish  # noqa: E402
from retrieval_quality import DEFAULT_WORK_DIR, EVAL_DIR, QuestionSet, build_index, load_squad, question_set  # noqa: E402

import assistant.extractive  # noqa: E402
import assistant.retrieval  # noqa: E402
from assistant.evaluation import first_relevant_rank, reciprocal_rank, stood_for  # noqa: E402
from assistant.service import Assistant  # noqa: E402

_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_MARKS = ("\u064e", "\u064f", "\u0650", "\u0652", "\u0651\u064e")  # fatha, damma, kasra, sukun, shadda+fatha
_WORD = re.compile(r"[\u0621-\u064a]{4,}")
SPELLING = "plain_spelling"
"""The function the two modules call on a question before embedding it."""
INDIC = str.maketrans({str(d): chr(0x0660 + d) for d in range(10)})


def with_harakat(text: str, rng: random.Random) -> str:
    return "".join(c + rng.choice(_MARKS) if _ARABIC_LETTER.match(c) and rng.random() < 0.8 else c for c in text)


def with_tatweel(text: str) -> str:
    return _WORD.sub(lambda m: m.group(0)[:2] + "\u0640" + m.group(0)[2:], text)


def variants(questions: QuestionSet) -> dict[str, QuestionSet]:
    """The set as written and respelled (the digits variant holds only the questions that have digits)."""
    rng = random.Random(0)
    digits = [i for i, q in enumerate(questions.questions) if re.search(r"\d", q)]

    def of(name: str, texts: list[str], keep: list[int] | None = None) -> QuestionSet:
        rows = keep if keep is not None else list(range(len(texts)))
        picked = [texts[i] for i in rows]
        return QuestionSet(name, questions.corpus, picked, [questions.sources[i] for i in rows], [""] * len(rows))

    return {
        "as written": of("as written", questions.questions),
        "harakat": of("harakat", [with_harakat(q, rng) for q in questions.questions]),
        "tatweel": of("tatweel", [with_tatweel(q) for q in questions.questions]),
        "digits": of("digits", [q.translate(INDIC) for q in questions.questions], digits),
    }


@contextmanager
def spelling(mode: str) -> Iterator[None]:
    """`plain`: as the assistant runs; `raw`: the question reaches the model as typed."""
    modules = (assistant.retrieval, assistant.extractive)
    saved = [getattr(module, SPELLING) for module in modules]
    if mode == "raw":
        for module in modules:
            setattr(module, SPELLING, _same)
    try:
        yield
    finally:
        for module, function in zip(modules, saved, strict=True):
            setattr(module, SPELLING, function)


def _same(text: str) -> str:
    return text


def measure(bot: Assistant, questions: QuestionSet) -> tuple[float, float, float]:
    """(hybrid MRR@10, share answered, share answered citing the question's paragraph first)."""
    rr, answered, right = [], 0, 0
    for question, source in zip(questions.questions, questions.sources, strict=True):
        ranked = stood_for(bot.retriever.retrieve(question, 10).passages)
        rr.append(reciprocal_rank(first_relevant_rank(ranked, (source,)), 10))
        reply = bot.ask(question)
        if not reply.abstained:
            answered += 1
            right += bool(reply.citations) and reply.citations[0].source == source
    n = max(1, len(questions.questions))
    return sum(rr) / n, answered / n, right / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=300, help="questions per corpus (0: all)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--out", type=Path, help="Markdown file whose question-spelling section is rewritten")
    options = parser.parse_args()
    if options.limit < 0:
        parser.error("--limit must be 0 or more")
    started = time.perf_counter()
    rows: list[str] = []
    sets: list[tuple[str, Path]] = [
        ("arcd-test", EVAL_DIR / "arcd" / "arcd-test.json"),
        ("xquad.ar", EVAL_DIR / "xquad" / "xquad.ar.json"),
    ]
    for name, path in sets:
        corpus, questions = load_squad(path, name)
        built = build_index(corpus, "bundled", options.work_dir)
        bot = Assistant.from_settings(built.settings)
        try:
            for variant in variants(question_set(name, name, questions, options.limit)).values():
                results: dict[str, tuple[float, float, float]] = {}
                for mode in ("raw", "plain"):
                    with spelling(mode):
                        results[mode] = measure(bot, variant)
                raw, plain = results["raw"], results["plain"]
                rows.append(
                    f"| {name} | {variant.name} | {len(variant.questions)} | {raw[0]:.3f} | {plain[0]:.3f} | "
                    f"{raw[1]:.1%} | {plain[1]:.1%} | {raw[2]:.1%} | {plain[2]:.1%} |"
                )
                print(rows[-1], flush=True)
        finally:
            bot.close()
    load = os.getloadavg()
    lines = [
        f"`HF_HUB_OFFLINE=1 python benchmarks/question_spelling.py --limit {options.limit}`: the first "
        f"{options.limit or 'all'} questions of each set, bundled multilingual-e5-small, extractive answers; "
        f"{time.perf_counter() - started:.0f} s, load {load[0]:.1f} at the end.",
        "",
        "| set | spelling | questions | MRR@10 raw | MRR@10 plain | answered raw | answered plain "
        "| answered, paragraph cited first, raw | plain |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    publish(lines, options.out, "question-spelling")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
