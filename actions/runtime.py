"""The engine the actions share in one process (knowledge and index load once)."""
from __future__ import annotations

import threading
from typing import Optional

from assistant.dialogue import Engine, default_engine

_engine: Optional[Engine] = None
_lock = threading.Lock()


def engine() -> Engine:
    global _engine
    with _lock:
        if _engine is None:
            _engine = default_engine()
        return _engine


def use(custom: Engine) -> None:
    """Serve these actions with an engine built elsewhere (the API's, or a test's)."""
    global _engine
    with _lock:
        _engine = custom
