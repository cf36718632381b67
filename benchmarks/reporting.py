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


def machine_line(*packages: str) -> str:
    """The machine and the versions of `packages`, for a results table's caption."""
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            continue
    return (
        f"Machine: {platform.machine()} {model}".rstrip()
        + f", {cpus} usable CPU cores, {memory:.0f} GiB RAM, {platform.system()} {platform.release()}; "
        + ", ".join([f"Python {platform.python_version()}", *versions])
        + "."
    )


def load_line() -> str:
    """How busy the machine was (other work shares it)."""
    import os

    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"
