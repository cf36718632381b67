"""Answers on the seed articles: cited article, abstention, follow-up conversations and latency, by language.

Model: the bundled multilingual-e5-small (the default); the five seed articles indexed by sync() into
a temporary index. Question sets (tests/data/, written for these articles):
  seed_questions.jsonl      22 facts asked in Arabic and in English (44 questions), with the articles
                            that state them and the answer's words
  seed_unanswerable.jsonl   off-topic questions (10 per language) and near-miss questions: on the
                            articles' topics, but the fact is not in them (10 per language)
  seed_conversations.jsonl  48 conversations of 2-3 turns: 24 real follow-ups (the last turn needs the
                            earlier ones) and 24 topic switches (the last turn stands alone), in Arabic,
                            English and switching language

A question is "cited" when the answer does not abstain and its first citation is one of the expected
articles; a conversation passes when its last turn is cited and answered in the language of that turn.
The conversation rule (assistant/followup.py, ASSISTANT_FOLLOW_UPS=auto) is compared with never
joining (off: every question alone) and always joining (always: every question joined to the
previous standalone question).

Latency: Assistant.ask on the 44 seed questions, one at a time after 5 warm-up questions, query
encoding included, p50/p95 per language; torch threads as set by --threads.

Names (--names-check [SQUAD_FILE]): English questions with and without names vouching for a sentence
(extractive.rescued): the seed questions, the English last turns of the topic switches asked alone, and
every English question of XQuAD (Wikipedia topics, none about the seeds: all should abstain); each as
written and typed in lowercase. The conversations with an English turn are also replayed in lowercase.

Command (from the repository root, with the project virtualenv; 381 s on 2 cores with --names-check on
2026-12-04):

    python benchmarks/answers.py --names-check --out docs/answers.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import publish
from retrieval_quality import machine_lines

from assistant.followup import FollowUps
from assistant.records import Answer
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.analysis import detect_language
from ingest.sync import sync

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT / "tests" / "data"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cited(answer: Answer, sources: Sequence[str]) -> bool:
    return not answer.abstained and bool(answer.citations) and answer.citations[0].source in sources


def contains(answer: Answer, answers: Sequence[str]) -> bool:
    from assistant.evaluation import comparable

    text = comparable(" ".join(c.quote for c in answer.citations))
    return any(comparable(a) in text for a in answers)


@dataclass(frozen=True)
class Conversation:
    id: str
    kind: str
    turns: list[str]
    sources: list[str]

    @property
    def pattern(self) -> str:
        return " -> ".join(detect_language(t) for t in self.turns)


def converse(assistant: Assistant, conversation: Conversation) -> Answer:
    history: list[tuple[str, str]] = []
    answer: Answer | None = None
    for turn in conversation.turns:
        answer = assistant.ask(turn, history=history)
        history.append((turn, answer.text))
    assert answer is not None
    return answer


def conversation_rows(assistant: Assistant, conversations: Sequence[Conversation]) -> dict[str, list[bool]]:
    """Pass/fail of every conversation under the rule and under the two baselines (ASSISTANT_FOLLOW_UPS)."""
    modes: dict[str, FollowUps] = {"the rule": "auto", "never join": "off", "always join": "always"}
    results: dict[str, list[bool]] = {}
    for name, mode in modes.items():
        variant = Assistant(replace(assistant.settings, follow_ups=mode), assistant.retriever)
        results[name] = []
        for c in conversations:
            answer = converse(variant, c)
            results[name].append(cited(answer, c.sources) and answer.language == detect_language(c.turns[-1]))
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="embedding model (default: the bundled e5-small)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    parser.add_argument(
        "--names-check",
        type=Path,
        nargs="?",
        const=REPO_ROOT.parent / "shared" / "eval" / "xquad" / "xquad.en.json",
        help="also ask a SQuAD file's English questions (default XQuAD-en), none of them about the seeds, "
        "with and without names vouching (extractive.rescued)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="seed-answers-"))
    try:
        shutil.copytree(REPO_ROOT / "seeds", work / "docs")
        settings = AssistantSettings.from_env(
            {}, docs_dir=work / "docs", index_dir=work / "index", embedding_model=args.model
        )
        report = sync(settings.index)
        assistant = Assistant.from_settings(settings)
        lines = measure(assistant, report.chunks, args)
        assistant.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines += ["", f"Run time: {time.perf_counter() - started:.0f}s."]
    publish(lines, args.out)


def measure(assistant: Assistant, chunks: int, args: argparse.Namespace) -> list[str]:
    import torch

    questions = read_jsonl(DATA / "seed_questions.jsonl")
    unanswerable = read_jsonl(DATA / "seed_unanswerable.jsonl")
    conversations = [Conversation(**c) for c in read_jsonl(DATA / "seed_conversations.jsonl")]
    lines = [
        *machine_lines(args.model),
        "",
        f"Index: the 5 seed articles, {chunks} chunks. Mode: {assistant.mode}. "
        f"Torch threads: {torch.get_num_threads()}.",
        "",
        "### Questions with an answer in the articles",
        "",
        "| language | questions | cited the right article | answer words in the quote | abstained |",
        "|---|---:|---:|---:|---:|",
    ]
    for language in ("ar", "en"):
        items = [q for q in questions if q["language"] == language]
        answers = [assistant.ask(q["question"]) for q in items]
        ok = sum(cited(a, q["sources"]) for a, q in zip(answers, items, strict=True))
        words = sum(contains(a, q["answers"]) for a, q in zip(answers, items, strict=True))
        lines.append(
            f"| {language} | {len(items)} | {ok} ({ok / len(items):.0%}) | {words} ({words / len(items):.0%}) "
            f"| {sum(a.abstained for a in answers)} |"
        )
        misses = [q["question"] for a, q in zip(answers, items, strict=True) if not cited(a, q["sources"])]
        if misses:
            lines.append(f"| | | missed: {'; '.join(misses)} | | |")
    lines += [
        "",
        "### Questions the articles cannot answer",
        "",
        "| kind | language | questions | abstained | abstained after an answered turn |",
        "|---|---|---:|---:|---:|",
    ]
    for kind in ("off-topic", "near-miss"):
        for language in ("ar", "en"):
            items = [u for u in unanswerable if u["kind"] == kind and u["language"] == language]
            abstained = sum(assistant.ask(u["question"]).abstained for u in items)
            # the same questions as the second turn, after the first seed question of that language (answered)
            first = next(q["question"] for q in questions if q["language"] == language)
            history = [(first, assistant.ask(first).text)]
            later = sum(assistant.ask(u["question"], history=history).abstained for u in items)
            lines.append(
                f"| {kind} | {language} | {len(items)} | {abstained} ({abstained / len(items):.0%}) "
                f"| {later} ({later / len(items):.0%}) |"
            )
    lines += [
        "",
        "### Conversations (the last turn: right article, in the language of that turn)",
        "",
        "| kind | language of the turns | conversations | the rule | never join | always join |",
        "|---|---|---:|---:|---:|---:|",
    ]
    results = conversation_rows(assistant, conversations)
    names = list(results)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(conversations):
        groups.setdefault((c.kind, c.pattern), []).append(i)
        groups.setdefault((c.kind, "all"), []).append(i)
    for (kind, pattern), indexes in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1] == "all", item[0][1])
    ):
        cells = [f"{sum(results[n][i] for i in indexes)}/{len(indexes)}" for n in names]
        label = f"**{kind}, all**" if pattern == "all" else kind
        lines.append(f"| {label} | {pattern} | {len(indexes)} | " + " | ".join(cells) + " |")
    failed = [c.id for i, c in enumerate(conversations) if not results[names[0]][i]]
    lines += ["", f"Failed under the rule: {', '.join(failed) or 'none'}."]
    lines += lowercase_conversation_lines(assistant, conversations)
    if args.names_check:
        switches = [
            {"question": c.turns[-1], "sources": c.sources}
            for c in conversations
            if c.kind == "switch" and detect_language(c.turns[-1]) == "en"
        ]
        lines += names_lines(assistant, args.names_check, [q for q in questions if q["language"] == "en"], switches)
    lines += latency_lines(assistant, [q["question"] for q in questions])
    return lines


def lowercase(text: str) -> str:
    """An English question as typed without capitals; an Arabic one as it is."""
    return text.lower() if detect_language(text) == "en" else text


def lowercase_conversation_lines(assistant: Assistant, conversations: Sequence[Conversation]) -> list[str]:
    """The conversations with an English turn, every English turn typed in lowercase."""
    typed = [replace(c, turns=[lowercase(t) for t in c.turns]) for c in conversations]
    touched = [i for i, (c, t) in enumerate(zip(conversations, typed, strict=True)) if c.turns != t.turns]
    written = conversation_rows(assistant, [conversations[i] for i in touched])
    results = conversation_rows(assistant, [typed[i] for i in touched])
    lines = [
        "",
        "The conversations with an English turn, every English turn typed in lowercase (the rule finds new English "
        "names by their capitals; the answerer finds names spelled in Arabic letters):",
        "",
        "| kind | conversations | as written, the rule | lowercase: the rule | never join | always join |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in ("follow-up", "switch"):
        rows = [j for j, i in enumerate(touched) if conversations[i].kind == kind]
        cells = [f"{sum(results[n][j] for j in rows)}/{len(rows)}" for n in results]
        lines.append(
            f"| {kind} | {len(rows)} | {sum(written['the rule'][j] for j in rows)}/{len(rows)} | "
            + " | ".join(cells)
            + " |"
        )
    failed = [conversations[i].id for j, i in enumerate(touched) if not results["the rule"][j]]
    return [*lines, "", f"Failed in lowercase under the rule: {', '.join(failed) or 'none'}."]


def names_lines(
    assistant: Assistant, squad: Path, english: Sequence[dict[str, Any]], switches: Sequence[dict[str, Any]]
) -> list[str]:
    """English questions answered with and without names vouching for a sentence (extractive.rescued): the
    seed questions and the English last turns of the topic switches asked alone (answerable), and every
    question of `squad` (Wikipedia topics: unanswerable here). Then the same typed in lowercase, with the
    words that are not stopwords as candidate names (assistant.names.question_names) and with capitals only."""
    from assistant import extractive
    from assistant import names as names_module
    from assistant.evaluation import read_squad

    off_topic = [q.question for q in read_squad(squad).questions]
    seeds, switched = [q["question"] for q in english], [q["question"] for q in switches]
    question_names = names_module.question_names

    def asked(questions: Sequence[str]) -> tuple[list[Answer], list[Answer]]:
        with_names = [assistant.ask(q) for q in questions]
        with patch.object(extractive, "rescued", lambda ranked, rule: None):
            without = [assistant.ask(q) for q in questions]
        return with_names, without

    def capitals_only(question: str) -> list[list[str]]:
        return [] if names_module.typed_in_lowercase(question) else question_names(question)

    def typed(questions: Sequence[str]) -> tuple[list[Answer], list[Answer]]:
        lowered = [lowercase(q) for q in questions]
        candidates = [assistant.ask(q) for q in lowered]
        with patch.object(names_module, "question_names", capitals_only):
            capitals = [assistant.ask(q) for q in lowered]
        return candidates, capitals

    results = {
        name: asked(questions) for name, questions in (("seed", seeds), ("switch", switched), ("wiki", off_topic))
    }
    lowered = {
        name: typed(questions) for name, questions in (("seed", seeds), ("switch", switched), ("wiki", off_topic))
    }
    flipped = [q for q, a, b in zip(off_topic, *results["wiki"], strict=True) if b.abstained and not a.abstained]
    low_flipped = [
        lowercase(q) for q, a, b in zip(off_topic, *lowered["wiki"], strict=True) if b.abstained and not a.abstained
    ]
    named = sum(bool(capitals_only(q)) for q in off_topic)
    sources = {"seed": [q["sources"] for q in english], "switch": [q["sources"] for q in switches]}

    def share(answers: Sequence[Answer], ok: Any) -> str:
        count = sum(bool(ok(i, a)) for i, a in enumerate(answers))
        return f"{count} ({count / len(answers):.0%})"

    def row(label: str, name: str, pair: tuple[list[Answer], list[Answer]]) -> str:
        if name == "wiki":
            return f"| {label} | abstained | {share(pair[0], lambda i, a: a.abstained)} | " + (
                f"{share(pair[1], lambda i, a: a.abstained)} |"
            )
        cells = [share(answers, lambda i, a: cited(a, sources[name][i])) for answers in pair]
        return f"| {label} | cited the right article | {cells[0]} | {cells[1]} |"

    labels = {
        "seed": f"seed questions, en ({len(seeds)})",
        "switch": f"switches' English last turns, alone ({len(switched)})",
        "wiki": f"{squad.name} over the seeds ({len(off_topic)})",
    }
    return [
        "",
        "### English names spelled in Arabic (names vouching: `extractive.rescued`)",
        "",
        f"`{squad.name}`: {len(off_topic)} English Wikipedia questions ({named} with a capitalized name), none "
        "about the seeds, so every one should abstain.",
        "",
        "| questions | measured | with names vouching | without |",
        "|---|---|---:|---:|",
        *(row(labels[name], name, results[name]) for name in labels),
        "",
        f"Answered only because of names: {len(flipped)}" + (f" ({'; '.join(flipped[:10])})." if flipped else "."),
        "",
        "The same questions typed in lowercase: the words that are not stopwords as candidate names (what the "
        "answerer does), and names by capitals only (none in a lowercase question: how it was answered before).",
        "",
        "| questions, in lowercase | measured | candidate names | capitals only |",
        "|---|---|---:|---:|",
        *(row(labels[name], name, lowered[name]) for name in labels),
        "",
        f"Answered only because of candidate names: {len(low_flipped)}"
        + (f" ({'; '.join(low_flipped[:10])})." if low_flipped else "."),
    ]


def latency_lines(assistant: Assistant, questions: Sequence[str]) -> list[str]:
    for question in questions[:5]:
        assistant.ask(question)
    times: dict[str, list[float]] = {"ar": [], "en": []}
    load_before = os.getloadavg()
    for question in questions:
        t0 = time.perf_counter()
        assistant.ask(question)
        times[detect_language(question)].append((time.perf_counter() - t0) * 1000)
    load_after = os.getloadavg()
    lines = [
        "",
        "### Latency of `Assistant.ask` (query encoding included)",
        "",
        "| language | questions | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for language, values in times.items():
        p50, p95 = np.percentile(values, [50, 95])
        lines.append(f"| {language} | {len(values)} | {p50:.0f} | {p95:.0f} | {max(values):.0f} |")
    lines += [
        "",
        f"Load average before / after: {', '.join(f'{x:.2f}' for x in load_before)} / "
        f"{', '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} cores.",
    ]
    return lines


if __name__ == "__main__":
    main()
