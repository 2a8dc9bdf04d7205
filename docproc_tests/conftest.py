import os

import pytest

# Office conversions share one cache per test session, never the user's ~/.cache.
@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    os.environ["DOCPROC_CACHE"] = str(tmp_path_factory.mktemp("docproc-cache"))
