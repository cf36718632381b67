"""The README's CLI reference is generated from the parser, so it cannot drift.

Regenerate it with `python -m tests.test_readme`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

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
