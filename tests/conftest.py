import shutil
from pathlib import Path

import pytest

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
