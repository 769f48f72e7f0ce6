"""The encoders' device follows SENTINELLE_TORCH_DEVICE; asking for a GPU that is not there is a clear error."""

from __future__ import annotations

import pytest
import torch

from assistant.errors import ModelUnavailableError
from tools import torch_device as td


@pytest.fixture(autouse=True)
def _fresh_device():
    td.torch_device.cache_clear()
    yield
    td.torch_device.cache_clear()


def test_cpu_when_asked(monkeypatch):
    monkeypatch.setenv("SENTINELLE_TORCH_DEVICE", "cpu")
    assert td.torch_device().type == "cpu"
    assert td.batch_size(8) == 8


def test_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setenv("SENTINELLE_TORCH_DEVICE", "auto")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert td.torch_device().type == want
    assert td.batch_size(8) == (8 if want == "cpu" else 256)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is visible")
def test_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SENTINELLE_TORCH_DEVICE", "cuda")
    with pytest.raises(ModelUnavailableError, match="no CUDA device"):
        td.torch_device()
