"""Spatial-context features (tools/change/context.py) on the real Paris OSCD pair: the tile form the pipeline would
compute equals the whole-scene form on the same grid, and the pixel statistics mean what their names say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tools.change.context import (
    CONTEXT_BASE,
    galileo_context,
    galileo_context_tiles,
    patch_to_pixels,
    pixel_context,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def paris(oscd_features):
    return oscd_features("paris")


def test_galileo_context_tile_form_equals_scene_form(paris):
    e1, e2 = paris.e1.astype(np.float32), paris.e2.astype(np.float32)
    names, grid = galileo_context(e1, e2)
    assert names == ["c_gpool2", "c_gpool4", "c_gmax3", "c_gmax5"] and grid.shape == e1.shape[:2] + (4,)
    tiles = galileo_context_tiles(torch.from_numpy(e1)[None], torch.from_numpy(e2)[None])
    assert list(tiles) == names
    for i, name in enumerate(names):
        np.testing.assert_allclose(tiles[name][0].numpy(), grid[..., i], atol=1e-5)
    cos = 1 - (e1 * e2).sum(-1) / (np.linalg.norm(e1, axis=-1) * np.linalg.norm(e2, axis=-1))
    assert (grid[..., 3] >= grid[..., 2] - 1e-6).all() and (grid[..., 2] >= cos - 1e-5).all()
    assert not np.allclose(grid[..., 0], cos, atol=1e-3)  # pooling the embeddings changes the distance
    h, w = paris.label.shape
    px = patch_to_pixels(grid, h, w, paris.patch)
    assert px.shape == (h, w, 4) and (px.min((0, 1)) >= grid.min((0, 1)) - 1e-6).all()
    assert (px.max((0, 1)) <= grid.max((0, 1)) + 1e-6).all()


def test_pixel_context_statistics(paris):
    names, c = pixel_context(paris.x, paris.names)
    assert len(names) == len(set(names)) == 8 * len(CONTEXT_BASE) == c.shape[-1] and np.isfinite(c).all()
    assert c.shape[:2] == paris.label.shape
    v = np.abs(paris.x[..., paris.names.index("rcva")].astype(np.float32))

    def col(n):
        return c[..., names.index(n)]

    assert (col("c_rcva_max7") >= v - 1e-6).all() and (col("c_rcva_max15") >= col("c_rcva_max7")).all()
    assert (col("c_rcva_std7") >= 0).all() and col("c_rcva_std15").max() > 0
    np.testing.assert_allclose(col("c_rcva_anom31"), v - col("c_rcva_mean31"), atol=1e-5)
    small, cs = pixel_context(paris.x, paris.names, means=(), stds=(7, 15), maxs=(7, 15), anomaly=15)
    assert cs.shape[-1] == 5 * len(CONTEXT_BASE) and "c_sam_anom15" in small
