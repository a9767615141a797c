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
