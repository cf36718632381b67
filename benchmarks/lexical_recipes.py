"""Choose the lexical (BM25) analyzer recipe by measurement.

Measures question -> paragraph retrieval on two Arabic SQuAD-format sets (ARCD test split
and XQuAD ar): each question must retrieve the paragraph it was written about. Identical
paragraph texts are indexed once, so a question counts as answered when the paragraph with
its exact context text is retrieved. Metrics: Recall@1, Recall@5, Recall@10 and MRR@10.

Recipes (AnalyzerConfig + LexicalParams of ingest/, BM25 k1=1.2 b=0.75 unless stated):
 1. raw whitespace tokens, bm25s used directly (baseline)
 2-5. normalized; + stopwords; + light10 stemming; + Snowball stemming
 6v. light10v (light10, the tanween alif, inner long-vowel letters of stems of 5+ letters dropped) + c3;
     6v4 drops them from stems of 4 letters too
 6-9. a character n-gram field fused with the word field (n = 3, 4, 5; grams_weight)
 10. (k1, b) in {(0.9, 0.4), (1.2, 0.75), (1.5, 0.75)} for the best of 1-9
The best recipe is the one with the highest MRR@10 averaged over the two datasets; a paired
bootstrap over questions gives a 95% interval for its lead over every other recipe.

A last table repeats the scratch check of shared/eval/anchors/own_bm25_normalization_check.tsv
under its own settings (k1=0.9, b=0.4, full arcd.json, R@20) and prints its numbers beside ours.

Command (from the repository root, about 10 seconds on 2 CPU cores):

    python benchmarks/lexical_recipes.py --out docs/lexical.md

--out replaces the part of the file between the results markers (appended when absent).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from reporting import publish

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from assistant.evaluation import read_squad, reciprocal_rank  # noqa: E402
from ingest import analysis  # noqa: E402
from ingest.analysis import ANALYZER_VERSION, AnalyzerConfig, char_ngrams, tokenize  # noqa: E402
from ingest.lexical import FIELDS, analyze_fields  # noqa: E402

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
CUTOFFS = (1, 5, 10)

Search = Callable[[str, int], list[int]]
"""(question, k) -> indices of the k best paragraphs, best first."""


@dataclass(frozen=True)
class Dataset:
    name: str
    paragraphs: list[str]  # unique paragraph texts
    questions: list[str]
    relevant: list[int]  # index into `paragraphs` of each question's paragraph


@dataclass(frozen=True)
class Recipe:
    """How to build a searcher. `config` None with a `tokens` function means bm25s directly."""

    name: str
    config: AnalyzerConfig | None
    params: LexicalParams
    tokens: Callable[[str], list[str]] | None = None


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class LexicalParams:
    """BM25 (k1, b) and the weight of the n-gram field in the fusion of the two fields."""

    k1: float = 1.2
    b: float = 0.75
    grams_weight: float = 1.0


def load_squad(path: Path, name: str) -> Dataset:
    """Unique paragraphs and (question, paragraph index) pairs of a SQuAD file, read as `assistant eval` reads it."""
    squad = read_squad(path)
    return Dataset(
        name, list(squad.paragraphs), [q.question for q in squad.questions], [q.paragraph for q in squad.questions]
    )


# ---------------------------------------------------------------- searchers


def bm25s_search(docs: Sequence[str], tokens: Callable[[str], list[str]], params: LexicalParams) -> Search:
    """A single-field bm25s index over `tokens(doc)` (used for the baselines)."""
    import bm25s

    retriever = bm25s.BM25(k1=params.k1, b=params.b)
    retriever.index([tokens(doc) for doc in docs], show_progress=False)

    def search(query: str, k: int) -> list[int]:
        token_ids = retriever.get_tokens_ids(tokens(query))
        if not token_ids:
            return []
        scores = np.asarray(retriever.get_scores(token_ids))
        ranked = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in ranked if scores[i] > 0]

    return search


def lexical_search(docs: Sequence[str], config: AnalyzerConfig, params: LexicalParams) -> Search:
    """The project's two fields, each bm25s-scored over every paragraph, divided by its best score, summed.

    This is the recipe as chosen with bm25s; the project's tantivy engine ranks the same way
    (docs/lexical.md, "Choosing the engine").
    """
    import bm25s

    analyzed = [analyze_fields(doc, config) for doc in docs]
    retrievers = {}
    for field in FIELDS:
        if field == "grams" and not config.char_ngram:
            continue
        retriever = bm25s.BM25(k1=params.k1, b=params.b)
        retriever.index([f.get(field, []) for f in analyzed], show_progress=False)
        retrievers[field] = retriever

    def search(query: str, k: int) -> list[int]:
        total = np.zeros(len(docs), dtype=np.float32)
        terms = analyze_fields(query, config)
        for field, retriever in retrievers.items():
            token_ids = [retriever.vocab_dict[t] for t in terms.get(field, []) if t in retriever.vocab_dict]
            if not token_ids:
                continue
            scores = np.asarray(retriever.get_scores(token_ids), dtype=np.float32)
            if scores.max() > 0:
                total += (1.0 if field == "words" else params.grams_weight) * scores / scores.max()
        ranked = np.argsort(-total, kind="stable")[:k]
        return [int(i) for i in ranked if total[i] > 0]

    return search


def build_search(recipe: Recipe, docs: Sequence[str]) -> Search:
    if recipe.config is None:
        assert recipe.tokens is not None
        return bm25s_search(docs, recipe.tokens, recipe.params)
    return lexical_search(docs, recipe.config, recipe.params)


# ---------------------------------------------------------------- metrics


def question_ranks(recipe: Recipe, dataset: Dataset, depth: int = 20) -> np.ndarray:
    """1-based rank of each question's paragraph under `recipe`; 0 when not in the top `depth`."""
    search = build_search(recipe, dataset.paragraphs)
    ranks = []
    for question, target in zip(dataset.questions, dataset.relevant, strict=True):
        hits = search(question, depth)
        ranks.append(hits.index(target) + 1 if target in hits else 0)
    return np.array(ranks)


def reciprocal_ranks(ranks: np.ndarray, cutoff: int = 10) -> np.ndarray:
    return np.array([reciprocal_rank(int(rank), cutoff) for rank in ranks])


def metrics(ranks: np.ndarray, cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """Recall@k for each cutoff, and MRR@10."""
    found = ranks > 0
    values = {f"R@{k}": float(np.mean(found & (ranks <= k))) for k in cutoffs}
    values["MRR@10"] = float(np.mean(reciprocal_ranks(ranks)))
    return values


def bootstrap_difference(
    ranks_a: Sequence[np.ndarray], ranks_b: Sequence[np.ndarray], reps: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean-over-datasets MRR@10 of a minus b, with a 95% paired bootstrap interval over questions."""
    rng = np.random.default_rng(seed)
    diffs = [reciprocal_ranks(a) - reciprocal_ranks(b) for a, b in zip(ranks_a, ranks_b, strict=True)]
    samples = np.zeros(reps)
    for diff in diffs:
        samples += diff[rng.integers(0, len(diff), size=(reps, len(diff)))].mean(axis=1)
    samples /= len(diffs)
    point = float(np.mean([diff.mean() for diff in diffs]))
    low, high = np.percentile(samples, [2.5, 97.5])
    return point, float(low), float(high)


# ---------------------------------------------------------------- recipes


def whitespace_tokens(text: str) -> list[str]:
    return text.split()


def word_tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text)


_FROM_FOUR = "light10v, inner vowels from 4 letters"


def _light10v_from_four(token: str) -> str:
    """light10v with inner ا و ي dropped from stems of four letters too (the rejected alternative)."""
    stem = analysis.stem_arabic_light10v(token)
    return analysis.drop_inner_vowels(stem) if len(stem) == 4 else stem


analysis.ARABIC_STEMMERS[_FROM_FOUR] = _light10v_from_four


def main_recipes() -> list[Recipe]:
    """Recipes 1-9 (BM25 k1=1.2, b=0.75)."""
    base = LexicalParams(k1=1.2, b=0.75, grams_weight=1.0)

    def with_weight(weight: float) -> LexicalParams:
        return LexicalParams(k1=base.k1, b=base.b, grams_weight=weight)

    return [
        Recipe("1 raw (whitespace split)", None, base, whitespace_tokens),
        Recipe("2 normalized", AnalyzerConfig("none", False, 0), base),
        Recipe("3 normalized + stopwords", AnalyzerConfig("none", True, 0), base),
        Recipe("4 + light10", AnalyzerConfig("light10", True, 0), base),
        Recipe("5 + snowball", AnalyzerConfig("snowball", True, 0), base),
        Recipe("6 light10 + c3 w=1.0", AnalyzerConfig("light10", True, 3), base),
        Recipe("6v light10v + c3 w=1.0", AnalyzerConfig("light10v", True, 3), base),
        Recipe("6v4 light10v from 4 letters + c3 w=1.0", AnalyzerConfig(_FROM_FOUR, True, 3), base),
        Recipe("7a light10 + c4 w=0.5", AnalyzerConfig("light10", True, 4), with_weight(0.5)),
        Recipe("7b light10 + c4 w=1.0", AnalyzerConfig("light10", True, 4), with_weight(1.0)),
        Recipe("7c light10 + c4 w=2.0", AnalyzerConfig("light10", True, 4), with_weight(2.0)),
        Recipe("8 snowball + c4 w=1.0", AnalyzerConfig("snowball", True, 4), with_weight(1.0)),
        Recipe("9 light10 + c5 w=1.0", AnalyzerConfig("light10", True, 5), with_weight(1.0)),
    ]


def bm25_variants(best: Recipe) -> list[Recipe]:
    """Recipe 10: the best recipe under other BM25 (k1, b)."""
    label = best.name.split(" ", 1)[1]
    return [
        Recipe(
            f"10 {label}, k1={k1} b={b}",
            best.config,
            LexicalParams(k1=k1, b=b, grams_weight=best.params.grams_weight),
            best.tokens,
        )
        for k1, b in ((0.9, 0.4), (1.2, 0.75), (1.5, 0.75))
    ]


def padded_grams(text: str, n: int = 4) -> list[str]:
    """Character n-grams of " word " (space-padded, so grams mark the word's start and end)."""
    grams: list[str] = []
    for token in tokenize(text):
        word = f" {token} "
        grams.extend(word[i : i + n] for i in range(max(len(word) - n, 0) + 1))
    return grams


def project_grams(text: str) -> list[str]:
    return char_ngrams(text, AnalyzerConfig("none", False, 4))


def scratch_check_recipes() -> list[tuple[str, Recipe]]:
    """The scratch check's analyzers (k1=0.9, b=0.4), each with its `analyzer` label there."""
    params = LexicalParams(k1=0.9, b=0.4, grams_weight=1.0)
    return [
        ("raw \\w+ tokens", Recipe("raw \\w+ tokens (bm25s)", None, params, word_tokens)),
        ("normalize", Recipe("normalized", AnalyzerConfig("none", False, 0), params)),
        ("normalize + light prefix/suffix stripping", Recipe("light10", AnalyzerConfig("light10", False, 0), params)),
        ("normalize + Snowball arabic", Recipe("snowball", AnalyzerConfig("snowball", False, 0), params)),
        ("normalize + char 4-grams", Recipe("char_ngrams(n=4) only (bm25s)", None, params, project_grams)),
        ("normalize + char 4-grams", Recipe("space-padded 4-grams only (bm25s)", None, params, padded_grams)),
    ]


# ---------------------------------------------------------------- report

Ranks = dict[tuple[str, str], np.ndarray]
"""(dataset name, recipe name) -> per-question ranks."""


def mean_mrr(ranks: Ranks, recipe: Recipe, datasets: Sequence[Dataset]) -> float:
    return float(np.mean([metrics(ranks[(d.name, recipe.name)])["MRR@10"] for d in datasets]))


def results_table(ranks: Ranks, recipes: Sequence[Recipe], datasets: Sequence[Dataset]) -> str:
    """Markdown table: one row per dataset and recipe, then the mean over the datasets."""
    columns = [f"R@{k}" for k in CUTOFFS] + ["MRR@10"]
    lines = ["| dataset | recipe | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for name in [d.name for d in datasets] + ["mean"]:
        for recipe in recipes:
            if name == "mean":
                per_set = [metrics(ranks[(d.name, recipe.name)]) for d in datasets]
                row = {c: float(np.mean([m[c] for m in per_set])) for c in columns}
            else:
                row = metrics(ranks[(name, recipe.name)])
            lines.append(f"| {name} | {recipe.name} | " + " | ".join(f"{row[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


def recipe_legend(recipes: Sequence[Recipe]) -> str:
    lines = [
        "| recipe | arabic_stemmer | remove_stopwords | char_ngram | k1 | b | grams_weight |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in recipes:
        if r.config is None:
            analyzer = f"bm25s on {r.tokens.__name__ if r.tokens else '?'} | - | -"
        else:
            analyzer = f"{r.config.arabic_stemmer} | {r.config.remove_stopwords} | {r.config.char_ngram}"
        weight = r.params.grams_weight if r.config is not None and r.config.char_ngram else "-"
        lines.append(f"| {r.name} | {analyzer} | {r.params.k1} | {r.params.b} | {weight} |")
    return "\n".join(lines)


def difference_table(ranks: Ranks, best: Recipe, recipes: Sequence[Recipe], datasets: Sequence[Dataset]) -> str:
    """Best minus each other recipe: mean MRR@10 difference with a 95% paired bootstrap interval."""
    lines = ["| recipe | best minus recipe, mean MRR@10 | 95% interval |", "|---|---:|---|"]
    best_ranks = [ranks[(d.name, best.name)] for d in datasets]
    for recipe in recipes:
        if recipe is best:
            continue
        point, low, high = bootstrap_difference(best_ranks, [ranks[(d.name, recipe.name)] for d in datasets])
        lines.append(f"| {recipe.name} | {point:+.4f} | [{low:+.4f}, {high:+.4f}] |")
    return "\n".join(lines)


def read_scratch_check(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """Rows of own_bm25_normalization_check.tsv keyed by (dataset, analyzer without its parenthesis)."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            key = (row["dataset"], row["analyzer"].split(" (")[0])
            rows[key] = {m: float(row[m]) for m in ("MRR@10", "R@1", "R@5", "R@20")}
    return rows


def scratch_check_table(datasets: Sequence[Dataset], anchors: dict[tuple[str, str], dict[str, float]]) -> str:
    """Our numbers next to the scratch check's, under its settings (cells: ours / scratch)."""
    columns = ("MRR@10", "R@1", "R@5", "R@20")
    lines = [
        "| dataset | scratch-check analyzer | our recipe | "
        + " | ".join(f"{c} ours / scratch" for c in columns)
        + " |",
        "|---|---|---|" + "---:|" * len(columns),
    ]
    for dataset in datasets:
        for label, recipe in scratch_check_recipes():
            ours = metrics(question_ranks(recipe, dataset), cutoffs=(1, 5, 20))
            theirs = anchors.get((dataset.name, label))
            cells = [f"{ours[c]:.3f} / " + (f"{theirs[c]:.3f}" if theirs else "n/a") for c in columns]
            lines.append(f"| {dataset.name} | {label} | {recipe.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_line() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    processor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return (
        f"Machine: {processor} {model}".rstrip()
        + f", {cpus} usable CPU cores (os.cpu_count()={os.cpu_count()}); Python {platform.python_version()}, "
        f"bm25s {version('bm25s')}, PyStemmer {version('PyStemmer')}, numpy {np.__version__}; "
        f"ANALYZER_VERSION {ANALYZER_VERSION}."
    )


# ---------------------------------------------------------------- main


def run(datasets: Sequence[Dataset]) -> tuple[Ranks, list[Recipe], Recipe]:
    """Evaluate recipes 1-9, then recipe 10 on the best of them; return ranks, recipes and the overall best."""
    ranks: Ranks = {}

    def evaluate_all(recipes: Sequence[Recipe]) -> None:
        for recipe in recipes:
            started = time.perf_counter()
            for dataset in datasets:
                ranks[(dataset.name, recipe.name)] = question_ranks(recipe, dataset)
            print(f"  {recipe.name}: {time.perf_counter() - started:.1f}s", file=sys.stderr)

    recipes = main_recipes()
    evaluate_all(recipes)
    best = max(recipes, key=lambda r: mean_mrr(ranks, r, datasets))
    variants = bm25_variants(best)
    evaluate_all(variants)
    recipes += variants
    overall = max(recipes, key=lambda r: mean_mrr(ranks, r, datasets))
    return ranks, recipes, overall


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--arcd", type=Path, default=EVAL_DIR / "arcd" / "arcd-test.json")
    parser.add_argument("--xquad", type=Path, default=EVAL_DIR / "xquad" / "xquad.ar.json")
    parser.add_argument("--arcd-full", type=Path, default=EVAL_DIR / "arcd" / "arcd.json", help="for the scratch check")
    parser.add_argument(
        "--anchors",
        type=Path,
        default=EVAL_DIR / "anchors" / "own_bm25_normalization_check.tsv",
        help="scratch check TSV",
    )
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    return parser.parse_args()


def report(ranks: Ranks, recipes: list[Recipe], best: Recipe, datasets: Sequence[Dataset]) -> list[str]:
    corpus = "; ".join(
        f"{d.name}: {len(d.paragraphs)} unique paragraphs, {len(d.questions)} questions" for d in datasets
    )
    return [
        machine_line(),
        "",
        f"Corpus: {corpus}.",
        "",
        results_table(ranks, recipes, datasets),
        "",
        "Recipes:",
        "",
        recipe_legend(recipes),
        "",
        (
            f"Best by mean MRR@10 over the two datasets: **{best.name}**, "
            f"mean MRR@10 {mean_mrr(ranks, best, datasets):.4f}: `{best.config!r}`, `{best.params!r}`."
        ),
        "",
        "Paired bootstrap over questions (2000 resamples, each dataset resampled separately, seed 0):",
        "",
        difference_table(ranks, best, recipes, datasets),
    ]


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    datasets = [load_squad(args.arcd, "arcd-test"), load_squad(args.xquad, "xquad.ar")]
    ranks, recipes, best = run(datasets)
    parts = report(ranks, recipes, best, datasets)
    if args.arcd_full.is_file() and args.anchors.is_file():
        check_sets = [load_squad(args.xquad, "xquad.ar"), load_squad(args.arcd_full, "arcd.json")]
        parts += [
            "",
            (
                "Scratch check (`own_bm25_normalization_check.tsv`, not published numbers), redone under its "
                "settings: BM25 k1=0.9 b=0.4, full arcd.json, no stopword removal, R@20. Cells are ours / scratch."
            ),
            "",
            scratch_check_table(check_sets, read_scratch_check(args.anchors)),
        ]
    parts += ["", f"Run time: {time.perf_counter() - started:.0f}s."]
    publish(parts, args.out)


if __name__ == "__main__":
    main()
