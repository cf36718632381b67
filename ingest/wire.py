"""Wire stories: the same agency story published by several outlets, found by MinHash/LSH over character shingles.

Each article gets a MinHash signature of the character k-grams of its normalized text
(ingest.analysis.normalize, punctuation and spacing dropped), so re-punctuated, re-spelled (hamza,
harakat, ة/ه) and re-wrapped copies look alike. The signature is computed here in numpy, every shingle
of an article at once: a 64-bit polynomial hash of each window of code points, mixed (MurmurHash3's
64-bit finalizer) and cut to 32 bits, then 128 affine permutations a*h+b mod 2^32 with odd a (the
construction of datasketch's `affine32` scheme). Its output is fixed by this module alone, not by
whichever version of a library is installed. Locality-sensitive hashing over bands of the
signature proposes candidate pairs; a pair is one story when the smaller article is mostly contained
in the larger (the containment estimated from the signatures' Jaccard and the two sets' sizes), which
holds for a changed headline, an added byline and trimmed paragraphs alike, and fails for two
articles that only share a quote or a background paragraph. Stories are the connected groups of
such pairs. The parameters below were chosen on a measured set (docs/wire-stories.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from ingest.analysis import normalize

_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class WireParams:
    """Shingling, signature and grouping parameters (docs/wire-stories.md measured them)."""

    shingle: int = 7
    """Characters per shingle of the normalized text."""
    permutations: int = 128
    bands: int = 42
    rows: int = 3
    """LSH bands of `rows` signature values each (bands * rows <= permutations)."""
    containment: float = 0.7
    """Share of the smaller article's shingles found in the larger one, above which they are one story."""
    min_shingles: int = 60
    """Articles with fewer distinct shingles (a few words) are never grouped: too little to tell."""
    seed: int = 1

    @property
    def version(self) -> str:
        """Recorded in the index: signatures made with other parameters (or another hashing) are recomputed."""
        return f"minhash-np1/{self.shingle}/{self.permutations}/{self.seed}"


DEFAULT_PARAMS = WireParams()


@dataclass(frozen=True, slots=True)
class Signature:
    """An article's MinHash values and how many distinct shingles it has."""

    values: np.ndarray
    """uint32, one per permutation."""
    size: int

    def to_bytes(self) -> bytes:
        """For the manifest: the size (4 bytes) then the values."""
        return np.uint32(min(self.size, 2**32 - 1)).tobytes() + self.values.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """The inverse of `to_bytes`."""
        size = int(np.frombuffer(data[:4], dtype="<u4")[0])
        return cls(np.frombuffer(data[4:], dtype="<u4").astype(np.uint32), size)


def shingle_text(text: str) -> str:
    """The text shingles are taken from: normalized, words separated by single spaces, no punctuation."""
    return " ".join(_NOT_WORD.sub(" ", normalize(text)).split())


def shingles(text: str, size: int = DEFAULT_PARAMS.shingle) -> set[bytes]:
    """The distinct character `size`-grams of `shingle_text(text)` (for reading; signatures hash them in numpy)."""
    flat = shingle_text(text)
    if len(flat) <= size:
        return {flat.encode("utf-8")} if flat else set()
    return {flat[i : i + size].encode("utf-8") for i in range(len(flat) - size + 1)}


_EMPTY = np.uint32(2**32 - 1)
_BLOCK = 65_536
"""Shingles permuted at a time."""
_POLY = np.uint64(0x100000001B3)  # odd; code points are < 2**21
_MIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))


def shingle_hashes(text: str, size: int = DEFAULT_PARAMS.shingle) -> np.ndarray:
    """One 64-bit hash per distinct character `size`-gram of `shingle_text(text)`, sorted (uint64).

    A text no longer than `size` is one shingle. Two different shingles share a hash with a chance
    of about 2**-64, so the count of hashes is the count of distinct shingles.
    """
    flat = shingle_text(text)
    if not flat:
        return np.empty(0, dtype=np.uint64)
    points = np.frombuffer(flat.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)
    width = min(size, len(points))
    windows = len(points) - width + 1
    hashed = np.zeros(windows, dtype=np.uint64)
    for offset in range(width):  # sum of point[i + offset] * POLY ** (width - 1 - offset), wrapping mod 2**64
        hashed = hashed * _POLY + points[offset : offset + windows]
    hashed ^= hashed >> np.uint64(33)
    hashed *= _MIX[0]
    hashed ^= hashed >> np.uint64(33)
    hashed *= _MIX[1]
    hashed ^= hashed >> np.uint64(33)
    return np.unique(hashed)


@cache
def _permutations(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine maps h -> a*h + b mod 2**32 (a odd, so each is a bijection), as (count, 1) uint32 columns."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**31, count, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 2**32, count, dtype=np.uint32)
    return a[:, None], b[:, None]


def signature(text: str, params: WireParams = DEFAULT_PARAMS) -> Signature:
    """The MinHash signature of `text`: the least permuted shingle hash under each permutation."""
    hashes = shingle_hashes(text, params.shingle)
    if not len(hashes):
        return Signature(np.full(params.permutations, _EMPTY, dtype=np.uint32), 0)
    a, b = _permutations(params.permutations, params.seed)
    top = (hashes >> np.uint64(32)).astype(np.uint32)[None, :]
    values = np.full(params.permutations, _EMPTY, dtype=np.uint32)
    block = min(len(hashes), _BLOCK)  # a book-length text stays within permutations x _BLOCK x 4 bytes
    permuted = np.empty((params.permutations, block), dtype=np.uint32)
    for start in range(0, len(hashes), block):
        part = top[:, start : start + block]
        out = permuted[:, : part.shape[1]]
        np.multiply(a, part, out=out)  # in place: temporaries of this size cost more than the arithmetic
        np.add(out, b, out=out)
        np.minimum(values, out.min(axis=1), out=values)
    return Signature(values, len(hashes))


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two shingle sets."""
    return float(np.mean(a.values == b.values))


def containment(a: Signature, b: Signature) -> float:
    """Estimated share of the smaller set found in the larger: |A ∩ B| / min(|A|, |B|)."""
    if not a.size or not b.size:
        return 0.0
    j = jaccard(a, b)
    shared = j * (a.size + b.size) / (1 + j)
    return min(1.0, shared / min(a.size, b.size))


def same_story(a: Signature, b: Signature, params: WireParams = DEFAULT_PARAMS) -> bool:
    """True when the two articles are copies of one story."""
    if min(a.size, b.size) < params.min_shingles:
        return False
    return containment(a, b) >= params.containment


def group_stories(signatures: Mapping[str, Signature], params: WireParams = DEFAULT_PARAMS) -> dict[str, str]:
    """Story of every article that has copies: {source: story}, the story named by its first source (sorted).

    Articles without a copy are left out. Candidate pairs come from LSH bands; each is checked with the
    containment rule of `same_story` (vectorized); stories are the connected groups of checked pairs.
    """
    names = sorted(signatures)
    if len(names) < 2:
        return {}
    matrix = np.stack([signatures[n].values for n in names]).astype(np.uint32)
    sizes = np.array([signatures[n].size for n in names], dtype=np.float64)
    return _group(names, matrix, sizes, params)


def group_signature_bytes(signatures: Mapping[str, bytes], params: WireParams = DEFAULT_PARAMS) -> dict[str, str]:
    """`group_stories` of signatures as the manifest stores them (`Signature.to_bytes`), decoded all at once."""
    names = sorted(signatures)
    width = 4 + 4 * params.permutations
    if len(names) < 2 or any(len(signatures[n]) != width for n in names):
        return group_stories({n: Signature.from_bytes(signatures[n]) for n in names}, params)
    table = np.frombuffer(b"".join(signatures[n] for n in names), dtype="<u4").reshape(len(names), -1)
    return _group(names, table[:, 1:].astype(np.uint32), table[:, 0].astype(np.float64), params)


def _group(names: list[str], matrix: np.ndarray, sizes: np.ndarray, params: WireParams) -> dict[str, str]:
    """Stories of the rows of `matrix` (signature values of `names`, sorted) with their shingle counts."""
    usable = np.flatnonzero(sizes >= params.min_shingles)
    if len(usable) < 2:
        return {}
    if len(usable) < len(names):
        names, matrix, sizes = [names[i] for i in usable], matrix[usable], sizes[usable]
    pairs = _candidates(matrix, params)
    kept = _same_story_pairs(matrix, sizes, pairs, params)
    parent = np.arange(len(names))

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = int(parent[root])
        while parent[i] != root:
            parent[i], i = root, int(parent[i])
        return root

    for i, j in kept:
        root_i, root_j = find(int(i)), find(int(j))
        if root_i != root_j:
            parent[max(root_i, root_j)] = min(root_i, root_j)
    groups: dict[int, list[str]] = {}
    for index in np.unique(kept).tolist():  # an article in no kept pair has no copy
        groups.setdefault(find(index), []).append(names[index])
    return {name: members[0] for members in groups.values() if len(members) > 1 for name in members}


def _same_story_pairs(
    matrix: np.ndarray, sizes: np.ndarray, pairs: np.ndarray, params: WireParams, batch: int = 65_536
) -> np.ndarray:
    """The candidate pairs whose estimated containment reaches `params.containment`."""
    kept = []
    for start in range(0, len(pairs), batch):
        block = pairs[start : start + batch]
        left, right = block[:, 0], block[:, 1]
        j = (matrix[left] == matrix[right]).mean(axis=1)
        shared = j * (sizes[left] + sizes[right]) / (1 + j)
        share = shared / np.minimum(sizes[left], sizes[right])
        kept.append(block[share >= params.containment])
    return np.concatenate(kept) if kept else np.empty((0, 2), dtype=np.int64)


def _candidates(matrix: np.ndarray, params: WireParams) -> np.ndarray:
    """Distinct pairs (i < j) of rows that agree on every value of at least one band, as an (n, 2) array."""
    multipliers = np.frombuffer(
        b"".join(hashlib.blake2b(bytes([k]), digest_size=8).digest() for k in range(params.rows)), dtype=np.uint64
    ) | np.uint64(1)
    wide = matrix.astype(np.uint64)
    count = len(matrix)
    found: list[np.ndarray] = []
    for band in range(params.bands):
        block = wide[:, band * params.rows : (band + 1) * params.rows]
        keys = (block * multipliers).sum(axis=1)  # wraps around: a hash of the band's values
        order = np.argsort(keys, kind="stable")
        ranked = keys[order]
        bounds = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1], True])
        lengths = np.diff(bounds)
        twos = bounds[:-1][lengths == 2]  # most buckets hold one pair: all of them at once
        first, second = order[twos], order[twos + 1]
        found.append(np.minimum(first, second) * count + np.maximum(first, second))
        for start, length in zip(bounds[:-1][lengths > 2], lengths[lengths > 2], strict=True):
            members = np.sort(order[start : start + length])
            if length <= 32:
                left, right = _upper_pairs(int(length))
                found.append(members[left] * count + members[right])
            else:  # a crowded bucket: each member against the first and its neighbour
                found.append(members[0] * count + members[1:])
                found.append(members[:-1] * count + members[1:])
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found).astype(np.int64))
    return np.stack([codes // count, codes % count], axis=1)


@cache
def _upper_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    left, right = np.triu_indices(size, k=1)
    return left, right
