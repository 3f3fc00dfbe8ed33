"""Dense vectors of the knowledge texts in a faiss index, cached on disk.

The cache key hashes the knowledge content, the model identity and the indexed texts, so
a changed knowledge base or model rebuilds the index at the next start, never silently
serving stale vectors.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import faiss
import numpy as np

from knowledge.loader import replace_cache_file

from .documents import Text

INDEX_FORMAT = 2  # 2: scenario texts encoded as queries
DEFAULT_CACHE = Path(os.environ.get("YICI_CACHE_DIR", Path(__file__).resolve().parents[2] / "var" / "cache"))


def cache_key(knowledge_version: str, model_id: str, texts: Sequence[Text]) -> str:
    digest = hashlib.sha256(f"{INDEX_FORMAT}|{knowledge_version}|{model_id}".encode())
    for t in texts:
        digest.update(f"\x1f{t.owner}\x1e{t.field}\x1e{t.text}".encode())
    return digest.hexdigest()[:24]


class DenseIndex:
    """Vectors of `texts` (row i = texts[i]) behind a faiss inner-product index."""

    def __init__(self, texts: Sequence[Text], vectors: np.ndarray):
        self.texts = list(texts)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)
        owners = sorted({t.owner for t in self.texts})
        self.owners = owners
        position = {o: i for i, o in enumerate(owners)}
        self.owner_of_row = np.array([position[t.owner] for t in self.texts], dtype=np.int64)
        self._every_row = np.arange(len(self.texts), dtype=np.int64).reshape(1, -1)
        fields = {t.field for t in self.texts}
        self._groups = {f: self._group(f) for f in (None, *sorted(fields))}

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Inner product of `vector` with every row, computed by faiss: exact and unranked, since
        the features want every owner's best, not a top-k (a full search would also sort)."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        out = np.empty((1, len(self.texts)), dtype=np.float32)
        if len(self.texts):
            self.index.compute_distance_subset(1, faiss.swig_ptr(query), len(self.texts), faiss.swig_ptr(out),
                                               faiss.swig_ptr(self._every_row))
        return out[0]

    def owner_best(self, vector: np.ndarray, fields: Sequence[Optional[str]] = (None,)) -> list[np.ndarray]:
        """Best cosine per owner (aligned with self.owners), one array per field (None: every
        text); -1 where the owner has no text of that field."""
        sims = self.similarities(vector)
        out = []
        for field in fields:
            rows, starts, owners = self._groups[field]
            best = np.full(len(self.owners), -1.0)
            if len(rows):
                best[owners] = np.maximum.reduceat(sims[rows], starts)
            out.append(best)
        return out

    def _group(self, field: Optional[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows of the field ordered by owner, where each owner's run starts, those owners)."""
        rows = np.array([i for i, t in enumerate(self.texts) if field is None or t.field == field], dtype=np.int64)
        rows = rows[np.argsort(self.owner_of_row[rows], kind="stable")]
        owners = self.owner_of_row[rows]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(rows) else rows
        return rows, starts, owners[starts]

    @classmethod
    def load_or_build(cls, name: str, texts: Sequence[Text], model, key: str, cache_dir: Path = DEFAULT_CACHE,
                      progress: bool = True, as_queries: bool = False) -> "DenseIndex":
        """as_queries: encode the texts like user queries (symmetric matching of utterances)."""
        path = Path(cache_dir) / f"{name}-{key}.npy"
        if path.exists():
            vectors = np.load(path)
            if vectors.shape[0] == len(texts):
                return cls(texts, vectors)
        vectors = encode_texts(model, [t.text for t in texts], progress=progress, label=name, as_queries=as_queries)
        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.save(fh, vectors)

        # exactly one key long: "matters-*" would also match "matters-companion-…"
        replace_cache_file(path, write, f"{name}-{'?' * len(key)}.npy")
        return cls(texts, vectors)


def encode_texts(model, texts: list[str], *, progress: bool = True, label: str = "index",
                 batch_size: int = 32, as_queries: bool = False) -> np.ndarray:
    """Encode with a progress bar on stderr (first start builds the index)."""
    from tqdm import tqdm

    chunks = []
    bar = tqdm(total=len(texts), desc=f"构建索引 {label}", unit="条", file=sys.stderr, disable=not progress)
    for i in range(0, len(texts), batch_size):
        batch = texts[i:i + batch_size]
        encode = model.encode_query if as_queries else model.encode_document
        chunks.append(encode(batch, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False))
        bar.update(len(batch))
    bar.close()
    return np.vstack(chunks) if chunks else np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
