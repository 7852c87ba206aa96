"""An on-disk cache of embeddings, so re-producing the same texts skips the model.

multilingual-e5-small on 2 CPU cores embeds ~20-60 generated postings per second;
``make demo`` embeds 10,000 of them, which takes minutes the first time. The generator is
deterministic, so a second run -- in this checkout or a fresh clone on the same machine --
embeds exactly the same texts: this cache answers them from disk in milliseconds.

One SQLite file per model under ``JOBSTREAM_EMBEDDING_CACHE_DIR`` (default
``~/.cache/jobstream/embeddings``, beside the Kafka classpath cache; WAL mode, so a
reader never blocks the writer), one row per text: key = SHA-256 of the text (the model is
in the file name), value = the float32 vector as little-endian bytes. A row whose size is
not ``dim * 4`` is treated as a miss and overwritten. SQLite rather than a memmap because
lookups are by text hash in arbitrary order and writes are appended chunk by chunk.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def cache_path(directory: Path, model: str) -> Path:
    """The cache file of ``model`` in a cache folder (``JOBSTREAM_EMBEDDING_CACHE_DIR``)."""
    return directory / f"{_SAFE.sub('_', model)}.sqlite"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """A text -> vector store for one model and dimension; safe to share across threads."""

    def __init__(self, path: Path, dim: int, seed: Mapping[bytes, F32] | None = None) -> None:
        self.path = path
        self.dim = dim
        self.seed = seed  # shipped vectors (gateway.embedding_seed), read before the model
        self.seeded = 0
        self.hits = 0
        self.misses = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, v BLOB)")

    def get_many(self, texts: Sequence[str]) -> list[F32 | None]:
        """The cached vector of each text, None where absent."""
        keys = [text_key(t) for t in texts]
        found: dict[bytes, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite's bound-variable limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, v FROM vectors WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update((bytes(k), bytes(v)) for k, v in rows)
        out: list[F32 | None] = []
        for key in keys:
            raw = found.get(key)
            if raw is None or len(raw) != self.dim * 4:
                out.append(None)
            else:
                out.append(np.frombuffer(raw, dtype="<f4").astype(np.float32))
        return out

    def put_many(self, texts: Sequence[str], vectors: F32) -> None:
        rows = [
            (text_key(t), np.asarray(v, dtype="<f4").tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, v) VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def embed(self, texts: Sequence[str], compute: Callable[[list[str]], object]) -> F32:
        """Vectors for ``texts``: cached ones from disk, the rest from ``compute`` (then
        stored). ``compute`` gets only the missing texts, in order."""
        cached = self.get_many(texts)
        missing = [i for i, v in enumerate(cached) if v is None]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, vector in enumerate(cached):
            if vector is not None:
                out[i] = vector
        if missing and self.seed is not None:
            from gateway.embedding_seed import seed_key

            from_seed = [(i, self.seed.get(seed_key(texts[i]))) for i in missing]
            found = [(i, v) for i, v in from_seed if v is not None]
            for i, vector in found:
                out[i] = vector
            if found:
                self.put_many([texts[i] for i, _ in found], np.stack([v for _, v in found]))
                self.seeded += len(found)
            missing = [i for i, v in from_seed if v is None]
        if missing:
            wanted = [texts[i] for i in missing]
            fresh = np.asarray(compute(wanted), dtype=np.float32)
            if fresh.shape != (len(wanted), self.dim):
                raise ValueError(f"embedder returned shape {fresh.shape} for {len(wanted)} texts")
            out[missing] = fresh
            self.put_many(wanted, fresh)
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
