"""Panics of the native libraries (tantivy, Chroma), which pyo3 raises as a BaseException."""

from __future__ import annotations


def is_panic(error: BaseException) -> bool:
    """True for pyo3's PanicException: a Rust library hit an internal error (often a damaged file)."""
    return type(error).__module__ == "pyo3_runtime"
