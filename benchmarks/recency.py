"""Measure the latest-news preference: which questions get it, and whether it picks the newest copy of a story.

1. A labelled set of questions (below): latest-news questions in Arabic and English, and questions that must not
   be reordered by date, among them "آخر" in its other senses (another: "مكان آخر", "تسجيلاً آخر"; final:
   "آخر معاقل" is still the newest news) and English "last". Reported: precision and recall of `asks_for_latest`.
2. On a generated archive (tests/news_corpus.archive_rows, lexical index), each wire story with copies on different
   days asked three ways: its headline, "ما آخر أخبار <headline>؟" (latest), and "هل نشر <headline> في مكان آخر؟"
   (آخر meaning another). Reported: how often the article that represents the story (one per story) is its newest
   copy, and for the negative form whether the ranking equals the one recency-free retrieval gives.

Command (from the repository root; a minute on 2 cores):

    python benchmarks/recency.py --rows 600 --out docs/recency.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import machine_line, publish  # noqa: E402

from assistant import retrieval  # noqa: E402
from assistant.recency import asks_for_latest  # noqa: E402
from assistant.retrieval import Retriever  # noqa: E402
from assistant.settings import AssistantSettings  # noqa: E402
from ingest.sync import sync  # noqa: E402
from tests.news_corpus import archive_rows  # noqa: E402

QUESTIONS = [
    json.loads(line)
    for line in (REPO_ROOT / "tests" / "data" / "recency_questions.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]
"""The labelled set (tests/test_recency.py checks every row of it)."""
LATEST = [q["question"] for q in QUESTIONS if q["latest"]]
OTHER = [q["question"] for q in QUESTIONS if not q["latest"]]

Row = dict[str, Any]


def classification() -> tuple[list[str], list[str]]:
    found = [q for q in LATEST if asks_for_latest(q)]
    wrong = [q for q in OTHER if asks_for_latest(q)]
    precision = len(found) / (len(found) + len(wrong)) if found or wrong else 1.0
    lines = [
        f"Questions: {len(LATEST)} asking for the latest news, {len(OTHER)} that must not be reordered "
        f"(8 with آخر meaning another or last). `asks_for_latest`: precision {precision:.2f}, recall "
        f"{len(found) / len(LATEST):.2f}; missed {[q for q in LATEST if q not in found]}, wrongly taken {wrong}.",
        "",
    ]
    return lines, wrong


def archive_part(rows_count: int, seed: int) -> list[str]:
    rows = [dict(r) for r in archive_rows(rows_count, seed=seed)]
    by_story: dict[str, list[Row]] = {}
    for row in rows:
        by_story.setdefault(row["story"], []).append(row)
    stories = {s: m for s, m in by_story.items() if len({r["iso_date"] for r in m}) > 1}
    with tempfile.TemporaryDirectory(prefix="recency-bench-") as temp:
        root = Path(temp)
        docs = root / "docs"
        docs.mkdir()
        with open(docs / "archive.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({k: v for k, v in row.items() if k not in ("iso_date", "story")}) + "\n")
        settings = AssistantSettings.from_env(
            {}, docs_dir=docs, index_dir=root / "index", embedding_model=str(root / "no-model")
        )
        sync(settings.index)
        retriever = Retriever.open(settings)
        counts = {"plain": 0, "latest": 0, "other": 0}
        unchanged = 0
        try:
            for members in stories.values():
                newest = max(members, key=lambda r: r["iso_date"])["iso_date"]
                sources = {f"archive.jsonl#id={r['id']}" for r in members}
                original = next(r for r in members if r["id"] == r["story"])
                headline = original["headline"]
                asked = {
                    "plain": headline,
                    "latest": f"ما آخر أخبار {headline}؟",
                    "other": f"هل نشر {headline} في مكان آخر؟",
                }
                for name, question in asked.items():
                    passages = retriever.retrieve(question, 5).passages
                    top = next((p for p in passages if p.source in sources), None)
                    counts[name] += top is not None and (top.date or "")[:10] == newest
                with mock.patch.object(retrieval, "asks_for_latest", lambda _q: False):
                    free = [p.chunk_id for p in retriever.retrieve(asked["other"], 5).passages]
                unchanged += free == [p.chunk_id for p in retriever.retrieve(asked["other"], 5).passages]
        finally:
            retriever.close()
    total = len(stories)
    return [
        f"Archive: {len(rows)} generated articles (seed {seed}), lexical index; {total} wire stories whose copies "
        "are dated on different days (copies are 0-3 days after the original).",
        "",
        "| question | the story's representative is its newest copy |",
        "|---|---:|",
        f"| the headline | {counts['plain']}/{total} |",
        f"| ما آخر أخبار <headline>؟ (latest) | {counts['latest']}/{total} |",
        f"| هل نشر <headline> في مكان آخر؟ (آخر = another) | {counts['other']}/{total} |",
        "",
        "The آخر-as-another questions ranked exactly as with the recency preference switched off: "
        f"{unchanged}/{total}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines, _ = classification()
    lines += archive_part(args.rows, args.seed)
    lines += ["", machine_line("bm25s")]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
