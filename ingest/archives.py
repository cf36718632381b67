"""Archive exports: one article a row, in JSON Lines (.jsonl, .ndjson) or CSV (.csv, .tsv).

A file is read as a stream, one row at a time, so its size does not bound memory (only the longest
row does, at most MAX_ROW_BYTES). Columns are found by their usual names (title/headline,
text/body/content/article, date/published/published_at, url/link, outlet/source/site, author, id);
`--fields text=body,date=pubdate` names them when they are called something else (in JSON Lines a
dotted name reaches into nested objects: `author=byline.name`).

Each row is one document with a stable identity within its file: its id, else its URL, else the hash of
its content. A row that cannot be read (broken JSON, no text, not UTF-8, a repeated id) is reported
with its line and the reason, and the others are indexed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ingest.loading import SkipFile
from ingest.metadata import FIELD_NAMES, FIELD_SPEC_NAMES, FIELDS, find_fields, metadata_from_mapping
from ingest.records import Metadata

ARCHIVE_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv")
MAX_ROW_BYTES = 20 * 1024 * 1024
"""A longer row (JSON line or CSV record) is skipped: no article is that long."""
ROW_SEPARATOR = "#"
"""A row's document name is `<file>#<identity>`, e.g. `exports/2019.jsonl#id=4711`."""
_HTML = re.compile(r"</?(?:p|div|br|span|a|h[1-6]|article|section|strong|em|li|ul|figure)\b[^>]*>", re.IGNORECASE)
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    """One article of an archive file."""

    key: str
    """Its identity in the file: `id=...`, else `url=...`, else `sha=<first 16 hex of its content hash>`."""
    line: int
    """The line it starts on (1-based)."""
    hash: str
    """SHA-256 of what is indexed of it (text and metadata): a row whose hash changed is re-indexed."""
    text: str
    meta: Metadata = field(default_factory=Metadata)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that was not indexed, and why."""

    line: int
    reason: str


def parse_field_spec(spec: str) -> dict[str, str]:
    """`text=body,date=pubdate` as {"text": "body", "date": "pubdate"}; raises ValueError saying what is allowed."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not column or name not in FIELD_SPEC_NAMES:
            raise ValueError(
                f"--fields takes FIELD=COLUMN pairs separated by commas, FIELD one of {', '.join(FIELD_SPEC_NAMES)} "
                f"(e.g. text=body,date=pubdate), not {part!r}"
            )
        if name in mapping:
            raise ValueError(f"--fields names {name} twice ({name}={mapping[name]} and {part}); give each field once")
        mapping[name] = column
    return mapping


def row_source(file_source: str, key: str) -> str:
    """The document name of a row."""
    return f"{file_source}{ROW_SEPARATOR}{key}"


def read_rows(path: Path, fields: Mapping[str, str] | None = None) -> Iterator[Row | BadRow]:
    """Every row of the archive at `path`, in order, as a Row or a BadRow; raises SkipFile when the whole file fails."""
    overrides = dict(fields or {})
    with open(path, "rb") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _unique(_json_rows(handle, overrides))
        else:
            yield from _unique(_csv_rows(handle, overrides, tab=path.suffix.lower() == ".tsv"))


def describe_fields(fields: Mapping[str, str]) -> str:
    """The columns used, for messages: "text=body, date=pubdate"."""
    return ", ".join(f"{k}={v}" for k, v in fields.items())


# -- JSON Lines -----------------------------------------------------------------------------------------------------
def _json_rows(handle: IO[bytes], overrides: Mapping[str, str]) -> Iterator[Row | BadRow]:
    """Rows of a JSON Lines file; when its first object has no text field, the whole file is refused (one message,
    not one per row)."""
    first = True
    for number, data in _lines(handle):
        if isinstance(data, BadRow):
            yield data
            continue
        if not data.strip():
            continue
        try:
            item = json.loads(data)
        except UnicodeDecodeError:
            yield BadRow(number, "not valid UTF-8; save the file as UTF-8")
            continue
        except ValueError as error:
            yield BadRow(number, f"not valid JSON ({error})")
            continue
        if not isinstance(item, dict):
            yield BadRow(number, f"a JSON {type(item).__name__}, not an object with the article's fields")
            continue
        names = {**find_fields(item.keys()), **overrides}
        if first and "text" not in names:
            raise SkipFile(
                f"no field with the article text among {_shown(item.keys())} (line {number}); name it with "
                f"--fields text=FIELD (looked for {', '.join(FIELD_NAMES['text'])})"
            )
        first = False
        yield _row(number, {name: _lookup(item, column) for name, column in names.items()}, names)


def _lookup(item: Mapping[str, Any], column: str) -> Any:
    """`item[column]`, or for a dotted name the value inside nested objects (`byline.name`)."""
    if column in item or "." not in column:
        return item.get(column)
    value: Any = item
    for part in column.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | BadRow]]:
    """(line number, the line's bytes), a too-long line as a BadRow after skipping to its end."""
    number = 0
    while True:
        line = handle.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(1024 * 1024)
            yield number, BadRow(number, f"longer than {MAX_ROW_BYTES // (1024 * 1024)} MB")
            continue
        yield number, line.removeprefix(b"\xef\xbb\xbf") if number == 1 else line


# -- CSV ------------------------------------------------------------------------------------------------------------
def _csv_rows(handle: IO[bytes], overrides: Mapping[str, str], *, tab: bool) -> Iterator[Row | BadRow]:
    sample = handle.read(_SNIFF_BYTES)
    handle.seek(0)
    delimiter = "\t" if tab else _delimiter(sample)
    bad_lines: dict[int, str] = {}
    lines = _decoded_lines(handle, bad_lines)
    csv.field_size_limit(MAX_ROW_BYTES)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise SkipFile("empty file") from None
    except csv.Error as error:
        raise SkipFile(f"unreadable CSV header ({error})") from None
    header = [name.strip() for name in header]
    names = {**find_fields(header), **overrides}
    missing = [column for column in overrides.values() if column not in header]
    if missing:
        raise SkipFile(
            f"--fields names columns the header does not have: {', '.join(missing)}; it has {_shown(header)}"
        )
    if "text" not in names:
        raise SkipFile(
            f"no column with the article text among {_shown(header)}; name it with --fields text=COLUMN "
            f"(looked for {', '.join(FIELD_NAMES['text'])})"
        )
    position = {name: header.index(column) for name, column in names.items()}
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield BadRow(start, f"unreadable CSV row ({error})")
            start = reader.line_num + 1
            continue
        end = reader.line_num
        problem = next((bad_lines.pop(n) for n in range(start, end + 1) if n in bad_lines), None)
        if problem is not None:
            yield BadRow(start, problem)
        elif not any(v.strip() for v in values):
            pass  # an empty line
        elif len(values) != len(header):
            yield BadRow(start, f"{len(values)} columns where the header has {len(header)}")
        else:
            yield _row(start, {name: values[index] for name, index in position.items()}, names)
        for n in range(start, end + 1):
            bad_lines.pop(n, None)
        start = end + 1


def _decoded_lines(handle: IO[bytes], bad: dict[int, str]) -> Iterator[str]:
    """The file's lines as text, a line that is not UTF-8 (or too long) recorded in `bad` and given as empty."""
    for number, data in _lines(handle):
        if isinstance(data, BadRow):
            bad[number] = data.reason
            yield "\n"
            continue
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            bad[number] = "not valid UTF-8; save the file as UTF-8"
            yield "\n"


def _delimiter(sample: bytes) -> str:
    text = sample.decode("utf-8", errors="ignore")
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _shown(header: Iterable[str]) -> str:
    return ", ".join(repr(h) for h in header) or "(none)"


# -- rows -----------------------------------------------------------------------------------------------------------
def _row(line: int, values: Mapping[str, Any], names: Mapping[str, str]) -> Row | BadRow:
    text = values.get("text")
    if "text" not in names:
        return BadRow(
            line, f"no text field; name it with --fields text=FIELD (looked for {', '.join(FIELD_NAMES['text'])})"
        )
    if not isinstance(text, str) or not text.strip():
        return BadRow(line, f"empty text ({names['text']})")
    if _HTML.search(text):
        text = _html_text(text)
    meta = metadata_from_mapping({k: v for k, v in values.items() if k in FIELDS}, {k: k for k in FIELDS})
    content = json.dumps([text, meta.title, meta.date, meta.outlet, meta.author, meta.url], ensure_ascii=False)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    identity = values.get("id")
    if isinstance(identity, int | float) and not isinstance(identity, bool):
        identity = str(identity)
    if isinstance(identity, str) and identity.strip():
        key = f"id={' '.join(identity.split())}"
    elif meta.url:
        key = f"url={meta.url}"
    else:
        key = f"sha={digest[:16]}"
    return Row(key, line, digest, text, meta)


def _html_text(text: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for element in soup(["script", "style", "noscript", "template", "iframe"]):
        element.decompose()
    return str(soup.get_text("\n"))


def _unique(rows: Iterable[Row | BadRow]) -> Iterator[Row | BadRow]:
    """Rows with an identity seen earlier in the file are reported, not indexed twice."""
    first: dict[str, int] = {}
    for row in rows:
        if isinstance(row, Row):
            seen = first.setdefault(row.key, row.line)
            if seen != row.line:
                what = "content" if row.key.startswith("sha=") else row.key.split("=", 1)[0]
                yield BadRow(row.line, f"same {what} as the row on line {seen} ({row.key}); only the first is indexed")
                continue
        yield row
