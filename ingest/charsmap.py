"""SentencePiece's precompiled character map, compiled from a code point -> replacement table.

The format is what `tokenizers.normalizers.Precompiled` reads: a little-endian u32 giving the
byte size of a darts-clone double-array trie over the UTF-8 keys, the trie's u32 units, then the
NUL-terminated replacement strings the trie's values point into.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping

import numpy as np

_LEAF = 1 << 31
_HAS_LEAF = 1 << 8
_MAX_OFFSET = 1 << 21
"""Offsets below this are stored as they are; the builder keeps the array small enough to need no other."""


def compile_charsmap(mapping: Mapping[str, str]) -> bytes:
    """The precompiled charsmap that replaces each key of `mapping` by its value (an empty value deletes)."""
    if not mapping:
        raise ValueError("a character map needs at least one entry")
    blob = bytearray()
    values: dict[bytes, int] = {}
    for key in sorted(mapping):
        if not key or "\0" in key or "\0" in mapping[key]:
            raise ValueError(f"invalid character map entry {key!r}")
        values[key.encode("utf-8")] = len(blob)
        blob += mapping[key].encode("utf-8") + b"\0"
    units = _double_array(values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(values: Mapping[bytes, int]) -> list[int]:
    """A darts-clone double array: the children of the node at p sit at (p ^ offset) ^ label."""
    root: dict[int, object] = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})  # type: ignore[assignment]
        node[0] = value  # label 0 under a node holds the value of the key ending there
    units = np.zeros(256, dtype=np.uint32)
    used = np.zeros(256, dtype=bool)
    used[0] = True  # the root
    bases: set[int] = set()
    queue: deque[tuple[dict[int, object], int]] = deque([(root, 0)])
    while queue:
        node, position = queue.popleft()
        labels = np.array(sorted(node), dtype=np.int64)
        base = _find_base(labels, used, bases)
        bases.add(base)
        end = (base | 0xFF) + 1
        if end > len(units):
            units = np.concatenate([units, np.zeros(end - len(units), dtype=np.uint32)])
            used = np.concatenate([used, np.zeros(end - len(used), dtype=bool)])
        offset = position ^ base
        if offset >= _MAX_OFFSET:  # pragma: no cover - needs millions of keys
            raise ValueError("character map too large for the double array")
        units[position] |= (offset << 10) | (_HAS_LEAF if 0 in node else 0)
        for label in labels.tolist():
            child = base ^ label
            used[child] = True
            if label == 0:
                units[child] = _LEAF | int(node[0])  # type: ignore[call-overload]
            else:
                units[child] = label
                queue.append((node[label], child))  # type: ignore[arg-type]
    return [int(unit) for unit in units]


_LOW_BYTES = np.arange(256, dtype=np.int64)


def _find_base(labels: np.ndarray, used: np.ndarray, bases: set[int]) -> int:
    """The first base, unused by any other node, whose child slots are all free.

    Children of a base share its 256-slot block (labels are bytes), so blocks are searched in order
    and, inside one, every low byte at once.
    """
    blocks = len(used) // 256
    free = ~used.reshape(blocks, 256)
    slots = _LOW_BYTES[:, None] ^ labels[None, :]
    for block in range(blocks):
        if int(free[block].sum()) < len(labels):
            continue
        for low in np.flatnonzero(free[block][slots].all(axis=1)).tolist():
            base = block * 256 + low
            if base not in bases:
                return base
    return blocks * 256  # a fresh block
