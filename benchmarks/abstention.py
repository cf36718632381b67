"""Choose the extractive answerer's abstention thresholds by measurement, for each question language.

The extractive answerer (assistant/extractive.py) answers with the best sentences of the retrieved
passages, or abstains when the top-scored sentence is not close enough to the question:
  same language   answer when its similarity to the question reaches SAME_LANGUAGE_FLOOR and either
                  its coverage (share of the question's words and character 3-grams found in it)
                  reaches ABSTAIN_BELOW, or its similarity reaches SAME_LANGUAGE_SIMILARITY and its
                  passage's latent-term score reaches SAME_LANGUAGE_TERMS; for an Arabic question with
                  retrieval's Closeness, also its same-language lift (similarity + SAME_LANGUAGE_BEST x best
                  - SAME_LANGUAGE_BACKGROUND x background) reaches SAME_LANGUAGE_LIFT
  across languages (an English question over Arabic text: words cannot match) answer when the
                  coverage reaches ABSTAIN_BELOW, or the similarity reaches CROSS_LANGUAGE_SIMILARITY and
                  the passage's latent-term score reaches CROSS_LANGUAGE_TERMS (with a Closeness: the lift,
                  CROSS_LANGUAGE_LIFT)
The similarities come from the passage vectors of the bundled multilingual-e5-small, the latent-term
scores from its sparse head (the dot product of the question's and the passage's terms, as retrieval
computes it).

Calibration pools (SQuAD-format Wikipedia sets, one .txt per unique paragraph, indexed by sync()):
  answerable    ARCD-test questions on the ARCD-test index; XQuAD-ar questions on the XQuAD index;
                XQuAD English questions on the (Arabic) XQuAD index
  unanswerable  each set's questions on the other set's index (different articles; Genghis Khan and
                the Mongol empire appear in both, so a few of them are answerable after all)
Rule, per language: the thresholds with the highest F1 of abstaining (the positive class) among those
that keep at least 90% of every answerable pool of that language; ties go to the lower thresholds.

Held-out check on news (the five seed articles, tests/data/): answerable seed questions, off-topic
questions, and near-miss questions (on the articles' topics, the fact absent), per language.

Command (from the repository root, with the project virtualenv; about 15 minutes on 2 cores once the
indexes are cached by benchmarks/retrieval_quality.py or benchmarks/fusion.py; `--reuse-pools` then
tries other thresholds on the saved measurements in seconds):

    python benchmarks/abstention.py --out docs/abstention.md

When no threshold keeps 90% of a language's answerable questions, the rule says so and keeps the
current constant.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import publish
from retrieval_quality import DEFAULT_WORK_DIR, EVAL_DIR, build_index, load_squad, machine_lines

from assistant import extractive
from assistant.alignment import aligner
from assistant.evaluation import comparable, read_squad
from assistant.extractive import NEVER, Lift, ScoredSentence, score_sentences
from assistant.records import Closeness
from assistant.retrieval import Retriever
from assistant.settings import AssistantSettings
from ingest import bundled_model
from ingest.analysis import Language, detect_language
from ingest.sync import sync

REPO_ROOT = Path(__file__).resolve().parent.parent
K = 5
MIN_KEPT = 0.90
COVERAGES = tuple(round(0.20 + 0.05 * i, 2) for i in range(9))
SIMILARITIES = tuple(round(0.70 + 0.01 * i, 2) for i in range(26))
TERMS = tuple(float(t) for t in range(0, 32, 2))
"""Latent-term score thresholds tried (0: no requirement)."""
LIFT_BEST = tuple(0.25 * i for i in range(13))
LIFT_BACKGROUND = tuple(0.25 * i for i in range(17))
LIFT_TERMS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
LIFT_ALIGNMENT = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
"""Lift weights tried (extractive.Lift); each weighting gets the highest threshold that keeps MIN_KEPT."""
GATE_BEST = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
GATE_BACKGROUND = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
"""Weights of the Arabic same-language lift (extractive.SAME_LANGUAGE_LIFT; the latent terms weigh 0: on the
saved pools a terms weight of 0.1 to 0.4 abstained no more)."""


@dataclass(frozen=True)
class Item:
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Pool:
    """Questions asked against one index, with the answerer's top-scored sentence for each."""

    name: str
    language: Language
    answerable: bool
    coverage: np.ndarray
    similarity: np.ndarray
    cross: np.ndarray
    """True where the top-scored sentence is in another language than the question."""
    contains: np.ndarray
    """True where the top-scored sentence holds the gold answer."""
    latent: np.ndarray
    """Latent-term score of the top-scored sentence's passage (inf where the passage has none)."""
    named: np.ndarray | None = None
    """The best `named` coverage among all the sentences (extractive.rescued); None in pools saved before it."""
    best: np.ndarray | None = None
    """Retrieval's Closeness.best (nan where retrieval gave none); None in pools saved before it."""
    background: np.ndarray | None = None
    """Retrieval's Closeness.background (nan where retrieval gave none); None in pools saved before it."""
    alignment: np.ndarray | None = None
    """The top sentence's token alignment with the question (assistant/alignment.py), across languages where
    retrieval gave a Closeness (nan elsewhere); None in pools saved before it."""


def squad_items(path: Path) -> dict[str, Item]:
    """Question id -> question and gold answers, read as `assistant eval` reads a SQuAD file."""
    return {q.id: Item(q.question, q.answers) for q in read_squad(path).questions}


def top_sentence(question: str, retriever: Retriever) -> tuple[ScoredSentence | None, float, Closeness | None]:
    """The top-scored sentence, the best coverage by names among all (what may rescue an abstention), and
    retrieval's Closeness."""
    retrieval = retriever.retrieve(question, K)
    scored = score_sentences(question, retrieval.passages, retriever.embedder)
    if not scored:
        return None, 0.0, retrieval.closeness
    return max(scored, key=lambda s: s.score), max(s.named for s in scored), retrieval.closeness


def alignment_of(question: str, sentence: str, retriever: Retriever) -> float:
    """The sentence's token alignment with the question, as extract_answer measures it (nan: none)."""
    align = aligner(retriever.embedder, question)
    return np.nan if align is None else align(sentence)


def measure(name: str, answerable: bool, items: Sequence[Item], retriever: Retriever) -> Pool:
    started = time.perf_counter()
    language = detect_language(items[0].question)
    rows = []
    for item in items:
        best, named, closeness = top_sentence(item.question, retriever)
        near = (closeness.best, closeness.background) if closeness is not None else (np.nan, np.nan)
        if best is None:
            rows.append((0.0, 0.0, False, False, 0.0, 0.0, *near, np.nan))
            continue
        holds = any(comparable(a) in comparable(best.text) for a in item.answers if a.strip())
        latent = np.inf if best.latent is None else best.latent
        cross = detect_language(best.text) != language
        aligned = alignment_of(item.question, best.text, retriever) if cross and closeness is not None else np.nan
        rows.append((best.coverage, best.similarity or 0.0, cross, holds, latent, named, *near, aligned))
    print(f"  {name}: {len(rows)} questions, {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return Pool(
        name,
        language,
        answerable,
        np.array([r[0] for r in rows], dtype=float),
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=bool),
        np.array([r[3] for r in rows], dtype=bool),
        np.array([r[4] for r in rows], dtype=float),
        np.array([r[5] for r in rows], dtype=float),
        np.array([r[6] for r in rows], dtype=float),
        np.array([r[7] for r in rows], dtype=float),
        np.array([r[8] for r in rows], dtype=float),
    )


Thresholds = tuple[float, float, float, float, float, float]
"""ABSTAIN_BELOW, SAME_LANGUAGE_SIMILARITY, CROSS_LANGUAGE_SIMILARITY, SAME_LANGUAGE_FLOOR, SAME_LANGUAGE_TERMS,
CROSS_LANGUAGE_TERMS."""


def answered(pool: Pool, *t: float, lift: Lift | None = None, gate: Lift | None = None) -> np.ndarray:
    """What the answerer's rule keeps (does not abstain on) at these thresholds (a Thresholds), with the
    lift rule across languages and, for an Arabic pool, the same-language lift `gate`, where the pool has
    retrieval's Closeness (extractive.is_relevant)."""
    coverage, same, cross, floor, same_terms, cross_terms = t
    same_language = (pool.similarity >= floor) & (
        (pool.coverage >= coverage) | ((pool.similarity >= same) & (pool.latent >= same_terms))
    )
    gated = gate_of(pool, gate)
    if gated is not None and gate is not None:
        same_language &= np.isnan(gated) | (gated >= gate.threshold)
    meaning = (pool.similarity >= cross) & (pool.latent >= cross_terms)
    lifted = lift_of(pool, lift)
    if lifted is not None and lift is not None:
        meaning = np.where(np.isnan(lifted), meaning, lifted >= lift.threshold)
    across = (pool.coverage >= coverage) | meaning
    kept = np.where(pool.cross, across, same_language)
    return kept if pool.named is None else kept | (pool.named >= coverage)  # extractive.rescued


@dataclass(frozen=True)
class Outcome:
    precision: float
    recall: float
    f1: float
    kept: dict[str, float]


def outcome(pools: Sequence[Pool], *t: float, lift: Lift | None = None, gate: Lift | None = None) -> Outcome:
    kept = {p.name: float(np.mean(answered(p, *t, lift=lift, gate=gate))) for p in pools if p.answerable}
    abstained_bad = sum(int(np.sum(~answered(p, *t, lift=lift, gate=gate))) for p in pools if not p.answerable)
    abstained_good = sum(int(np.sum(~answered(p, *t, lift=lift, gate=gate))) for p in pools if p.answerable)
    unanswerable = sum(len(p.coverage) for p in pools if not p.answerable)
    precision = abstained_bad / (abstained_bad + abstained_good) if abstained_bad + abstained_good else 0.0
    recall = abstained_bad / unanswerable if unanswerable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Outcome(precision, recall, f1, kept)


def choose(pools: Sequence[Pool], grid: Sequence[Thresholds]) -> Thresholds | None:
    outcomes = {t: outcome(pools, *t) for t in grid}
    allowed = [t for t in grid if min(outcomes[t].kept.values()) >= MIN_KEPT]
    if not allowed:
        return None
    return max(allowed, key=lambda t: (outcomes[t].f1, [-x for x in t]))


def lift_of(pool: Pool, lift: Lift | None) -> np.ndarray | None:
    """Each question's lift (nan where the answerer would not use it: no Closeness, or no alignment when the
    lift weighs it); None when the pool has no Closeness at all."""
    if lift is None or pool.best is None or pool.background is None:
        return None
    latent = np.where(np.isfinite(pool.latent), pool.latent, 0.0)
    alignment = pool.alignment if pool.alignment is not None else np.full(len(pool.best), np.nan)
    if not lift.alignment:
        alignment = np.where(np.isnan(pool.best), np.nan, 0.0)
    return lift.score(pool.similarity, pool.best, pool.background, latent, alignment)


def lift_threshold(pools: Sequence[Pool], t: Thresholds, weights: tuple[float, float, float, float]) -> Lift:
    """The lift with these weights (best, background, terms, alignment) and the highest threshold (to 0.001)
    that keeps MIN_KEPT of every answerable pool, the other ways of answering (words, names, questions
    without a lift) counted first."""
    best, background, terms, alignment = weights
    threshold = np.inf
    for pool in pools:
        lifted = lift_of(pool, Lift(best, background, terms, np.inf, alignment))
        if not pool.answerable or lifted is None:
            continue
        base = answered(pool, *t, lift=Lift(best, background, terms, np.inf, alignment))
        open_rows = pool.cross & ~np.isnan(lifted) & ~base
        needed = int(np.ceil(MIN_KEPT * len(base) - 1e-9)) - int(base.sum())
        if needed <= 0:
            continue
        ranked = np.sort(lifted[open_rows])[::-1]
        if needed > len(ranked):
            return Lift(best, background, terms, -np.inf, alignment)
        threshold = min(threshold, float(np.floor(ranked[needed - 1] * 1000) / 1000))
    return Lift(best, background, terms, threshold, alignment)


def choose_lift(pools: Sequence[Pool], t: Thresholds) -> Lift | None:
    """The weighting with the highest F1, each at its highest threshold that keeps MIN_KEPT; ties go to the
    lower weights."""
    grid = itertools.product(LIFT_BEST, LIFT_BACKGROUND, LIFT_TERMS, LIFT_ALIGNMENT)
    lifts = [lift for lift in (lift_threshold(pools, t, w) for w in grid) if np.isfinite(lift.threshold)]
    if not lifts:
        return None
    return max(lifts, key=lambda lift: (outcome(pools, *t, lift=lift).f1, [-x for x in weights_of(lift)]))


def gate_of(pool: Pool, gate: Lift | None) -> np.ndarray | None:
    """Each question's same-language lift (nan where the answerer would not use it: an English question,
    no Closeness); None when the pool has no Closeness at all."""
    if gate is None or pool.best is None or pool.background is None:
        return None
    if pool.language != "ar":
        return np.full(len(pool.best), np.nan)
    return gate.score(pool.similarity, pool.best, pool.background, np.zeros(len(pool.best)), np.zeros(len(pool.best)))


def gate_threshold(pools: Sequence[Pool], t: Thresholds, weights: tuple[float, float]) -> Lift:
    """The same-language lift with these weights (best, background) and the highest threshold (to 0.001)
    that keeps MIN_KEPT of every answerable pool (inf: no pool needs it; -inf: none keeps MIN_KEPT)."""
    threshold = np.inf
    for pool in pools:
        gated = gate_of(pool, Lift(*weights, 0.0, np.inf))
        if not pool.answerable or gated is None:
            continue
        ungated = answered(pool, *t)
        open_rows = ungated & ~np.isnan(gated) & ~answered(pool, *t, gate=Lift(*weights, 0.0, np.inf))
        needed = int(np.ceil(MIN_KEPT * len(ungated) - 1e-9)) - int((ungated & ~open_rows).sum())
        if needed <= 0:
            continue
        ranked = np.sort(gated[open_rows])[::-1]
        if needed > len(ranked):
            return Lift(*weights, 0.0, -np.inf)
        threshold = min(threshold, float(np.floor(ranked[needed - 1] * 1000) / 1000))
    return Lift(*weights, 0.0, threshold)


def choose_gate(pools: Sequence[Pool], t: Thresholds) -> Lift | None:
    """The weighting with the highest F1, each at its highest threshold that keeps MIN_KEPT; ties go to the
    lower weights."""
    gates = [gate_threshold(pools, t, w) for w in itertools.product(GATE_BEST, GATE_BACKGROUND)]
    gates = [g for g in gates if np.isfinite(g.threshold)]
    if not gates:
        return None
    return max(gates, key=lambda g: (outcome(pools, *t, gate=g).f1, -g.best, -g.background))


def held_apart(
    pools: Sequence[Pool],
    fit: Callable[[list[Pool]], Lift | None],
    measure: Callable[[list[Pool], Lift], Outcome],
    shown: Callable[[Lift], Sequence[float]],
) -> list[str]:
    """A lift fitted on one half of the pools and measured on the other, both ways round, as report lines."""
    checks = []
    for train, test in (halves(pools), halves(pools)[::-1]):
        lift = fit(train)
        if lift is not None:
            o = measure(test, lift)
            checks.append(
                f"weights {' / '.join(f'{w:g}' for w in shown(lift))}, threshold {lift.threshold:.3f}: "
                f"abstain recall {o.recall:.3f}, kept {min(o.kept.values()):.3f}"
            )
    return checks


def weights_of(lift: Lift) -> tuple[float, float, float, float]:
    return lift.best, lift.background, lift.terms, lift.alignment


def halves(pools: Sequence[Pool]) -> tuple[list[Pool], list[Pool]]:
    """Each pool cut in two by question order (the sets list their questions article by article)."""

    def cut(pool: Pool, first: bool) -> Pool:
        n = len(pool.coverage)
        mask = (np.arange(n) < n // 2) == first
        fields = {
            f.name: getattr(pool, f.name)[mask]
            for f in dataclasses.fields(pool)
            if isinstance(getattr(pool, f.name), np.ndarray)
        }
        return dataclasses.replace(pool, **fields)

    return [cut(p, True) for p in pools], [cut(p, False) for p in pools]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", default="bundled", help="embedding model (default: the bundled e5-small)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the indexes are cached")
    parser.add_argument("--limit", type=int, default=0, help="at most this many questions per pool (0: all)")
    parser.add_argument("--out", type=Path, help="Markdown file whose results section is rewritten")
    parser.add_argument(
        "--reuse-pools",
        action="store_true",
        help="reuse the measured sentences of the last run (work dir) to try thresholds; stale after any change "
        "to retrieval or scoring",
    )
    return parser.parse_args()


def measured_pools(args: argparse.Namespace) -> tuple[list[Pool], list[Pool]]:
    """The calibration and seed pools, measured now (and saved) or, with --reuse-pools, read back."""
    saved = args.work_dir / f"abstention-pools-{Path(args.model).name}.pkl"
    if args.reuse_pools and saved.exists():
        with saved.open("rb") as handle:
            pools: tuple[list[Pool], list[Pool]] = pickle.load(handle)
        return pools
    pools = (squad_pools(args), seed_pools(args))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    with saved.open("wb") as handle:
        pickle.dump(pools, handle)
    return pools


def squad_pools(args: argparse.Namespace) -> list[Pool]:
    arcd_path, xquad_path = EVAL_DIR / "arcd" / "arcd-test.json", EVAL_DIR / "xquad" / "xquad.ar.json"
    arcd, _ = load_squad(arcd_path, "arcd-test")
    xquad, _ = load_squad(xquad_path, "xquad.ar")
    retrievers = {}
    for corpus in (arcd, xquad):
        retrievers[corpus.name] = Retriever.open(build_index(corpus, args.model, args.work_dir, k=K).settings)
    limit = args.limit or None
    arcd_items = list(squad_items(arcd_path).values())[:limit]
    xquad_ar = squad_items(xquad_path)
    xquad_en = squad_items(EVAL_DIR / "xquad" / "xquad.en.json")
    xquad_items = list(xquad_ar.values())[:limit]
    english = [Item(xquad_en[i].question, xquad_ar[i].answers) for i in xquad_ar if i in xquad_en][:limit]
    plan = [
        ("arcd-test ar -> arcd-test", True, arcd_items, "arcd-test"),
        ("xquad ar -> xquad", True, xquad_items, "xquad.ar"),
        ("xquad ar -> arcd-test", False, xquad_items, "arcd-test"),
        ("arcd-test ar -> xquad", False, arcd_items, "xquad.ar"),
        ("xquad en -> xquad", True, english, "xquad.ar"),
        ("xquad en -> arcd-test", False, english, "arcd-test"),
    ]
    pools = [measure(name, ok, items, retrievers[index]) for name, ok, items, index in plan]
    for retriever in retrievers.values():
        retriever.close()
    return pools


def seed_pools(args: argparse.Namespace) -> list[Pool]:
    data = REPO_ROOT / "tests" / "data"
    questions = [json.loads(line) for line in (data / "seed_questions.jsonl").read_text("utf-8").splitlines()]
    others = [json.loads(line) for line in (data / "seed_unanswerable.jsonl").read_text("utf-8").splitlines()]
    work = Path(tempfile.mkdtemp(prefix="seed-abstention-"))
    try:
        shutil.copytree(REPO_ROOT / "seeds", work / "docs")
        settings = AssistantSettings.from_env(
            {}, docs_dir=work / "docs", index_dir=work / "index", embedding_model=args.model, k=K
        )
        sync(settings.index)
        retriever = Retriever.open(settings)
        pools = []
        for language in ("ar", "en"):
            items = [Item(q["question"], tuple(q["answers"])) for q in questions if q["language"] == language]
            pools.append(measure(f"seed questions {language}", True, items, retriever))
            for kind in ("off-topic", "near-miss"):
                chosen = [Item(o["question"], ()) for o in others if o["language"] == language and o["kind"] == kind]
                pools.append(measure(f"seed {kind} {language}", False, chosen, retriever))
        retriever.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return pools


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    calibration, seeds = measured_pools(args)
    current: Thresholds = (
        extractive.ABSTAIN_BELOW,
        extractive.SAME_LANGUAGE_SIMILARITY,
        extractive.CROSS_LANGUAGE_SIMILARITY,
        extractive.SAME_LANGUAGE_FLOOR,
        extractive.SAME_LANGUAGE_TERMS,
        extractive.CROSS_LANGUAGE_TERMS,
    )
    arabic = [p for p in calibration if p.language == "ar"]
    english = [p for p in calibration if p.language == "en"]
    floors = (0.0, *SIMILARITIES)
    arabic_grid: list[Thresholds] = [
        (c, s, NEVER, f, t, 0.0)
        for c, s, f, t in itertools.product(COVERAGES, (*SIMILARITIES, NEVER), floors, TERMS)
        if f < s
    ]
    chosen_ar = choose(arabic, arabic_grid)
    coverage = chosen_ar[0] if chosen_ar else current[0]
    english_grid: list[Thresholds] = [(coverage, NEVER, s, 0.0, 0.0, t) for s in SIMILARITIES for t in TERMS]
    chosen_en = choose(english, english_grid)
    chosen: Thresholds = (
        coverage,
        chosen_ar[1] if chosen_ar else current[1],
        chosen_en[2] if chosen_en else current[2],
        chosen_ar[3] if chosen_ar else current[3],
        chosen_ar[4] if chosen_ar else current[4],
        chosen_en[5] if chosen_en else current[5],
    )
    english_t: Thresholds = (coverage, NEVER, chosen[2], 0.0, 0.0, chosen[5])
    chosen_lift = choose_lift(english, english_t)
    calibrated = extractive.CALIBRATED[bundled_model.SHA256]
    current_lift, current_gate = calibrated.lift, calibrated.same_lift
    arabic_t: Thresholds = (coverage, chosen[1], NEVER, chosen[3], chosen[4], 0.0)
    chosen_gate = choose_gate(arabic, arabic_t)
    gate_checks = held_apart(
        arabic,
        lambda pools: choose_gate(pools, arabic_t),
        lambda pools, gate: outcome(pools, *arabic_t, gate=gate),
        lambda gate: (gate.best, gate.background),
    )
    cross_checks = held_apart(
        english,
        lambda pools: choose_lift(pools, english_t),
        lambda pools, lift: outcome(pools, *english_t, lift=lift),
        weights_of,
    )
    shown_ar: list[Thresholds] = [
        (c, s, NEVER, f, t, 0.0)
        for c in COVERAGES
        for s in (chosen[1], NEVER)
        for f in (0.0, chosen[3])
        for t in (0.0, chosen[4])
        if f < s
    ]
    shown_en = [g for g in english_grid if g[5] in (0.0, chosen[5])]
    lines = [
        *machine_lines(args.model),
        "",
        f"Retrieval: `Retriever.retrieve(q, k={K})`; the measure is the answerer's top-scored sentence.",
        "",
        "### Arabic questions (same language as the passages): coverage and similarity thresholds",
        "",
        *grid_table(arabic, list(dict.fromkeys(shown_ar))),
        "",
        f"Chosen by the rule (searched over every combination; the table shows a slice): ABSTAIN_BELOW "
        f"{coverage}, SAME_LANGUAGE_SIMILARITY {_shown(chosen[1])}, SAME_LANGUAGE_FLOOR {chosen[3]:.2f}, "
        f"SAME_LANGUAGE_TERMS {chosen[4]:.0f}"
        + ("." if chosen_ar else f" (no thresholds keep {MIN_KEPT:.0%}: the current constants stay)."),
        "",
        "### Arabic questions: the same-language lift (meaning against the background level)",
        "",
        *gate_table(arabic, arabic_t, chosen_gate),
        "",
        chosen_weighting(
            "GATE_BEST x GATE_BACKGROUND",
            gate_constants(chosen_gate) if chosen_gate is not None else None,
            ", the thresholds above fixed",
        ),
        "",
        "Held apart, as for the English lift below (weights and threshold chosen on one half of each Arabic pool, "
        "measured on the other half): " + "; ".join(gate_checks) + ".",
        "",
        "### English questions over Arabic passages: similarity threshold",
        "",
        *grid_table(english, shown_en),
        "",
        f"Chosen by the rule: CROSS_LANGUAGE_SIMILARITY {_shown(chosen[2])}, CROSS_LANGUAGE_TERMS {chosen[5]:.0f}"
        + ("." if chosen_en else f" (no threshold keeps {MIN_KEPT:.0%}: the current constant stays).")
        + " This rule applies when retrieval gives no Closeness; with one, the lift below decides.",
        "",
        "### English questions over Arabic passages: the lift (meaning against the background level)",
        "",
        *lift_table(english, english_t, chosen_lift),
        "",
        chosen_weighting(
            "LIFT_BEST x LIFT_BACKGROUND x LIFT_TERMS x LIFT_ALIGNMENT",
            lift_constants(chosen_lift) if chosen_lift is not None else None,
        ),
        "",
        "Held apart: weights and threshold chosen on one half of the XQuAD questions (the first or the second "
        "half of the file, i.e. different articles) and measured on the other half: " + "; ".join(cross_checks) + ".",
        "",
        "### The chosen thresholds and the current constants on every pool, news seeds included",
        "",
        "| pool | answerable | questions | answered at the chosen thresholds | at the current constants | "
        "top sentence holds the answer |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for pool in [*calibration, *seeds]:
        now = np.mean(answered(pool, *chosen, lift=chosen_lift or current_lift, gate=chosen_gate or current_gate))
        before = np.mean(answered(pool, *current, lift=current_lift, gate=current_gate))
        holds = f"{np.mean(pool.contains):.3f}" if pool.answerable else "-"
        lines.append(
            f"| {pool.name} | {'yes' if pool.answerable else 'no'} | {len(pool.coverage)} | {now:.3f} | "
            f"{before:.3f} | {holds} |"
        )
    lines += [
        "",
        f"Current constants in assistant/extractive.py: ABSTAIN_BELOW {current[0]}, SAME_LANGUAGE_SIMILARITY "
        f"{_shown(current[1])}, CROSS_LANGUAGE_SIMILARITY {_shown(current[2])}, SAME_LANGUAGE_FLOOR "
        f"{current[3]:.2f}, SAME_LANGUAGE_TERMS {current[4]:.0f}, CROSS_LANGUAGE_TERMS {current[5]:.0f}"
        + (f", {lift_constants(current_lift)}" if current_lift is not None else "")
        + (f", {gate_constants(current_gate)}." if current_gate is not None else "."),
        "",
        "### Distributions of the top-scored sentence",
        "",
        "| pool | coverage p10 / p50 / p90 | similarity p10 / p50 / p90 | latent terms p10 / p50 / p90 |",
        "|---|---|---|---|",
        *(
            f"| {p.name} | {_quantiles(p.coverage)} | {_quantiles(p.similarity)} | {_quantiles(p.latent, 1)} |"
            for p in [*calibration, *seeds]
        ),
        "",
        f"Run time: {time.perf_counter() - started:.0f}s.",
    ]
    publish(lines, args.out)


def grid_table(pools: Sequence[Pool], grid: Sequence[Thresholds]) -> list[str]:
    answerable = [p.name for p in pools if p.answerable]
    lines = [
        "| coverage | same-language similarity | cross-language similarity | same-language floor | same-language "
        "terms | cross-language terms | abstain precision | abstain recall | F1 | "
        + " | ".join(f"kept ({name})" for name in answerable)
        + " |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(answerable),
    ]
    for thresholds in grid:
        o = outcome(pools, *thresholds)
        cells = [_shown(t) for t in thresholds[:3]] + [f"{thresholds[3]:.2f}"]
        cells += [f"{thresholds[4]:.0f}", f"{thresholds[5]:.0f}"]
        cells += [f"{o.precision:.3f}", f"{o.recall:.3f}", f"{o.f1:.3f}"]
        cells += [f"{o.kept[name]:.3f}" for name in answerable]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def lift_table(pools: Sequence[Pool], t: Thresholds, chosen: Lift | None) -> list[str]:
    """Each weighting of a slice around the chosen one (each weight at 0 or its chosen value), at its
    highest threshold that keeps MIN_KEPT."""
    answerable = [p.name for p in pools if p.answerable]
    lines = [
        "| best weight | background weight | terms weight | alignment weight | threshold | abstain precision | "
        "abstain recall | F1 | " + " | ".join(f"kept ({name})" for name in answerable) + " |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(answerable),
    ]
    chosen_weights = weights_of(chosen) if chosen is not None else (1.0, 1.0, 0.0, 0.0)
    for b, g, w, a in itertools.product(*(dict.fromkeys((0.0, weight)) for weight in chosen_weights)):
        weights = (b, g, w, a)
        lift = lift_threshold(pools, t, weights)
        o = outcome(pools, *t, lift=lift)
        cells = [*(f"{w:g}" for w in weights), f"{lift.threshold:.3f}", f"{o.precision:.3f}", f"{o.recall:.3f}"]
        cells += [f"{o.f1:.3f}", *(f"{o.kept[name]:.3f}" for name in answerable)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def gate_table(pools: Sequence[Pool], t: Thresholds, chosen: Lift | None) -> list[str]:
    """Each weighting of the Arabic same-language lift at its highest threshold that keeps MIN_KEPT."""
    names = [p.name for p in pools if p.answerable]
    lines = [
        "| best weight | background weight | threshold | abstain precision | abstain recall | "
        + " | ".join(f"kept: {n}" for n in names)
        + " |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    for weights in itertools.product(GATE_BEST, GATE_BACKGROUND):
        gate = gate_threshold(pools, t, weights)
        if not np.isfinite(gate.threshold):
            continue
        o = outcome(pools, *t, gate=gate)
        mark = (
            " (chosen)"
            if chosen is not None and (gate.best, gate.background) == (chosen.best, chosen.background)
            else ""
        )
        cells = [f"{gate.best:g}{mark}", f"{gate.background:g}", f"{gate.threshold:.3f}", f"{o.precision:.3f}"]
        lines.append("| " + " | ".join([*cells, f"{o.recall:.3f}", *(f"{o.kept[n]:.3f}" for n in names)]) + " |")
    return lines


def gate_constants(gate: Lift) -> str:
    """The same-language lift as assistant/extractive.py's constants."""
    return (
        f"SAME_LANGUAGE_BEST {gate.best:g}, SAME_LANGUAGE_BACKGROUND {gate.background:g}, "
        f"SAME_LANGUAGE_LIFT {gate.threshold:.3f}"
    )


def lift_constants(lift: Lift) -> str:
    """The lift as assistant/extractive.py's constants."""
    return (
        f"CROSS_LANGUAGE_BEST {lift.best:g}, CROSS_LANGUAGE_BACKGROUND {lift.background:g}, "
        f"CROSS_LANGUAGE_TERMS_WEIGHT {lift.terms:g}, CROSS_LANGUAGE_ALIGNMENT {lift.alignment:g}, "
        f"CROSS_LANGUAGE_LIFT {lift.threshold:.3f}"
    )


def chosen_weighting(grid: str, constants: str | None, fixed: str = "") -> str:
    """The report's sentence on a lift chosen from the `grid` of weightings (None: none kept enough)."""
    if constants is None:
        return f"No weighting keeps {MIN_KEPT:.0%}: the current constants stay."
    return (
        f"Chosen by the rule (every weighting of {grid}, each at its highest threshold that keeps {MIN_KEPT:.0%}"
        f"{fixed}): {constants}."
    )


def _shown(threshold: float) -> str:
    return "off" if threshold >= NEVER else f"{threshold:.2f}"


def _quantiles(values: np.ndarray, digits: int = 2) -> str:
    finite = values[np.isfinite(values)]
    return " / ".join(f"{q:.{digits}f}" for q in np.percentile(finite, [10, 50, 90])) if len(finite) else "-"


if __name__ == "__main__":
    main()
