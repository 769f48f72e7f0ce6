"""The torch device the encoders run on, chosen once from the settings.

On CUDA, cuDNN's TF32 convolutions are switched off: with them Galileo's patch embedding drifts 1.9e-4 from the
reference outputs on an H100, without them 5e-6 (benchmarks/bench_galileo_devices.py, deploy/README.md).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from tools.core.errors import ModelUnavailableError
from tools.core.settings import get_settings


@lru_cache(maxsize=1)
def torch_device() -> torch.device:
    """`SENTINELLE_TORCH_DEVICE`: cpu, cuda, or auto (cuda when a GPU is visible)."""
    wanted = get_settings().torch_device
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ModelUnavailableError(
            "SENTINELLE_TORCH_DEVICE=cuda but no CUDA device is visible to torch; set it to auto or cpu."
        )
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device("cuda")


def batch_size(cpu_batch: int) -> int:
    """Tiles per encoder call: the CPU's batch, or hundreds on a GPU (measured: small batches leave it idle)."""
    return cpu_batch if torch_device().type == "cpu" else max(cpu_batch, 256)
