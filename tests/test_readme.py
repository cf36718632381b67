"""The README's CLI reference is generated from the parser, so it cannot drift.

Regenerate it with `python -m tests.test_readme`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from assistant.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- cli:start -->", "<!-- cli:end -->"


def cli_reference() -> str:
    """`--help` of every command, as Markdown code blocks."""
    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    blocks = []
    for name, sub in subparsers.choices.items():
        blocks.append(f"`assistant {name} --help`\n\n```\n{sub.format_help().rstrip()}\n```")
    return "\n\n".join(blocks)


def test_readme_cli_reference_matches_the_parser() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(re.escape(START) + r"\n(.*)\n" + re.escape(END), text, re.S)
    assert match, "README.md lacks the CLI reference markers"
    assert match.group(1) == cli_reference(), "README CLI reference is stale: run `python -m tests.test_readme`"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    head = text[: text.index("## ", text.index("## ") + 1)]
    assert "assistant chat" in head
    assert "bash .ci/run" in head


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    README.write_text(f"{before}{START}\n{cli_reference()}\n{END}{after}", encoding="utf-8")


def test_readme_python_example_runs(
    lexical_seed_index: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.settings import AssistantSettings

    assert isinstance(lexical_seed_index, AssistantSettings)
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(lexical_seed_index.index.index_dir))
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", lexical_seed_index.index.embedding_model)
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "README.md lacks its Python example"
    exec(compile(code.group(1), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "بحسب الوثائق" in out and "003_0262f053a42b4a37.txt" in out
