"""A local sentence encoder for the keyless help-center search: all-MiniLM-L6-v2 in numpy.

The model (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) is a 6-layer BERT
(hidden 384, 12 heads, feed-forward 1536) whose token vectors are mean-pooled over
the attention mask and scaled to unit length. Its files live in
`var/models/all-MiniLM-L6-v2/` (`manage.py fetch_embedding_model` puts them
there); this module runs the forward pass itself, in float32, so the search needs
neither torch nor a network. The tokenizer is the model's own `tokenizer.json`,
read by HF `tokenizers`; the weights are read by `safetensors`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "local/all-MiniLM-L6-v2"
MAX_TOKENS = 256
BATCH_SIZE = 32
MEMO_SIZE = 4096  # texts whose vectors a process keeps (1.5 KB each)
# Files the encoder reads; fetch_embedding_model checks all of them are there.
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")


class ModelMissing(RuntimeError):
    """The model folder is absent or incomplete (`manage.py fetch_embedding_model`)."""


def model_is_present(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3 * hidden): query, key and value in one product
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ff_in_w: np.ndarray
    ff_in_b: np.ndarray
    ff_out_w: np.ndarray
    ff_out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * gamma + beta


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf: Abramowitz and Stegun 7.1.26 (error below 1.5e-7, under float32's
    # own rounding at these magnitudes), evaluated in float64 then cast back.
    z = x.astype(np.float64)
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * x * (np.float32(1.0) + _erf(x * np.float32(1 / np.sqrt(2.0))))


class MiniLMEncoder:
    """Unit-length sentence vectors (384 floats) from the model folder, in batches."""

    def __init__(self, folder: Path) -> None:
        if not model_is_present(folder):
            raise ModelMissing(
                f"{folder} has no complete model: run `python manage.py fetch_embedding_model`"
            )
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(folder / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type = w("embeddings.token_type_embeddings.weight")
        self.emb_ln = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            attention = p + "attention.self."
            self.layers.append(
                _Layer(
                    # torch's Linear stores (out, in); transposed once here for x @ W.
                    qkv_w=np.ascontiguousarray(
                        np.concatenate(
                            [w(attention + f"{n}.weight") for n in ("query", "key", "value")]
                        ).T
                    ),
                    qkv_b=np.concatenate(
                        [w(attention + f"{n}.bias") for n in ("query", "key", "value")]
                    ),
                    out_w=np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
                    out_b=w(p + "attention.output.dense.bias"),
                    ln1_g=w(p + "attention.output.LayerNorm.weight"),
                    ln1_b=w(p + "attention.output.LayerNorm.bias"),
                    ff_in_w=np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                    ff_in_b=w(p + "intermediate.dense.bias"),
                    ff_out_w=np.ascontiguousarray(w(p + "output.dense.weight").T),
                    ff_out_b=w(p + "output.dense.bias"),
                    ln2_g=w(p + "output.LayerNorm.weight"),
                    ln2_b=w(p + "output.LayerNorm.bias"),
                )
            )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text below
        self._memo: dict[str, np.ndarray] = {}
        self._memo_lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.hidden

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """One unit-length float32 row per text, in order."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # The same text always gives the same vector: a text this process has already
        # encoded (a section re-embedded after a database reset) is not computed again.
        missing: list[int] = []
        for i, text in enumerate(texts):
            found = self._memo.get(text)
            if found is None:
                missing.append(i)
            else:
                out[i] = found
        if missing:
            vectors = self._encode([texts[i] for i in missing], batch_size)
            with self._memo_lock:
                for i, vector in zip(missing, vectors, strict=True):
                    out[i] = vector
                    if len(self._memo) >= MEMO_SIZE:
                        self._memo.pop(next(iter(self._memo)))
                    self._memo[texts[i]] = vector
        return out

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([text or " " for text in texts])
        # Texts of similar length batched together waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in chosen)
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.float32)
            for row, i in enumerate(chosen):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1.0
            out[chosen] = self._forward(ids, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        heads, size = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.position[:width][None, :, :] + self.token_type[0]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        # Padding gets a large negative score so softmax gives it no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(size))
        # Dense layers on a 2-D (tokens, hidden) array: numpy hands those to BLAS, while
        # a 3-D product falls back to a much slower loop.
        x = x.reshape(batch * width, self.hidden)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (tokens, 3 * hidden)
            qkv = qkv.reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q = np.ascontiguousarray(qkv[0])  # (batch, heads, width, size)
            k_t = np.ascontiguousarray(qkv[1].transpose(0, 1, 3, 2))
            v = np.ascontiguousarray(qkv[2])
            scores = (q @ k_t) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * width, self.hidden)
            x = _layer_norm(
                context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b, self.eps
            )
            inner = _gelu(x @ layer.ff_in_w + layer.ff_in_b)
            x = _layer_norm(
                inner @ layer.ff_out_w + layer.ff_out_b + x, layer.ln2_g, layer.ln2_b, self.eps
            )
        x = x.reshape(batch, width, self.hidden)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_lock = threading.Lock()
_encoders: dict[Path, MiniLMEncoder] = {}


def encoder(folder: Path) -> MiniLMEncoder:
    """The process's encoder for this folder, loaded once (about 90 MB of weights)."""
    found = _encoders.get(folder)
    if found is not None:
        return found
    with _lock:
        if folder not in _encoders:
            _encoders[folder] = MiniLMEncoder(folder)
        return _encoders[folder]
