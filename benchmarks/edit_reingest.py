"""Re-ingesting edited articles with the bundled multilingual model: what taking sentence vectors saves.

Ingest embeds each new chunk and, on its own, each distinct sentence of it (the answerer's sentence vectors).
When an article is edited, its changed chunks are embedded again, but a sentence it already had keeps the
vector stored for it in the manifest (`_Sync._known_sentences`). This measures that on real Arabic articles:
ARCD-test paragraphs grouped by their Wikipedia article (`--articles` of them, one file each), indexed once
with the bundled multilingual-e5-small; then `--edited` articles are edited in one of two ways, on a copy of
that index, and ingested again:

* `append`: a paragraph of an article outside the corpus added at the end (a news story updated);
* `correct`: one word inserted in the middle of the article (a correction).

Each edit runs twice, `taken` (as ingest does) and `embedded` (sentence vectors taken from nowhere: every
sentence of a changed chunk embedded again, as before), and the table gives the chunks and sentences
embedded, the sentences taken, the sync's wall time and its time inside the model.

    HF_HUB_OFFLINE=1 python benchmarks/edit_reingest.py --articles 40 --edited 10 --workdir /tmp/edit-reingest
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from timed_embedder import TimedEmbedder  # noqa: E402

from assistant.evaluation import read_squad  # noqa: E402
from ingest.embedding import SentenceTransformerEmbedder  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from ingest.sync import _Sync, sync  # noqa: E402

ARCD_TEST = ROOT.parent / "shared" / "eval" / "arcd" / "arcd-test.json"
EDITS = ("append", "correct")


def articles(path: Path, count: int) -> tuple[list[str], list[str]]:
    """`count` articles (the paragraphs of one title each, in order), and paragraphs of the titles after them."""
    squad = read_squad(path)
    by_title: dict[str, list[str]] = {}
    for title, paragraph in zip(squad.titles, squad.paragraphs, strict=True):
        by_title.setdefault(title, []).append(paragraph)
    titles = list(by_title)
    if len(titles) <= count:
        raise SystemExit(f"{path.name} has {len(titles)} articles; ask for fewer than that with --articles")
    return ["\n\n".join(by_title[t]) for t in titles[:count]], [p for t in titles[count:] for p in by_title[t]]


def edit(text: str, kind: str, extra: str) -> str:
    if kind == "append":
        return f"{text}\n\n{extra}\n"
    middle = text.index(" ", len(text) // 2)
    return f"{text[:middle]} أيضًا{text[middle:]}"


def run(settings: Settings, embedder: SentenceTransformerEmbedder, take: bool) -> dict[str, Any]:
    timed = TimedEmbedder(embedder)
    original: Callable[..., Any] = _Sync._known_sentences
    if not take:
        _Sync._known_sentences = lambda self, old, new: {}  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        report = sync(settings, embedder_factory=lambda _s: timed)
        seconds = time.perf_counter() - started
    finally:
        _Sync._known_sentences = original  # type: ignore[method-assign]
    return {
        "updated": len(report.updated),
        "chunks": report.embedded,
        "sentences": timed.sentences,
        "taken": report.sentences_reused,
        "seconds": seconds,
        "encoding": timed.embed_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=40, help="ARCD-test articles indexed")
    parser.add_argument("--edited", type=int, default=10, help="articles edited in each run")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch directory (replaced)")
    parser.add_argument("--arcd", type=Path, default=ARCD_TEST, help="ARCD-test (SQuAD JSON)")
    options = parser.parse_args(argv)
    if not 0 < options.edited <= options.articles:
        parser.error(f"--edited must be between 1 and --articles ({options.articles}), not {options.edited}")
    if not options.arcd.is_file():
        parser.error(f"{options.arcd} does not exist (the ARCD-test file of ../shared/eval)")
    texts, extras = articles(options.arcd, options.articles)
    shutil.rmtree(options.workdir, ignore_errors=True)
    base = options.workdir / "base"
    (base / "docs").mkdir(parents=True)
    for number, text in enumerate(texts):
        (base / "docs" / f"article_{number:03d}.txt").write_text(text + "\n", encoding="utf-8")
    embedder = SentenceTransformerEmbedder("bundled", device="cpu")

    def settings_of(folder: Path) -> Settings:
        return Settings.from_env({}, docs_dir=folder / "docs", index_dir=folder / "index", embedding_model="bundled")

    started = time.perf_counter()
    first = sync(settings_of(base), embedder_factory=lambda _s: embedder)
    print(
        f"indexed {len(first.added)} articles, {first.chunks} chunks, in {time.perf_counter() - started:.1f} s "
        f"(model {embedder.model_id})"
    )
    step = max(1, options.articles // options.edited)
    chosen = list(range(0, options.articles, step))[: options.edited]
    print(
        "\n| edit | sentence vectors | articles updated | chunks embedded | sentences embedded | sentences taken "
        "| sync (s) | of it encoding (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind in EDITS:
        for take in (True, False):
            folder = options.workdir / f"{kind}-{'taken' if take else 'embedded'}"
            shutil.copytree(base, folder)
            for n, number in enumerate(chosen):
                path = folder / "docs" / f"article_{number:03d}.txt"
                path.write_text(edit(texts[number], kind, extras[n % len(extras)]), encoding="utf-8")
            r = run(settings_of(folder), embedder, take)
            print(
                f"| {kind} | {'taken' if take else 'embedded'} | {r['updated']} | {r['chunks']} | {r['sentences']} | "
                f"{r['taken']} | {r['seconds']:.1f} | {r['encoding']:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
