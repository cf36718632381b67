"""Which sentence an Arabic question over Arabic passages is answered with: words only, or words and meaning.

The extractive answerer (assistant/extractive.py) quotes the best-scored sentences of the retrieved
passages. Across languages a sentence's score weighs its coverage of the question's words, its
similarity to the question (the bundled multilingual-e5-small's sentence vectors) and its passage's
rank; in the same language it has weighed coverage and rank only, so a sentence that says the thing
asked in other words (a broken plural: "قتلى" asked, "قتيلاً" written) loses to one that repeats the
question's words without answering it.

This benchmark measures every candidate same-language scoring on the same retrieved sentences:
  score = cover_w x coverage + similarity_w x (similarity - the best similarity among the question's
          sentences) + rank_w x 1 / (1 + passage rank)
(the similarity enters relative to the question's best, so a weight says how much a step in meaning
is worth against a step in words whatever the model's cosine level). For each weighting and pool:
  holds      share of answerable questions whose top sentence holds the gold answer (positive case)
  answered   share whose top sentence passes the abstention rule (extractive.is_relevant, the
             calibrated thresholds), so a weighting cannot buy "holds" by quoting sentences the
             answerer would then refuse
  abstained  on the unanswerable pools (each set's questions on the other set's index, the seeds'
             off-topic and near-miss questions): the share still abstained (negative case)

Pools: ARCD-test and XQuAD-ar questions on their own indexes (answerable) and on each other's
(unanswerable), the seed questions in Arabic, the seeds' off-topic and near-miss Arabic questions.

Command (from the repository root, with the project virtualenv; the indexes are cached in the work dir
as benchmarks/retrieval_quality.py caches them):

    python benchmarks/sentence_choice.py --out docs/answers.md
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import publish
from retrieval_quality import DEFAULT_WORK_DIR, EVAL_DIR, build_index, load_squad, machine_lines

from assistant import extractive
from assistant.evaluation import comparable, read_squad
from assistant.extractive import ScoredSentence, abstention_for, is_relevant, score_sentences
from assistant.records import Closeness
from assistant.retrieval import Retriever
from assistant.settings import AssistantSettings
from ingest.analysis import Language, detect_language
from ingest.sync import sync

REPO_ROOT = Path(__file__).resolve().parent.parent
K = 5
WEIGHTINGS: tuple[tuple[float, float, float], ...] = (
    (0.8, 0.0, 0.2),
    (0.8, 0.5, 0.2),
    (0.8, 1.0, 0.2),
    (0.8, 2.0, 0.2),
    (0.8, 3.0, 0.2),
    (0.8, 4.0, 0.2),
    (0.8, 6.0, 0.2),
    (0.8, 2.0, 0.1),
    (0.8, 3.0, 0.1),
    (0.8, 2.0, 0.0),
    (0.8, 3.0, 0.0),
    (0.0, 1.0, 0.0),
)
"""(cover_w, similarity_w, rank_w); the first is the answerer before this benchmark."""


@dataclass(frozen=True)
class Question:
    """One question's retrieved sentences, as the answerer scored them."""

    text: str
    answers: tuple[str, ...]
    sentences: tuple[ScoredSentence, ...]
    same_language: tuple[bool, ...]
    """Per sentence: its passage is in the question's language."""
    passage_languages: tuple[Language, ...]
    closeness: Closeness | None


@dataclass(frozen=True)
class Pool:
    name: str
    answerable: bool
    questions: tuple[Question, ...]


def rescore(question: Question, weights: tuple[float, float, float]) -> list[ScoredSentence]:
    """The question's sentences scored by `weights` where their passage is in its language (others as is)."""
    cover_w, similarity_w, rank_w = weights
    known = [s.similarity for s, same in zip(question.sentences, question.same_language, strict=True) if same]
    top = max((s for s in known if s is not None), default=None)
    scored = []
    for sentence, same in zip(question.sentences, question.same_language, strict=True):
        if same:
            rank = 1.0 / (1 + sentence.passage)
            meaning = 0.0 if sentence.similarity is None or top is None else sentence.similarity - top
            sentence = replace(sentence, score=cover_w * sentence.coverage + similarity_w * meaning + rank_w * rank)
        scored.append(sentence)
    return scored


def outcome(question: Question, weights: tuple[float, float, float]) -> tuple[bool, bool]:
    """(the top sentence holds a gold answer, the answerer would answer with it)."""
    scored = rescore(question, weights)
    if not scored:
        return False, False
    best = max(scored, key=lambda s: s.score)
    holds = any(comparable(a) in comparable(best.text) for a in question.answers if a.strip())
    rule = abstention_for_bundled()
    language = detect_language(question.text)
    answered = is_relevant(best, language, question.passage_languages[best.passage], rule, question.closeness)
    return holds, answered


_RULE: list[extractive.Abstention] = []


def abstention_for_bundled() -> extractive.Abstention:
    """The calibrated rule of the bundled model (set once the retrievers have loaded it)."""
    return _RULE[0]


def measure(name: str, answerable: bool, items: Sequence[tuple[str, tuple[str, ...]]], retriever: Retriever) -> Pool:
    started = time.perf_counter()
    questions = []
    for text, answers in items:
        retrieval = retriever.retrieve(text, K)
        scored = score_sentences(text, retrieval.passages, retriever.embedder)
        languages = tuple(detect_language(p.text) for p in retrieval.passages)
        language = detect_language(text)
        same = tuple(languages[s.passage] == language for s in scored)
        questions.append(Question(text, answers, tuple(scored), same, languages, retrieval.closeness))
    print(f"  {name}: {len(questions)} questions, {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return Pool(name, answerable, tuple(questions))


def squad_pools(model: str, work_dir: Path, limit: int | None) -> list[Pool]:
    arcd_path, xquad_path = EVAL_DIR / "arcd" / "arcd-test.json", EVAL_DIR / "xquad" / "xquad.ar.json"
    retrievers = {}
    for path, name in ((arcd_path, "arcd-test"), (xquad_path, "xquad.ar")):
        corpus, _ = load_squad(path, name)
        retrievers[name] = Retriever.open(build_index(corpus, model, work_dir, k=K).settings)
    arcd = [(q.question, q.answers) for q in read_squad(arcd_path).questions][:limit]
    xquad = [(q.question, q.answers) for q in read_squad(xquad_path).questions][:limit]
    plan = [
        ("arcd-test ar -> arcd-test", True, arcd, "arcd-test"),
        ("xquad ar -> xquad", True, xquad, "xquad.ar"),
        ("xquad ar -> arcd-test", False, xquad, "arcd-test"),
        ("arcd-test ar -> xquad", False, arcd, "xquad.ar"),
    ]
    pools = [measure(name, ok, items, retrievers[index]) for name, ok, items, index in plan]
    _RULE.append(abstention_for(retrievers["arcd-test"].embedder))
    for retriever in retrievers.values():
        retriever.close()
    return pools


def seed_pools(model: str) -> list[Pool]:
    data = REPO_ROOT / "tests" / "data"
    questions = [json.loads(line) for line in (data / "seed_questions.jsonl").read_text("utf-8").splitlines()]
    others = [json.loads(line) for line in (data / "seed_unanswerable.jsonl").read_text("utf-8").splitlines()]
    work = Path(tempfile.mkdtemp(prefix="seed-sentences-"))
    try:
        shutil.copytree(REPO_ROOT / "seeds", work / "docs")
        settings = AssistantSettings.from_env(
            {}, docs_dir=work / "docs", index_dir=work / "index", embedding_model=model, k=K
        )
        sync(settings.index)
        retriever = Retriever.open(settings)
        asked = [(q["question"], tuple(q["answers"])) for q in questions if q["language"] == "ar"]
        pools = [measure("seed questions ar", True, asked, retriever)]
        for kind in ("off-topic", "near-miss"):
            chosen = [(o["question"], ()) for o in others if o["language"] == "ar" and o["kind"] == kind]
            pools.append(measure(f"seed {kind} ar", False, chosen, retriever))
        retriever.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return pools


def table(pools: Sequence[Pool]) -> list[str]:
    answerable = [p for p in pools if p.answerable]
    negative = [p for p in pools if not p.answerable]
    head = ["coverage", "similarity", "rank"]
    head += [f"holds / answered: {p.name} ({len(p.questions)})" for p in answerable]
    head += [f"abstained: {p.name} ({len(p.questions)})" for p in negative]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for weights in WEIGHTINGS:
        cells = [f"{w:g}" for w in weights]
        for pool in answerable:
            results = [outcome(q, weights) for q in pool.questions]
            holds = sum(h for h, _ in results)
            answered = sum(a for _, a in results)
            cells.append(f"{holds} / {answered}")
        for pool in negative:
            cells.append(str(sum(not answered for _, answered in (outcome(q, weights) for q in pool.questions))))
        if weights == WEIGHTINGS[0]:
            cells[0] = f"{cells[0]} (before)"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def changed(pools: Sequence[Pool], weights: tuple[float, float, float]) -> list[str]:
    """The answerable questions whose top sentence changes from the first weighting to `weights`."""
    lines = []
    for pool in pools:
        if not pool.answerable:
            continue
        gained = lost = 0
        for question in pool.questions:
            before, _ = outcome(question, WEIGHTINGS[0])
            after, _ = outcome(question, weights)
            gained += after and not before
            lost += before and not after
        lines.append(f"* {pool.name}: {gained} questions gain the answer's sentence, {lost} lose it")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="embedding model (default: the bundled e5-small)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--limit", type=int, default=0, help="at most this many questions per SQuAD pool (0: all)")
    parser.add_argument("--compare", default="0.8,3,0.2", help="weighting whose gains and losses are listed")
    parser.add_argument("--out", type=Path, help="Markdown file whose sentence-choice section is rewritten")
    parser.add_argument("--reuse", action="store_true", help="reuse the sentences measured by the last run")
    args = parser.parse_args()
    saved = args.work_dir / f"sentence-choice-{Path(args.model).name}.pkl"
    started = time.perf_counter()
    if args.reuse and saved.exists():
        with saved.open("rb") as handle:
            pools, rule, measured = pickle.load(handle)
        _RULE.append(rule)
    else:
        pools = squad_pools(args.model, args.work_dir, args.limit or None) + seed_pools(args.model)
        measured = time.perf_counter() - started
        args.work_dir.mkdir(parents=True, exist_ok=True)
        with saved.open("wb") as handle:
            pickle.dump((pools, _RULE[0], measured), handle)
    compare = tuple(float(x) for x in args.compare.split(","))
    assert len(compare) == 3, "--compare takes cover,similarity,rank"
    command = "python benchmarks/sentence_choice.py" + (f" --limit {args.limit}" if args.limit else "")
    lines = [
        f"`{command}`; retrieval `Retriever.retrieve(q, k={K})`, the bundled multilingual-e5-small; "
        f"the sentences measured in {measured:.0f} s" + (" (saved by an earlier run, reused)." if args.reuse else "."),
        "",
        *machine_lines(args.model),
        "",
        *table(pools),
        "",
        f"Against the first row, coverage {compare[0]:g}, similarity {compare[1]:g}, rank {compare[2]:g}:",
        "",
        *changed(pools, (compare[0], compare[1], compare[2])),
    ]
    publish(lines, args.out, "sentence-choice")


if __name__ == "__main__":
    main()
