import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

# Test helpers (netfixtures, map_fixtures, chromium) are plain modules beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

from chromium import launched  # noqa: E402  (found through the path above)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (see chromium.py), one per test module that asks for it."""
    with launched() as chromium:
        yield chromium
