"""A structural check of Chroma's persisted HNSW files, run before Chroma is allowed to load them.

Chroma's local vector index is hnswlib's graph in four files (`header.bin`, `data_level0.bin`,
`length.bin`, `link_lists.bin`). hnswlib trusts them: a garbled neighbour id or a truncated file makes
it read out of bounds and kill the process (measured on chromadb 1.5.9: garbage in data_level0.bin or
link_lists.bin, a zeroed or truncated header.bin). Chroma also rewrites these files when a reader
folds its write-ahead log into the graph, so their bytes are not stable enough to checksum. Instead
this module checks what hnswlib relies on: the header's sizes agree with each other and with the
files, every neighbour id names an element, every stored vector has unit length (the collections are
cosine, which hnswlib stores normalized), and no label repeats. It reads the files through a memory
map, in blocks, so memory stays small at any size.

File format (chroma-hnswlib, persisted index version 1): `header.bin` holds int32 version, six
uint64 (level-0 offset, max elements, element count, bytes per element, label offset, data offset),
int32 max level, uint32 entry point, three uint64 (maxM, maxM0, M), a float64 level multiplier and
uint64 ef_construction. Each level-0 element is a uint32 link count (low 16 bits), maxM0 uint32
neighbour ids, the float32 vector and a uint64 label. `length.bin` holds each vector's original length
(float32; 1 for the unit vectors the project stores). `link_lists.bin` holds, per element, a uint32
byte size and that many bytes of upper-level links: blocks of a uint32 count and maxM uint32 ids, one
per level.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
_HEADER = struct.Struct("<i6QiI3QdQ")
_BLOCK = 65_536
"""Elements read at a time."""
_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class Header:
    """The fields of header.bin this check needs."""

    version: int
    count: int
    max_elements: int
    element_bytes: int
    label_offset: int
    data_offset: int
    max_level: int
    entry_point: int
    max_m: int
    max_m0: int


def check_vector_index(directory: Path) -> list[str]:
    """What is wrong with the HNSW files in `directory` (empty when they are safe to load)."""
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        return [f"{name} is missing" for name in missing]
    try:
        header = _read_header(directory / "header.bin")
        problems = _check_sizes(directory, header)
        if problems:
            return problems
        return (
            _check_level0(directory, header) + _check_norms(directory, header) + _check_upper_levels(directory, header)
        )
    except (OSError, ValueError, struct.error) as error:
        return [f"cannot be read ({error})"]


def _read_header(path: Path) -> Header:
    data = path.read_bytes()
    if len(data) != _HEADER.size:
        raise ValueError(f"header.bin has {len(data)} bytes, hnswlib writes {_HEADER.size}")
    (
        version,
        _,
        max_elements,
        count,
        element_bytes,
        label_offset,
        data_offset,
        max_level,
        entry,
        max_m,
        max_m0,
        _,
        _,
        _,
    ) = _HEADER.unpack(data)
    return Header(
        version, count, max_elements, element_bytes, label_offset, data_offset, max_level, entry, max_m, max_m0
    )


def _check_sizes(directory: Path, header: Header) -> list[str]:
    h = header
    if h.version != 1:
        return [f"header.bin has version {h.version}, not 1"]
    consistent = (
        0 < h.max_m <= 4096
        and h.max_m0 == 2 * h.max_m
        and h.data_offset == 4 + 4 * h.max_m0
        and h.label_offset > h.data_offset
        and (h.label_offset - h.data_offset) % 4 == 0
        and h.element_bytes == h.label_offset + 8
        and h.element_bytes % 4 == 0
        and h.count <= h.max_elements
        and (h.count == 0 or (0 <= h.max_level < 64 and h.entry_point < h.count))
    )
    if not consistent:
        return ["header.bin is inconsistent (its sizes do not fit together)"]
    # hnswlib writes the elements it holds, or (a graph never filled) room for all of them
    problems = []
    level0 = (directory / "data_level0.bin").stat().st_size
    if level0 not in (h.count * h.element_bytes, h.max_elements * h.element_bytes):
        problems.append(f"data_level0.bin has {level0:,} bytes, the header says {h.count * h.element_bytes:,}")
    lengths = (directory / "length.bin").stat().st_size
    if lengths not in (4 * h.count, 4 * h.max_elements):
        problems.append(f"length.bin has {lengths:,} bytes, the header says {4 * h.count:,}")
    return problems


def _check_level0(directory: Path, header: Header) -> list[str]:
    h = header
    if h.count == 0:
        return []
    words = h.element_bytes // 4
    table = np.memmap(directory / "data_level0.bin", dtype="<u4", mode="r", shape=(h.count, words))  # the held ones
    first, last = h.data_offset // 4, h.label_offset // 4
    labels: list[np.ndarray] = []
    slots = np.arange(h.max_m0)
    for start in range(0, h.count, _BLOCK):
        block = np.asarray(table[start : start + _BLOCK])
        links = block[:, 0] & 0xFFFF
        if int(links.max()) > h.max_m0:
            return ["data_level0.bin is damaged (a neighbour count exceeds the graph's degree)"]
        used = slots[None, :] < links[:, None]
        if bool(np.any(block[:, 1 : 1 + h.max_m0][used] >= h.count)):
            return ["data_level0.bin is damaged (a neighbour id names no element)"]
        vectors = block[:, first:last].view("<f4").astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            unit = np.abs(np.sqrt(np.einsum("ij,ij->i", vectors, vectors)) - 1.0) <= _NORM_TOLERANCE
        if not bool(np.all(unit)):
            return ["data_level0.bin is damaged (a stored vector is not of unit length)"]
        labels.append(block[:, last : last + 2].copy().view("<u8").reshape(-1))
    all_labels = np.concatenate(labels)
    if np.unique(all_labels).size != all_labels.size:
        return ["data_level0.bin is damaged (a label repeats)"]
    return []


def _check_norms(directory: Path, header: Header) -> list[str]:
    norms = np.fromfile(directory / "length.bin", dtype="<f4", count=header.count).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        unit = np.abs(norms - 1.0) <= _NORM_TOLERANCE
    if not bool(np.all(unit)):
        return ["length.bin is damaged (a recorded vector length is not 1)"]
    return []


def _check_upper_levels(directory: Path, header: Header) -> list[str]:
    """Walk link_lists.bin: per element a uint32 byte size, then that many bytes of level blocks."""
    h = header
    words = np.fromfile(directory / "link_lists.bin", dtype="<u4")
    if (directory / "link_lists.bin").stat().st_size % 4:
        return ["link_lists.bin is damaged (its size is not a whole number of words)"]
    block = 1 + h.max_m
    position = 0
    starts: list[int] = []
    for _ in range(h.count):
        if position >= len(words):
            return ["link_lists.bin is damaged (it ends before its last element)"]
        size = int(words[position])
        if size % (4 * block) or size // (4 * block) > h.max_level:
            return ["link_lists.bin is damaged (an element has a level size the graph cannot have)"]
        if size:
            starts.append(position + 1)
        position += 1 + size // 4
    if position != len(words):
        return ["link_lists.bin is damaged (its elements do not end where the file does)"]
    if not starts:
        return []
    levels = [words[start : start + int(words[start - 1]) // 4].reshape(-1, block) for start in starts]
    blocks = np.concatenate(levels)
    links = blocks[:, 0] & 0xFFFF
    if int(links.max()) > h.max_m:
        return ["link_lists.bin is damaged (a neighbour count exceeds the graph's degree)"]
    used = np.arange(h.max_m)[None, :] < links[:, None]
    if bool(np.any(blocks[:, 1:][used] >= h.count)):
        return ["link_lists.bin is damaged (a neighbour id names no element)"]
    return []
