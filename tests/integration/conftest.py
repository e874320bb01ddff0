"""Fixtures of the integration tests: each test module gets one Env (dsharness.py) whose work
directory and processes go when the module ends."""

import pytest


@pytest.fixture(scope="module")
def env(darkscope, source_root, request):
    import dsharness  # (after tests/conftest.py has put scripts/ on the import path)
    e = dsharness.Env(darkscope, source_root)
    yield e
    e.close(failed=request.session.testsfailed > 0)
