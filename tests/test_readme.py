"""The README's CLI reference and settings table are generated from the code, so they cannot drift.

Regenerate them with `python -m tests.test_readme`.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from assistant.cli import build_parser
from assistant.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
GENERATED = {"cli": lambda: cli_reference(), "settings": settings_table}


def cli_reference() -> str:
    """`--help` of every command, as Markdown code blocks."""
    os.environ["COLUMNS"] = "100"
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    blocks = []
    for name, sub in subparsers.choices.items():
        blocks.append(f"`assistant {name} --help`\n\n```\n{sub.format_help().rstrip()}\n```")
    return "\n\n".join(blocks)


def generated_section(text: str, name: str) -> str | None:
    """The text between `<!-- name:start -->` and `<!-- name:end -->`."""
    match = re.search(re.escape(f"<!-- {name}:start -->") + r"\n(.*)\n" + re.escape(f"<!-- {name}:end -->"), text, re.S)
    return match.group(1) if match else None


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_readme_generated_sections_match_the_code(name: str) -> None:
    section = generated_section(README.read_text(encoding="utf-8"), name)
    assert section is not None, f"README.md lacks the {name} markers"
    assert section == GENERATED[name](), f"README {name} section is stale: run `python -m tests.test_readme`"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    head = text[: text.index("## ", text.index("## ") + 1)]
    assert "assistant chat" in head
    assert "bash .ci/run" in head


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    for name, make in GENERATED.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = f"{before}{start}\n{make()}\n{end}{after}"
    README.write_text(text, encoding="utf-8")


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
