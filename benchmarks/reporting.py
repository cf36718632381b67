"""Shared by the benchmark scripts: rewriting the generated section of a results document."""

from __future__ import annotations

import sys
from pathlib import Path


def write_section(path: Path, section: str, marker: str = "results") -> None:
    """Replace the text between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` (append them when absent)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{section}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def publish(parts: list[str], out: Path | None, marker: str = "results") -> None:
    """Print the section made of `parts` (lines) and, with `out`, rewrite that document's generated section."""
    section = "\n".join(parts)
    print(section)
    if out:
        write_section(out, section, marker)
        print(f"wrote {out}", file=sys.stderr, flush=True)
