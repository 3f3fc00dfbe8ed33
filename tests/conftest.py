import shutil
from pathlib import Path

import assistant  # noqa: E402,F401  thread-pool environment before numpy loads; subprocesses inherit it

import pytest

from api.process import ServerProcess
from knowledge import load
from knowledge.loader import DATA_DIR

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def kb():
    return load()


@pytest.fixture
def data_copy(tmp_path):
    """A writable copy of the real knowledge data, for tests that break it on purpose."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


@pytest.fixture(scope="session")
def search_cache(tmp_path_factory):
    """One index cache for the whole run: the index is built once, then loaded."""
    return tmp_path_factory.mktemp("search-cache")


@pytest.fixture(scope="session")
def identifier(kb, search_cache):
    from assistant.search.identify import Identifier

    return Identifier(kb, cache_dir=search_cache, progress=False)


@pytest.fixture(scope="session")
def engine(kb, identifier):
    import datetime as dt

    from assistant.dialogue import Engine

    return Engine(kb, identifier, today=dt.date(2026, 11, 21))


OPERATOR_TOKEN, ADMIN_TOKEN = "test-operator-token", "test-admin-token"


class LiveServer(ServerProcess):
    """The real service (`python -m api`) in its own process, with the test tokens."""

    def __init__(self, var_dir: Path, cache_dir: Path, env: dict | None = None, workers: int = 1):
        super().__init__(var_dir, cache_dir, workers=workers, env={
            "YICI_OPERATOR_TOKENS": OPERATOR_TOKEN, "YICI_ADMIN_TOKENS": ADMIN_TOKEN,
            "YICI_RATE_PER_MINUTE": "1000000",  # tests hammer from one address; limits: test_service
            **(env or {})})


@pytest.fixture(scope="session")
def live_server(identifier, search_cache, tmp_path_factory):
    """One real server for the API and browser tests; the index cache is already built by
    the in-process identifier, so the server only loads it."""
    server = LiveServer(tmp_path_factory.mktemp("server-var"), search_cache)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api(live_server):
    """An HTTP client of the live server."""
    import httpx

    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client
