"""Choose the fusion weights by measurement, then report dense, lexical and hybrid on held-out questions.

Model: the bundled multilingual-e5-small (the default). Corpora, one .txt file per unique paragraph,
indexed by the project's own sync(): ARCD-train, ARCD-test, XQuAD-ar. Question sets: ARCD-train
(tuning), ARCD-test (report), and XQuAD split by article: the first half of the articles tunes, the
second half reports (Arabic questions, and the parallel English questions over the Arabic paragraphs).

For every question the script records what Retriever.retrieve sees: the lexical top 30 with BM25
scores, the dense top 30 from Chroma, and for every candidate of either list its chunk and sentence
similarities (from the passage vectors in the manifest). Fusion variants are then replayed on these
records with assistant.fusion.fuse_scores, and the chosen weights are checked once more through the
real Retriever.retrieve.

Tuning rule: the weights maximize the mean MRR@10 of the three tuning sets (ARCD-train, XQuAD-ar
tune, XQuAD en->ar tune). sentence_weight applies to every question; for each of its values the
best lexical_weight is taken on the two Arabic sets (where no candidate crosses languages) and the
best cross_lexical_weight on the English one. Grid step 0.1; ties go to the value nearer 0.5.

Systems reported: lexical alone (LexicalIndex), dense by chunk (Chroma top 30), dense by chunk and best
sentence (the candidates of the dense list, rescored), the previous hybrid (reciprocal-rank fusion,
k=60, lexical list first), and the hybrid (fuse_scores with the chosen weights). Bootstrap 95%
intervals (2000 resamples over questions) for hybrid minus the better single part.

Command (from the repository root, with the project virtualenv; about 4 minutes on 2 cores once the
indexes are cached, 8-10 minutes the first time, mostly embedding):

    python benchmarks/fusion.py --out docs/fusion.md
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import publish
from retrieval_quality import (
    DEFAULT_WORK_DIR,
    EVAL_DIR,
    CachingEmbedder,
    QuestionSet,
    bootstrap_difference,
    build_index,
    english_questions,
    load_squad,
    machine_lines,
    metrics,
    question_set,
)

from assistant.fusion import fuse_rrf, fuse_scores
from assistant.notes import render_notes
from assistant.retrieval import Retriever
from ingest.analysis import detect_language
from ingest.embedding import query_with_terms

GRID = tuple(round(0.1 * i, 1) for i in range(11))
DEPTH = 30


@dataclass(frozen=True)
class Candidates:
    """What the retriever saw for one question."""

    ids: list[str]
    relevant: np.ndarray
    """True where the candidate comes from the question's paragraph."""
    lexical: dict[str, float]
    dense_order: list[str]
    """The dense (Chroma) top list, best first."""
    chunk: dict[str, float]
    best_sentence: dict[str, float]
    cross: dict[str, bool]
    """True where the candidate's language differs from the question's."""
    terms: dict[str, float]
    """Latent-term scores (empty when the model has no sparse head)."""


def record(retriever: Retriever, embedder: CachingEmbedder, questions: QuestionSet) -> list[Candidates]:
    """The candidates and their evidence for every question of `questions`."""
    rows = []
    for question, relevant_source in zip(questions.questions, questions.sources, strict=True):
        lexical = retriever.lexical_hits(question, retriever.settings.lexical_depth)
        query, query_terms = query_with_terms(embedder, question)
        dense = retriever.dense_hits(query, retriever.settings.dense_depth)
        ids = list(dict.fromkeys([*lexical, *dense]))
        evidence = retriever.dense_evidence(query, ids, query_terms)
        language = detect_language(question)
        chunk_source = {c.id: c.source for c in retriever.chunks(ids).values()}
        rows.append(
            Candidates(
                ids,
                np.array([chunk_source[c] == relevant_source for c in ids]),
                lexical,
                list(dense),
                {c: e.chunk for c, e in evidence.items()},
                {c: max(e.sentences) if e.sentences else e.chunk for c, e in evidence.items()},
                {c: e.language not in (None, language) for c, e in evidence.items()},
                {c: e.terms for c, e in evidence.items() if e.terms is not None},
            )
        )
    return rows


def rank_of_relevant(order: Sequence[str], row: Candidates, depth: int = 10) -> int:
    position = {c: i for i, c in enumerate(row.ids)}
    for rank, candidate in enumerate(order[:depth], start=1):
        if row.relevant[position[candidate]]:
            return rank
    return 0


def hybrid_ranks(
    rows: Sequence[Candidates], lexical_weight: float, cross_weight: float, sentence: float, terms: float = 0.0
) -> np.ndarray:
    ranks = []
    for row in rows:
        dense = {c: (1 - sentence) * row.chunk[c] + sentence * row.best_sentence[c] for c in row.chunk}
        weights = {c: cross_weight if row.cross.get(c) else lexical_weight for c in row.ids}
        fused = fuse_scores(row.ids, row.lexical, dense, weights, row.terms, terms)
        ranks.append(rank_of_relevant([c for c, _ in fused], row))
    return np.array(ranks)


def dense_ranks(rows: Sequence[Candidates], sentence: float, terms: float = 0.0) -> np.ndarray:
    """The dense list alone, its candidates rescored by chunk and best sentence (and latent terms)."""
    ranks = []
    for row in rows:
        dense = {c: (1 - sentence) * row.chunk[c] + sentence * row.best_sentence[c] for c in row.dense_order}
        fused = fuse_scores(row.dense_order, {}, dense, 0.0, row.terms, terms)
        ranks.append(rank_of_relevant([c for c, _ in fused], row))
    return np.array(ranks)


def single_ranks(rows: Sequence[Candidates], system: str) -> np.ndarray:
    orders: dict[str, Callable[[Candidates], list[str]]] = {
        "lexical": lambda r: sorted(r.lexical, key=lambda c: -r.lexical[c]),
        "dense (chunk)": lambda r: r.dense_order,
        "rrf": lambda r: [c for c, _ in fuse_rrf([list(r.lexical), r.dense_order], k=60)],
        "terms": lambda r: sorted(r.dense_order, key=lambda c: -r.terms.get(c, 0.0)),
    }
    return np.array([rank_of_relevant(orders[system](row), row) for row in rows])


def mrr(ranks: np.ndarray) -> float:
    return metrics(ranks)["MRR@10"]


def _central(values: Sequence[tuple[float, float]]) -> float:
    """The argument with the best score, ties to the value nearest 0.5."""
    best = max(score for _, score in values)
    return min((v for v, score in values if score >= best - 1e-12), key=lambda v: abs(v - 0.5))


def tune(rows: dict[str, list[Candidates]]) -> tuple[float, float, float, float, list[str]]:
    """The weights with the best mean MRR@10 over the three tuning sets (see the module docstring)."""
    arabic = ("arcd-train ar", "xquad ar tune")
    names = (*arabic, "xquad en tune")

    def objective(lexical: float, cross: float, sentence: float, terms: float) -> float:
        return float(np.mean([mrr(hybrid_ranks(rows[n], lexical, cross, sentence, terms)) for n in names]))

    same = {
        (s, w): float(np.mean([mrr(hybrid_ranks(rows[name], w, 0.0, s)) for name in arabic]))
        for s, w in itertools.product(GRID, GRID)
    }
    best: tuple[float, float, float, float] | None = None
    per_sentence = []
    for s in GRID:
        lexical = _central([(w, same[(s, w)]) for w in GRID])
        crossing = [(c, mrr(hybrid_ranks(rows["xquad en tune"], lexical, c, s))) for c in GRID]
        cross = _central(crossing)
        value = (2 * same[(s, lexical)] + dict(crossing)[cross]) / 3
        per_sentence.append((s, lexical, cross, same[(s, lexical)], dict(crossing)[cross], value))
        if (
            best is None
            or value > best[3] + 1e-12
            or (abs(value - best[3]) <= 1e-12 and abs(s - 0.5) < abs(best[0] - 0.5))
        ):
            best = (s, lexical, cross, value)
    assert best is not None
    sentence, lexical, cross, value = best
    lines = [
        "Step 1, without latent terms. Mean MRR@10 of ARCD-train and XQuAD-ar tune (Arabic questions), by "
        "sentence_weight (rows) and lexical_weight (columns):",
        "",
        "| sentence \\ lexical | " + " | ".join(f"{w}" for w in GRID) + " |",
        "|---|" + "---:|" * len(GRID),
    ]
    for s in GRID:
        lines.append(f"| {s} | " + " | ".join(f"{same[(s, w)]:.3f}" for w in GRID) + " |")
    lines += [
        "",
        "For each sentence_weight: the best lexical_weight on the Arabic sets, the best cross_lexical_weight on "
        "XQuAD en->ar tune, and the objective (mean of the three sets' MRR@10):",
        "",
        "| sentence_weight | lexical_weight | cross_lexical_weight | Arabic mean | en->ar | objective |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {s} | {w} | {c} | {a:.3f} | {e:.3f} | {o:.3f} |" for s, w, c, a, e, o in per_sentence),
        "",
        f"Step 1 chose sentence_weight {sentence}, lexical_weight {lexical}, cross_lexical_weight {cross} "
        f"(objective {value:.3f}).",
    ]
    terms = 0.0
    if any(row.terms for name in names for row in rows[name]):
        by_terms = [(t, objective(lexical, cross, sentence, t)) for t in GRID]
        terms = _central(by_terms)
        relexical = [(w, objective(w, cross, sentence, terms)) for w in GRID]
        lexical = _central(relexical)
        recross = [(c, objective(lexical, c, sentence, terms)) for c in GRID]
        cross = _central(recross)
        lines += [
            "",
            "Step 2, latent terms: terms_weight by the objective (other weights from step 1): "
            + ", ".join(f"{t}: {v:.3f}" for t, v in by_terms)
            + f"; chosen {terms}. Then lexical_weight again: "
            + ", ".join(f"{w}: {v:.3f}" for w, v in relexical)
            + f"; chosen {lexical}. Then cross_lexical_weight again: "
            + ", ".join(f"{c}: {v:.3f}" for c, v in recross)
            + f"; chosen {cross}.",
        ]
    lines += [
        "",
        f"Chosen: sentence_weight {sentence}, lexical_weight {lexical}, cross_lexical_weight {cross}, "
        f"terms_weight {terms} (objective {objective(lexical, cross, sentence, terms):.3f}).",
    ]
    return lexical, cross, sentence, terms, lines


def split_by_article(questions: QuestionSet) -> tuple[QuestionSet, QuestionSet]:
    """The questions of the first half of the articles (in file order), and of the second half."""
    titles = list(dict.fromkeys(questions.titles))
    first = set(titles[: len(titles) // 2])

    def part(keep: bool, suffix: str) -> QuestionSet:
        picked = [i for i, t in enumerate(questions.titles) if (t in first) == keep]
        return QuestionSet(
            f"{questions.name} {suffix}",
            questions.corpus,
            [questions.questions[i] for i in picked],
            [questions.sources[i] for i in picked],
            [questions.titles[i] for i in picked],
        )

    return part(True, "tune"), part(False, "held-out")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="embedding model (default: the bundled e5-small)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    arcd_train, train_q = load_squad(EVAL_DIR / "arcd" / "arcd-train.json", "arcd-train")
    arcd_test, test_q = load_squad(EVAL_DIR / "arcd" / "arcd-test.json", "arcd-test")
    xquad, xquad_q = load_squad(EVAL_DIR / "xquad" / "xquad.ar.json", "xquad.ar")
    xquad_ar_tune, xquad_ar_held = split_by_article(question_set("xquad ar", "xquad.ar", xquad_q))
    english = english_questions(EVAL_DIR / "xquad" / "xquad.en.json", xquad_q)
    xquad_en_tune, xquad_en_held = split_by_article(replace(english, name="xquad en"))
    plan = [
        (arcd_train, [question_set("arcd-train ar", "arcd-train", train_q)]),
        (arcd_test, [question_set("arcd-test ar", "arcd-test", test_q)]),
        (xquad, [xquad_ar_tune, xquad_ar_held, xquad_en_tune, xquad_en_held]),
    ]
    rows: dict[str, list[Candidates]] = {}
    retrievers = {}
    for corpus, sets in plan:
        built = build_index(corpus, args.model, args.work_dir)
        retriever = Retriever.open(built.settings)
        if retriever.embedder is None:
            raise SystemExit(f"the index has no dense part: {render_notes(retriever.notes, 'en')}")
        embedder = CachingEmbedder(retriever.embedder)
        for qs in sets:
            embedder.warm(qs.questions)
            t0 = time.perf_counter()
            rows[qs.name] = record(retriever, embedder, qs)
            print(
                f"  {qs.name}: {len(qs.questions)} questions recorded in {time.perf_counter() - t0:.1f}s",
                file=sys.stderr,
            )
        retrievers[corpus.name] = (retriever, sets)
    lexical, cross, sentence, terms, tuning = tune(rows)
    print("\n".join(tuning), file=sys.stderr)
    report_sets = [
        "arcd-test ar",
        "xquad ar held-out",
        "xquad en held-out",
        "arcd-train ar",
        "xquad ar tune",
        "xquad en tune",
    ]
    hybrid_name = f"hybrid (lexical {lexical}, across languages {cross}, sentence {sentence}, terms {terms})"
    systems: dict[str, Callable[[list[Candidates]], np.ndarray]] = {
        "lexical": lambda r: single_ranks(r, "lexical"),
        "dense (chunk, Chroma)": lambda r: single_ranks(r, "dense (chunk)"),
        f"dense (chunk + best sentence, w={sentence})": lambda r: dense_ranks(r, sentence),
        "latent terms (the dense list reordered by them)": lambda r: single_ranks(r, "terms"),
        f"meaning (dense + latent terms {terms})": lambda r: dense_ranks(r, sentence, terms),
        "hybrid before (RRF k=60)": lambda r: single_ranks(r, "rrf"),
        f"hybrid without latent terms (lexical {lexical}, across {cross})": lambda r: hybrid_ranks(
            r, lexical, cross, sentence, 0.0
        ),
        hybrid_name: lambda r: hybrid_ranks(r, lexical, cross, sentence, terms),
    }
    ranks = {(s, name): f(rows[s]) for s in report_sets for name, f in systems.items()}
    for language in ("ar", "en"):  # the whole of XQuAD, tuning half included, for the targets
        whole = f"xquad {language} (all)"
        rows[whole] = rows[f"xquad {language} tune"] + rows[f"xquad {language} held-out"]
        for name in systems:
            ranks[(whole, name)] = np.concatenate(
                [ranks[(f"xquad {language} tune", name)], ranks[(f"xquad {language} held-out", name)]]
            )
        report_sets.append(whole)
    names = list(systems)
    lines = [
        *machine_lines(args.model),
        "",
        f"Chosen: lexical_weight {lexical}, cross_lexical_weight {cross}, sentence_weight {sentence}, "
        f"terms_weight {terms} (assistant/fusion.py holds the defaults).",
        "",
        "| question set | questions | system | R@1 | R@5 | R@10 | MRR@10 |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for s in report_sets:
        for name in names:
            m = metrics(ranks[(s, name)])
            values = " | ".join(f"{m[c]:.3f}" for c in ("R@1", "R@5", "R@10", "MRR@10"))
            lines.append(f"| {s} | {len(rows[s])} | {name} | {values} |")
    hybrid, parts = names[-1], [names[0], names[4]]
    lines += [
        "",
        "Hybrid minus the better single part (lexical, or the meaning side: dense by chunk + best sentence with "
        "latent terms), MRR@10, paired bootstrap:",
        "",
        "| question set | better part | hybrid - better part | 95% interval |",
        "|---|---|---:|---|",
    ]
    for s in ("arcd-test ar", "xquad ar (all)", "xquad en (all)", "xquad ar held-out", "xquad en held-out"):
        better = max(parts, key=lambda p: mrr(ranks[(s, p)]))
        point, low, high = bootstrap_difference(ranks[(s, hybrid)], ranks[(s, better)])
        lines.append(f"| {s} | {better} | {point:+.3f} | [{low:+.3f}, {high:+.3f}] |")
    check = []
    for retriever, sets in retrievers.values():
        for qs in sets:
            key = qs.name
            if key not in ("arcd-test ar", "xquad ar held-out", "xquad en held-out"):
                continue
            tuned = Retriever(
                replace(
                    retriever.settings, lexical_weight=lexical, cross_lexical_weight=cross, sentence_weight=sentence
                ),
                retriever.embedder,
            )
            real = np.array(
                [
                    next((i for i, p in enumerate(tuned.retrieve(q, 10).passages, 1) if p.source == src), 0)
                    for q, src in zip(qs.questions, qs.sources, strict=True)
                ]
            )
            tuned.close()
            check.append(f"{key} {mrr(real):.3f}")
        retriever.close()
    lines += [
        "",
        "Check through the real `Retriever.retrieve` with the chosen weights (MRR@10): " + "; ".join(check) + ".",
        "",
        *tuning,
        "",
        f"Run time: {time.perf_counter() - started:.0f}s (indexes cached under {args.work_dir}).",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
