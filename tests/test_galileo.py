"""Our Galileo encoder reproduces the authors' outputs on a real OSCD Paris crop (reference_io.npz)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tools.change.galileo import SPACE_TIME_GROUPS, load_encoder
from tools.data import model_path

CASES = ["single_date_all_s2_p4", "single_date_all_s2_p8", "two_dates_all_s2_p4", "single_date_rgb_only_p4"]
INPUTS = ["s_t_x", "sp_x", "t_x", "st_x", "s_t_m", "sp_m", "t_m", "st_m", "months"]


@pytest.fixture(scope="module")
def encoder():
    torch.set_num_threads(1)
    return load_encoder(model_path("galileo-nano/encoder.pt"), model_path("galileo-nano/config.json"))


@pytest.fixture(scope="module")
def reference():
    return np.load(model_path("galileo-nano/reference_io.npz"))


@pytest.mark.parametrize("case", CASES)
def test_reference_outputs_reproduced(encoder, reference, case):
    args = [torch.from_numpy(reference[f"{case}/in/{name}"]) for name in INPUTS]
    patch = int(reference[f"{case}/patch_size"])
    with torch.no_grad():
        outputs = encoder(*args, patch_size=patch)
    assert len(outputs) == 9
    for i, got in enumerate(outputs):
        want = reference[f"{case}/out/{i}"]
        assert tuple(got.shape) == want.shape, (case, i)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-4, rtol=0, err_msg=f"{case} output {i}")


def test_masked_groups_do_not_change_visible_tokens(encoder, reference):
    """Filling an absent group with noise must leave the visible tokens unchanged (they are dropped)."""
    case = "single_date_rgb_only_p4"
    args = [torch.from_numpy(reference[f"{case}/in/{name}"]).clone() for name in INPUTS]
    rgb = SPACE_TIME_GROUPS["S2_RGB"]
    others = [i for i in range(13) if i not in rgb]
    args[0][..., others] = torch.randn_like(args[0][..., others]) * 5
    with torch.no_grad():
        out = encoder(*args, patch_size=4)[0]
    want = reference[f"{case}/out/0"][..., 1, :]
    np.testing.assert_allclose(out[..., 1, :].numpy(), want, atol=1e-4)
