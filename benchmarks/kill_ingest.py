"""SIGKILL an ingest at random moments, again and again, and check that the next ingest repairs the index.

    python benchmarks/kill_ingest.py --rounds 50 --files 200 --out docs/crash-recovery.md

Each round changes the corpus (deletes, edits and adds a few files), starts `assistant ingest` in a
subprocess, kills it with SIGKILL at a random moment after it began writing, runs `assistant ingest`
again, and checks in a fresh process that the manifest lists exactly the folder's files and that
Chroma and the BM25 index hold exactly the manifest's chunks, and spot-checks stored article text
against the files. Uses a tiny locally built sentence-transformer (speed is not the point here).
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

from ingest.catalog import Catalog  # noqa: E402
from ingest.cleaning import clean_text  # noqa: E402
from ingest.indexing import MANIFEST  # noqa: E402
from tests.corpus import seed_sentences, write_articles  # noqa: E402
from tests.index_checks import check_in_fresh_process, ingest_command  # noqa: E402
from tests.tiny_models import build_sentence_transformer  # noqa: E402

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def mutate(docs: Path, rng: random.Random, sentences: list[str], round_number: int) -> None:
    files = sorted(docs.glob("*.txt"))
    for path in rng.sample(files, 3):
        path.unlink()
    for path in rng.sample([p for p in files if p.exists()], 3):
        path.write_text(path.read_text(encoding="utf-8") + f"\nتحديث {round_number}.\n", encoding="utf-8")
    write_articles(docs, 3, sentences, seed=1000 + round_number, prefix="round")


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
    sentences = seed_sentences(ROOT / "seeds")
    model = build_sentence_transformer(
        work / "model", [(ROOT / "seeds" / p.name).read_text() for p in (ROOT / "seeds").glob("*.txt")]
    )
    docs, index = work / "docs", work / "index"
    write_articles(docs, args.files, sentences)
    started = time.monotonic()
    subprocess.run([*ingest_command(docs, index, model), "--json"], env=ENV, cwd=ROOT, check=True, capture_output=True)
    first = time.monotonic() - started
    rows = []
    for round_number in range(1, args.rounds + 1):
        mutate(docs, rng, sentences, round_number)
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
        check = check_in_fresh_process(index, docs, ENV, timeout=None)
        files = len(list(docs.glob("*.txt")))
        ok = repair.returncode == 0 and check.returncode == 0 and report.get("documents") == files
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
        f"Corpus: {args.files} synthetic Arabic articles built from the seed sentences (about 3 chunks each), "
        f"changed every round (3 deleted, 3 edited, 3 added); first full ingest {first:.1f} s.",
        "",
        f"**{held} of {len(rows)} rounds ended with the index exactly matching the folder** (manifest = files; "
        "Chroma ids = BM25 ids = manifest chunks; 5 stored articles per round compared with their files). "
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
