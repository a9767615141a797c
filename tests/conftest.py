"""Shared test configuration: hypothesis profiles and the CUDA marker.

Profiles (select with ``LIPCONV_HYPOTHESIS_PROFILE``):

* ``ci`` (default): derandomized, no deadline, modest example counts; what CI runs.
* ``thorough``: 10x the examples, still derandomized, for local runs before a release.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=250, **_COMMON)
settings.load_profile(os.environ.get("LIPCONV_HYPOTHESIS_PROFILE", "ci"))


def _draws_independent_of_imported_modules() -> None:
    """Hypothesis (6.155 here) mixes into its draws the literals of every project module imported so far
    (lipconv's, here), so a derandomized test drew other examples alone than in the full run, and
    other examples again after any edit to a literal anywhere in lipconv: a failure came and went with
    the order of the tests. Without that pool the draws depend only on the test and hypothesis's
    version. Internal API: where it is absent the pool stays, and nothing else changes."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty


_draws_independent_of_imported_modules()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def torch_one_thread():
    """One intra-op torch thread for the test: on a shared 2-core machine torch's pool makes tiny
    networks' ops up to 100x slower. Modules of small-network tests use it for every test
    (``pytestmark = pytest.mark.usefixtures("torch_one_thread")``)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
