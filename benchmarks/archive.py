"""A realistic news archive: ingest time, filter latency and wire-story grouping on a generated JSON Lines export.

The archive (tests/news_corpus.archive_rows): `--rows` articles whose paragraphs are built from the clauses of the
ARCD and XQuAD-ar paragraphs (/work/shared/eval or EVAL_DIR) and the seeds; each has an outlet among 8, a date in
2014-2020 written as archives write it (ISO, `23 آذار/مارس 2019`, Arabic-Indic digits, 23/03/2019), a URL and
sometimes a byline; 10% are wire copies of another row (another outlet, 0-3 days later, with a random half of the
realistic edits: changed headline, added byline/dateline, trimmed closing paragraphs, respellings, joined
paragraphs, an outlet footer). The truth of each copy (`story`) is kept out of the export.

Measured:
1. ingest of the first `--ingest-rows` rows with `--ingest-model` (default: the bundled model; its built copy is
   taken from --cache-dir / ASSISTANT_CACHE_DIR so it is not rebuilt), and of the same rows lexical only;
   the wire-story part of it (signatures + grouping) timed on its own;
2. on the whole archive indexed with `--full-model` (default: a tiny random sentence-transformer trained on the
   corpus, so that Chroma holds real vectors and `where` clauses while embedding 10,000 articles stays short on
   two cores; "lexical" for none): `Retriever.retrieve(q, k=5)` latency, p50/p95 over `--queries` questions, with
   no filter, `since`, `until`, an outlet, and all three;
3. grouping precision and recall of the pairs of articles put in one story, against the generated truth.

Command (from the repository root):

    python benchmarks/archive.py --rows 10000 --ingest-rows 1000 --cache-dir /path/to/cache --out docs/archive.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import load_line, machine_line, publish  # noqa: E402

from assistant.retrieval import Retriever  # noqa: E402
from assistant.settings import AssistantSettings  # noqa: E402
from ingest.catalog import Catalog  # noqa: E402
from ingest.filters import ArticleFilter  # noqa: E402
from ingest.layout import MANIFEST  # noqa: E402
from ingest.sync import sync  # noqa: E402
from ingest.wire import DEFAULT_PARAMS, group_stories, signature  # noqa: E402
from tests.news_corpus import EVAL_DIR, archive_rows, pairwise_quality  # noqa: E402

K = 5
HIDDEN = ("iso_date", "story")

Row = dict[str, Any]


def write_export(rows: list[Row], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: v for k, v in row.items() if k not in HIDDEN}, ensure_ascii=False) + "\n")


def settings_for(root: Path, docs: Path, model: str, cache: Path | None) -> AssistantSettings:
    values: dict[str, object] = {"docs_dir": docs, "index_dir": root / "index", "embedding_model": model}
    if cache is not None:
        values["cache_dir"] = cache
    return AssistantSettings.from_env({}, **values)


def timed_sync(settings: AssistantSettings) -> tuple[float, object]:
    started = time.perf_counter()
    report = sync(settings.index)
    return time.perf_counter() - started, report


def stories_cost(index_dir: Path) -> tuple[float, float, int]:
    """Seconds to sign every article and to group them (what ingest adds for wire stories)."""
    catalog = Catalog(index_dir / MANIFEST, readonly=True)
    try:
        sources = sorted(catalog.files())
        texts = list(catalog.texts(sources))
    finally:
        catalog.close()
    started = time.perf_counter()
    signatures = {source: signature(text, DEFAULT_PARAMS) for source, text in texts}
    signed = time.perf_counter() - started
    started = time.perf_counter()
    group_stories(signatures, DEFAULT_PARAMS)
    return signed, time.perf_counter() - started, len(texts)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--ingest-rows", type=int, default=1_000)
    parser.add_argument("--ingest-model", default="bundled")
    parser.add_argument("--full-model", default="tiny", help='"tiny", "lexical", or a model (preset, path)')
    cache = os.environ.get("ASSISTANT_CACHE_DIR")
    parser.add_argument("--cache-dir", type=Path, default=Path(cache) if cache else None)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--skip-ingest", action="store_true", help="measure only the whole archive (2 and 3)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--marker", default="results", help="the generated section of --out to rewrite")
    args = parser.parse_args()

    load_before = load_line()
    started = time.perf_counter()
    rows = [dict(r) for r in archive_rows(args.rows, seed=args.seed, eval_dir=EVAL_DIR)]
    generated = time.perf_counter() - started
    copies = sum(1 for r in rows if r["story"] != r["id"])
    chars = sum(len(r["body"]) for r in rows)
    print(
        f"generated {len(rows)} rows ({copies} wire copies, {chars / 1e6:.1f} M characters) in {generated:.1f} s",
        flush=True,
    )
    lines = [
        f"Archive: {len(rows)} articles in one JSON Lines export ({copies} wire copies, {chars / 1e6:.1f} M characters "
        f"of text, {len({r['site'] for r in rows})} outlets, 2014-2020), generated with seed {args.seed} in "
        f"{generated:.1f} s.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as temp:
        root = Path(temp)
        if not args.skip_ingest:
            lines += ingest_part(root, rows[: args.ingest_rows], args)
        lines += full_part(root, rows, args)
    lines += ["", machine_line("chromadb", "bm25s", "sentence-transformers", "torch"), f"Load: {load_before}"]
    publish(lines, args.out, args.marker)


def ingest_part(root: Path, rows: list[Row], args: argparse.Namespace) -> list[str]:
    lines = [
        f"### Ingest of {len(rows)} articles",
        "",
        "| index | model | chunks | seconds | articles/s |",
        "|---|---|---:|---:|---:|",
    ]
    for name, model in (("dense + lexical", args.ingest_model), ("lexical only", str(root / "no-model"))):
        part = root / f"ingest-{'dense' if model == args.ingest_model else 'lexical'}"
        docs = part / "docs"
        docs.mkdir(parents=True)
        write_export(rows, docs / "archive.jsonl")
        settings = settings_for(part, docs, model, args.cache_dir)
        seconds, report = timed_sync(settings)
        assert not report.skipped, report.skipped[:3]  # type: ignore[attr-defined]
        shown = model if model == args.ingest_model else "none"
        lines.append(f"| {name} | {shown} | {report.chunks} | {seconds:.1f} | {len(rows) / seconds:.1f} |")  # type: ignore[attr-defined]
        print(lines[-1], flush=True)
        if model != args.ingest_model:
            signed, grouped, count = stories_cost(settings.index.index_dir)
            lines += [
                "",
                f"Wire stories' share of it: signatures {signed:.2f} s for {count} articles "
                f"({1000 * signed / count:.2f} ms each), grouping {grouped:.2f} s.",
                "",
            ]
    return lines


def full_part(root: Path, rows: list[Row], args: argparse.Namespace) -> list[str]:
    part = root / "full"
    docs = part / "docs"
    docs.mkdir(parents=True)
    write_export(rows, docs / "archive.jsonl")
    model = args.full_model
    if model == "tiny":
        from tests.tiny_models import build_sentence_transformer

        corpus = [r["body"] for r in rows[:2000]]
        model = str(build_sentence_transformer(part / "tiny-st", corpus))
        shown = "a tiny random sentence-transformer (tests/tiny_models.py, trained on 2,000 of the bodies)"
    elif model == "lexical":
        model, shown = str(part / "no-model"), "none (lexical only)"
    else:
        shown = model
    settings = settings_for(part, docs, model, args.cache_dir)
    seconds, report = timed_sync(settings)
    print(f"full archive indexed in {seconds:.1f} s ({report.chunks} chunks)", flush=True)  # type: ignore[attr-defined]
    lines = [
        f"### The whole archive ({len(rows)} articles, {report.chunks} chunks)",  # type: ignore[attr-defined]
        "",
        f"Indexed with the embedding model {shown} in {seconds:.0f} s (dense: {report.dense}).",  # type: ignore[attr-defined]
        "",
    ]
    lines += latency_part(settings, rows, args)
    lines += grouping_part(settings, rows)
    return lines


def latency_part(settings: AssistantSettings, rows: list[Row], args: argparse.Namespace) -> list[str]:
    rng = random.Random(args.seed)
    questions = [r["headline"] for r in rng.sample(rows, args.queries)]
    outlet = rows[0]["site"]
    filters = {
        "none": ArticleFilter(),
        "since 2019-01-01": ArticleFilter.of(since="2019-01-01"),
        "until 2015-12-31": ArticleFilter.of(until="2015-12-31"),
        f"outlet {outlet}": ArticleFilter.of(outlets=[outlet]),
        f"2017 and {outlet}": ArticleFilter.of(since="2017-01-01", until="2017-12-31", outlets=[outlet]),
    }
    allowed = {name: sum(1 for r in rows if f.allows("", _day(r), r["site"])) for name, f in filters.items()}
    retriever = Retriever.open(settings)
    lines = [
        f"Filter latency: `Retriever.retrieve(q, k={K}, scope=filter)` over {args.queries} headlines as questions "
        "(question embedding, Chroma with its `where`, the lexical engine with its mask, fusion, passage lookup), "
        "after one warm-up question per filter.",
        "",
        "| filter | articles allowed | p50 ms | p95 ms | questions with k passages |",
        "|---|---:|---:|---:|---:|",
    ]
    try:
        for name, scope in filters.items():
            retriever.retrieve(questions[0], K, scope=scope)
            times = []
            full = 0
            for question in questions:
                started = time.perf_counter()
                found = retriever.retrieve(question, K, scope=scope)
                times.append(1000 * (time.perf_counter() - started))
                assert all(scope.empty or _passage_allowed(retriever, p.source, scope) for p in found.passages)
                full += len(found.passages) == K
            lines.append(
                f"| {name} | {allowed[name]} | {statistics.median(times):.0f} | {percentile(times, 0.95):.0f} | "
                f"{full}/{len(questions)} |"
            )
            print(lines[-1], flush=True)
    finally:
        retriever.close()
    return [*lines, ""]


def _day(row: Row) -> int:
    from ingest.dates import date_key

    key = date_key(row["iso_date"])
    assert key is not None
    return key


def _passage_allowed(retriever: Retriever, source: str, scope: ArticleFilter) -> bool:
    from ingest.dates import date_key

    article = retriever.article(source)
    assert article is not None
    return scope.allows("", date_key(article.meta.date), article.meta.outlet)


def grouping_part(settings: AssistantSettings, rows: list[Row]) -> list[str]:
    catalog = Catalog(settings.index.index_dir / MANIFEST, readonly=True)
    try:
        sources = sorted(catalog.files())
        predicted = catalog.stories(sources)
    finally:
        catalog.close()
    truth = {f"archive.jsonl#id={r['id']}": r["story"] for r in rows}
    missing = set(truth) - set(sources)
    precision, recall = pairwise_quality(truth, predicted)
    return [
        f"Wire-story grouping at ingest, pairs of articles put in one story vs the generated truth: precision "
        f"{precision:.4f}, recall {recall:.4f} ({len(set(predicted.values()))} stories found with "
        f"{len(predicted)} articles; {len(missing)} rows not indexed).",
    ]


if __name__ == "__main__":
    main()
