"""Crash and concurrency: a SIGKILLed ingest is repaired by the next one; two writers never overlap."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS
from tests.corpus import seed_sentences, write_articles
from tests.index_checks import assert_in_sync_in_fresh_process, ingest_command, wait_for

pytestmark = pytest.mark.slow


def run_ingest(docs: Path, index: Path, model: Path, *extra: str) -> dict[str, object]:
    result = subprocess.run(
        ingest_command(docs, index, model, "--json", *extra), capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def mutate(docs: Path, rng: random.Random, sentences: list[str], round_number: int) -> None:
    """Delete, modify and add a few files, so the next ingest has work of every kind."""
    files = sorted(docs.glob("*.txt"))
    for path in rng.sample(files, 4):
        path.unlink()
    for path in rng.sample([p for p in files if p.exists()], 4):
        path.write_text(path.read_text(encoding="utf-8") + f"\nتحديث رقم {round_number}.\n", encoding="utf-8")
    write_articles(docs, 6, sentences, seed=100 + round_number, prefix="added")


@pytest.mark.reliability(
    "ingest killed with SIGKILL at random moments (4 in the test run; 50 in docs/crash-recovery.md)"
)
def test_sigkill_at_random_moments_is_repaired_by_the_next_ingest(tmp_path: Path, tiny_model: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    sentences = seed_sentences(SEEDS)
    write_articles(docs, 120, sentences)
    run_ingest(docs, index, tiny_model)
    rng = random.Random(7)
    killed_mid_write = 0
    for round_number, delay in enumerate([0.05, 0.4, 1.0, 1.8]):
        mutate(docs, rng, sentences, round_number)
        process = subprocess.Popen(
            ingest_command(docs, index, tiny_model),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(index / ".pending", process)
        time.sleep(delay * rng.uniform(0.5, 1.5))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_mid_write += 1
        process.wait(timeout=60)
        report = run_ingest(docs, index, tiny_model)
        assert not (index / ".pending").exists()
        assert_in_sync_in_fresh_process(index, docs)
        again = run_ingest(docs, index, tiny_model)
        assert (again["added"], again["updated"], again["removed"], again["embedded"]) == ([], [], [], 0), report
    assert killed_mid_write >= 2, "the ingests finished before they could be killed: make the corpus larger"


@pytest.mark.reliability("two concurrent ingests on one index")
def test_a_second_writer_fails_clearly_or_waits_its_turn(tmp_path: Path, tiny_model: Path) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    write_articles(docs, 120, seed_sentences(SEEDS))
    first = subprocess.Popen(
        ingest_command(docs, index, tiny_model), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wait_for(index / ".pending", first)
    busy = subprocess.run(
        ingest_command(docs, index, tiny_model), capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert busy.returncode == 1
    assert "Another ingest" in busy.stderr and "--wait" in busy.stderr and "Traceback" not in busy.stderr
    waiting = subprocess.run(
        ingest_command(docs, index, tiny_model, "--wait", "300", "--json"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=320,
    )
    assert first.wait(timeout=300) == 0
    assert waiting.returncode == 0, waiting.stderr
    report = json.loads(waiting.stdout)
    assert len(report["unchanged"]) == 120 and report["embedded"] == 0  # it ran after the first, not beside it
    assert_in_sync_in_fresh_process(index, docs)
