"""Measure wire-story grouping: precision and recall of the pairs of articles put in one story, and its cost.

The measured set (tests/news_corpus.py, `measured_set`): every ARCD article (paragraphs merged by title), both halves
of every XQuAD-ar article (two same-subject stories) and the five seeds, once each; 40% of them get 1 to 4 wire
copies, each with a random half of the edits (changed headline, added byline/dateline, trimmed closing paragraphs
keeping >= 60% of the text, a few words changed, hamza/ة/ى/harakat/tatweel respellings, other punctuation and quote
marks, two paragraphs joined, an outlet footer); 60 roundups reuse a background paragraph or quote (<= 25%) of one
story amid >= 70% text of their own. Each of `--sets` sets is drawn with another seed.

Every variant: shingle size x LSH bands/rows x containment threshold (ingest/wire.py), and two baselines: exact
text hashes (what ingest already does for identical files), and datasketch's MinHashLSH at Jaccard 0.5 (the usual
near-duplicate recipe, which a trimmed copy falls below). Pairwise precision/recall over all sets (mean, and the
worst set), milliseconds per article for the signature, and for grouping a whole set.

Command (from the repository root; about a minute on 2 cores):

    python benchmarks/wire_stories.py --sets 5 --out docs/wire-stories.md
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import load_line, machine_line, publish  # noqa: E402

from ingest.wire import DEFAULT_PARAMS, Signature, WireParams, group_stories, signature  # noqa: E402
from tests.news_corpus import Doc, measured_set, pairwise_quality, public_stories, seed_stories  # noqa: E402


@dataclass
class Outcome:
    name: str
    precision: list[float]
    recall: list[float]
    signature_ms: float
    group_ms: float


def truth_of(docs: list[Doc]) -> dict[str, str]:
    """Story of every article that has a copy."""
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc.story] = counts.get(doc.story, 0) + 1
    return {d.name: d.story for d in docs if counts[d.story] > 1}


def pair_set(groups: dict[str, str]) -> set[tuple[str, str]]:
    members: dict[str, list[str]] = {}
    for name, group in groups.items():
        members.setdefault(group, []).append(name)
    return {(a, b) for names in members.values() for a in names for b in names if a < b}


def exact_groups(docs: list[Doc]) -> dict[str, str]:
    by_hash: dict[str, list[str]] = {}
    for doc in docs:
        by_hash.setdefault(hashlib.sha256(doc.text.encode()).hexdigest(), []).append(doc.name)
    return {n: names[0] for names in by_hash.values() if len(names) > 1 for n in names}


def jaccard_lsh_groups(docs: list[Doc], sigs: dict[str, Signature], threshold: float) -> dict[str, str]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=DEFAULT_PARAMS.permutations)
    hashes = {
        n: MinHash(num_perm=DEFAULT_PARAMS.permutations, hashvalues=s.values, scheme="affine32")
        for n, s in sigs.items()
    }
    for name, minhash in hashes.items():
        lsh.insert(name, minhash)
    parent = {d.name: d.name for d in docs}

    def find(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for name, minhash in hashes.items():
        for other in lsh.query(minhash):
            if other != name and minhash.jaccard(hashes[other]) >= threshold:
                a, b = sorted((find(name), find(other)))
                parent[b] = a
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    return {n: sorted(m)[0] for m in groups.values() if len(m) > 1 for n in m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5, help="measured sets, each drawn with another seed")
    parser.add_argument("--out", type=Path, help="rewrite the results section of this Markdown file")
    args = parser.parse_args()

    stories = public_stories() + seed_stories()
    sets = [measured_set(stories, seed=13 + n) for n in range(args.sets)]
    variants = [
        WireParams(shingle=s, bands=b, rows=r, containment=c)
        for s in (5, 7, 9)
        for b, r in ((32, 4), (42, 3), (64, 2))
        for c in (0.5, 0.6, 0.7)
    ]
    outcomes: list[Outcome] = []
    signatures: dict[int, list[dict[str, Signature]]] = {}
    signature_ms: dict[int, float] = {}
    for shingle in (5, 7, 9):
        params = replace(DEFAULT_PARAMS, shingle=shingle)
        started = time.process_time()
        signatures[shingle] = [{d.name: signature(d.text, params) for d in docs} for docs in sets]
        signature_ms[shingle] = (time.process_time() - started) * 1000 / sum(len(d) for d in sets)
    for params in variants:
        outcome = Outcome(_name(params), [], [], signature_ms[params.shingle], 0.0)
        for docs, sigs in zip(sets, signatures[params.shingle], strict=True):
            started = time.process_time()
            predicted = group_stories(sigs, params)
            outcome.group_ms += (time.process_time() - started) * 1000 / len(sets)
            precision, recall = pairwise_quality(truth_of(docs), predicted)
            outcome.precision.append(precision)
            outcome.recall.append(recall)
        outcomes.append(outcome)
        print(f"{outcome.name}: P {min(outcome.precision):.3f} R {min(outcome.recall):.3f}", file=sys.stderr)
    exact = Outcome("exact text hash", [], [], 0.0, 0.0)
    jaccard = Outcome("datasketch MinHashLSH, Jaccard >= 0.5 (7-char shingles)", [], [], signature_ms[7], 0.0)
    for docs, sigs in zip(sets, signatures[7], strict=True):
        for outcome, predicted in ((exact, exact_groups(docs)), (jaccard, jaccard_lsh_groups(docs, sigs, 0.5))):
            precision, recall = pairwise_quality(truth_of(docs), predicted)
            outcome.precision.append(precision)
            outcome.recall.append(recall)
    baselines = [exact, jaccard]

    chosen = _name(DEFAULT_PARAMS)
    articles = [len(d) for d in sets]
    copies = [sum(1 for x in d if "-copy" in x.name) for d in sets]
    pairs = [
        len({(a, b) for a in truth_of(d) for b in truth_of(d) if a < b and truth_of(d)[a] == truth_of(d)[b]})
        for d in sets
    ]
    lines = [
        f"{args.sets} measured sets of {min(articles)}-{max(articles)} articles ({min(copies)}-{max(copies)} wire "
        f"copies, {min(pairs)}-{max(pairs)} same-story pairs, 60 roundups each), from {len(stories)} stories. "
        f"{machine_line('datasketch', 'numpy')} During the run: {load_line()}.",
        "",
        "Precision and recall are over pairs of articles put in one story: mean over the sets, and the worst set in "
        "brackets. Signature: CPU milliseconds per article; grouping: CPU milliseconds per set.",
        "",
        "| variant | precision | recall | signature ms/article | grouping ms/set |",
        "|---|---|---|---|---|",
    ]
    for outcome in baselines + outcomes:
        mark = " **(chosen)**" if outcome.name == chosen else ""
        lines.append(
            f"| {outcome.name}{mark} | {_mean(outcome.precision):.3f} ({min(outcome.precision):.3f}) | "
            f"{_mean(outcome.recall):.3f} ({min(outcome.recall):.3f}) | {outcome.signature_ms:.2f} | "
            f"{outcome.group_ms:.0f} |"
        )
    lines += ["", "Command: `python benchmarks/wire_stories.py " + " ".join(sys.argv[1:]) + "`"]
    publish(lines, args.out)


def _name(params: WireParams) -> str:
    return f"{params.shingle}-char shingles, {params.bands}x{params.rows} bands, containment >= {params.containment}"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


if __name__ == "__main__":
    main()
