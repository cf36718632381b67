"""SIGKILL an ingest at random moments, again and again, and check that the next ingest repairs the index.

    python benchmarks/kill_ingest.py --rounds 50 --files 200 --out docs/crash-recovery.md

Each round changes the corpus (deletes, edits and adds a few files), starts `assistant ingest` in a
subprocess, kills it with SIGKILL at a random moment after it began writing, runs `assistant ingest`
again, and checks in fresh processes what a user can check: `assistant status` verifies every part
(manifest read whole, lexical files against their checksums, Chroma's files and its count against
the manifest), another `assistant ingest` finds nothing to change (the manifest lists exactly the
folder's files), and five stored articles equal their files. The articles are synthetic Arabic text
(benchmarks/scale_corpus.py, three chunks each); the model is a tiny random sentence-transformer
(speed is not the point here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scale_corpus import article_body, changed_texts, chunk_texts  # noqa: E402

from ingest.catalog import Catalog  # noqa: E402
from ingest.cleaning import clean_text  # noqa: E402
from ingest.layout import MANIFEST  # noqa: E402
from ingest.random_models import build_sentence_transformer  # noqa: E402

ARTICLE_CHUNKS = 3

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def write_articles(docs: Path, first: int, count: int, prefix: str = "article") -> None:
    """Articles `first` .. `first + count - 1`, three synthetic chunks each."""
    docs.mkdir(parents=True, exist_ok=True)
    for number in range(first, first + count):
        start = number * ARTICLE_CHUNKS
        text = article_body(chunk_texts(start, start + ARTICLE_CHUNKS))
        (docs / f"{prefix}-{number:05d}.txt").write_text(text + "\n", encoding="utf-8")


def mutate(docs: Path, rng: random.Random, files: int, round_number: int) -> None:
    existing = sorted(docs.glob("*.txt"))
    for path in rng.sample(existing, 3):
        path.unlink()
    for path in rng.sample([p for p in existing if p.exists()], 3):
        edit = changed_texts(round_number * 10 + rng.randrange(10))[0]
        path.write_text(path.read_text(encoding="utf-8") + f"\n{edit}\n", encoding="utf-8")
    write_articles(docs, files + 3 * round_number, 3, prefix="round")


def ingest_command(docs: Path, index: Path, model: Path, *extra: str) -> list[str]:
    """`assistant ingest DOCS --index INDEX --model MODEL [extra...]` in this interpreter."""
    return [
        sys.executable,
        "-m",
        "assistant",
        "ingest",
        str(docs),
        "--index",
        str(index),
        "--model",
        str(model),
        *extra,
    ]


def verified(docs: Path, index: Path, model: Path) -> bool:
    """In fresh processes: `assistant status` finds nothing wrong and another ingest nothing to change."""
    status = subprocess.run(
        [sys.executable, "-m", "assistant", "status", "--index", str(index), "--json"],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if status.returncode != 0 or not json.loads(status.stdout)["healthy"]:
        print(status.stdout + status.stderr, file=sys.stderr)
        return False
    again = subprocess.run(
        [*ingest_command(docs, index, model), "--json"], env=ENV, cwd=ROOT, capture_output=True, text=True
    )
    if again.returncode != 0:
        return False
    report = json.loads(again.stdout)
    return not (report["added"] or report["updated"] or report["removed"] or report["repaired"]) and same_ids(index)


def same_ids(index: Path) -> bool:
    """The manifest's chunk ids are exactly Chroma's and the live lexical generation's."""
    from ingest.chroma_store import ChromaStore
    from ingest.layout import IndexLayout, read_state
    from ingest.tantivy_lexical import TantivyLexicalIndex, read_record

    layout = IndexLayout(index)
    catalog = Catalog(layout.manifest, readonly=True)
    try:
        chunks = set(catalog.chunk_ids())
    finally:
        catalog.close()
    store = ChromaStore.open(layout.chroma, create=False)
    try:
        dense = set(store.ids())
    finally:
        store.close()
    state = read_state(layout)
    if state is None:
        return False
    lexical = TantivyLexicalIndex.open(layout.lexical, read_record(layout.lexical, state.lexical))
    return chunks == dense == set(lexical.ids())


def spot_check(index: Path, docs: Path, rng: random.Random) -> bool:
    catalog = Catalog(index / MANIFEST, readonly=True)
    try:
        sources = sorted(catalog.files())
        for source in rng.sample(sources, min(5, len(sources))):
            article = catalog.article(source)
            if article is None or article.text != clean_text((docs / source).read_text(encoding="utf-8")):
                return False
        return True
    finally:
        catalog.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results to this Markdown file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-ingest-"))
    model = build_sentence_transformer(work / "model", chunk_texts(0, 3_000))
    docs, index = work / "docs", work / "index"
    write_articles(docs, 0, args.files)
    started = time.monotonic()
    subprocess.run([*ingest_command(docs, index, model), "--json"], env=ENV, cwd=ROOT, check=True, capture_output=True)
    first = time.monotonic() - started
    rows = []
    for round_number in range(1, args.rounds + 1):
        mutate(docs, rng, args.files, round_number)
        process = subprocess.Popen(
            ingest_command(docs, index, model), env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while not (index / ".pending").exists() and process.poll() is None:
            time.sleep(0.005)
        delay = rng.uniform(0.0, 3.0)
        time.sleep(delay)
        killed = process.poll() is None
        if killed:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        repair = subprocess.run(
            [*ingest_command(docs, index, model), "--json"], env=ENV, cwd=ROOT, capture_output=True, text=True
        )
        report = json.loads(repair.stdout) if repair.returncode == 0 else {}
        files = len(list(docs.glob("*.txt")))
        ok = repair.returncode == 0 and report.get("documents") == files and verified(docs, index, model)
        spot = ok and spot_check(index, docs, rng)
        rows.append(
            (round_number, delay, killed, bool(report.get("repaired")), files, report.get("chunks", 0), ok, spot)
        )
        print(
            f"round {round_number:2d}: delay {delay:.2f} s, killed {killed}, in sync {ok}, contents {spot}", flush=True
        )
    held = sum(1 for r in rows if r[6] and r[7])
    lines = [
        "# Crash recovery: SIGKILL at random moments",
        "",
        "```",
        f"python benchmarks/kill_ingest.py --rounds {args.rounds} --files {args.files} --seed {args.seed}"
        + (f" --out {args.out}" if args.out else ""),
        "```",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Corpus: {args.files} synthetic Arabic articles of 3 chunks each (benchmarks/scale_corpus.py), "
        f"changed every round (3 deleted, 3 edited, 3 added); first full ingest {first:.1f} s.",
        "",
        f"**{held} of {len(rows)} rounds ended with the index exactly matching the folder** (`assistant status` "
        "verified every part and found Chroma and the lexical index holding exactly the manifest's chunks; a "
        "further ingest found nothing to change; 5 stored articles per round equal their files). "
        f"{sum(1 for r in rows if r[2])} ingests were killed mid-write; the others had finished before the kill.",
        "",
        "| round | kill after (s) | killed | stray vectors found by the repair | files | chunks | in sync | contents |",
        "|---:|---:|---|---|---:|---:|---|---|",
        *(
            f"| {r[0]} | {r[1]:.2f} | {'yes' if r[2] else 'finished first'} | {'yes' if r[3] else 'no'} | {r[4]} | "
            f"{r[5]} | {'yes' if r[6] else 'NO'} | {'yes' if r[7] else 'NO'} |"
            for r in rows
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if held == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
