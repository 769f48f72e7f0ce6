"""Supervised change head on bi-temporal Galileo features and full-resolution pixel features.

Per pixel: Galileo patch-embedding distances (cosine, L2, 3x3-patch context) and the features of
`tools.change.pixel` (band and index differences, raw and per-image standardised, at several scales; texture and
edge changes; EfficientNet-Lite0 map distances and after-date activations on RGB imagery). A gradient-boosted classifier
(HistGradientBoostingClassifier; logistic regression is the light alternative) is trained on class-balanced pixel
samples of the labelled development pairs: OSCD cities for Sentinel-2, LEVIR/DSIFN for very-high-resolution RGB.
Its probability map is smoothed over 5x5 pixels, and its threshold maximises F1 on out-of-fold predictions of the
training pairs (grouped 3-fold inside the training set), so the threshold never sees a pair the model is then
scored on. Leave-one-city-out (OSCD) / leave-one-image-out (VHR) validation measures it on pairs it never saw.
Weights go to `<data_dir>/models/`, never to git. This module is the model and its cache; fitting it is
`tools.change.training`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np
from scipy.ndimage import uniform_filter

from tools.core.settings import get_settings

VERSION = "4"  # 4: VHR features from 256 px tiles (3: 128 px); the Sentinel-2 head is unchanged
SAMPLES_POS, SAMPLES_NEG = 6000, 12000
PREDICT_BYTES = 1 << 20  # rows per model call: about this much float64 feature data (see ChangeHead.predict_proba)
SMOOTH = 5  # probability map averaged over SMOOTH x SMOOTH pixels before the threshold
THRESHOLD_FOLDS = 3
PER_PAIR_THRESHOLD = {"vhr": True, "s2": False}  # threshold objective, chosen leave-one-out (README)


@dataclass
class ChangeHead:
    """A trained head: classifier + feature names + decision threshold (+ its validation figures)."""

    kind: str
    regime: str
    feature_names: list[str]
    model: object
    threshold: float
    validation: dict = field(default_factory=dict)
    trained_on: list[str] = field(default_factory=list)
    version: str = VERSION
    smooth: int = SMOOTH

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N,) change probability, per pixel (no smoothing).

        Rows go to the model about PREDICT_BYTES of features at a time: the boosted trees walk all rows once per
        tree, and a block that stays in the CPU cache across the 150 trees predicted 1.8x (S2 head, 66 features)
        to 3x (VHR head, 149 features) faster than a whole batch of tiles; same values, rows are independent.
        """
        x = np.nan_to_num(x.astype(np.float32))
        out = np.empty(len(x), np.float32)
        rows = max(256, PREDICT_BYTES // (8 * max(1, x.shape[-1])))
        for i in range(0, len(x), rows):
            out[i : i + rows] = self.model.predict_proba(x[i : i + rows])[:, 1]
        return out

    def predict_map(self, x: np.ndarray) -> np.ndarray:
        """(..., H, W, F) features -> (..., H, W) smoothed change probability (the score the mask thresholds)."""
        return self.smooth_map(self.predict_proba(x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1]))

    def smooth_map(self, p: np.ndarray) -> np.ndarray:
        """(..., H, W) per-pixel probability -> the SMOOTH x SMOOTH average the threshold applies to."""
        if self.smooth > 1:
            size = (1,) * (p.ndim - 2) + (self.smooth, self.smooth)
            p = uniform_filter(p, size=size, mode="mirror")  # as np.pad(mode="reflect") pads tiles
        return p


def sparse_positions(n: int, stride: int) -> np.ndarray:
    """Every `stride`-th index of 0..n-1, and always the last one (the upsampling interpolates, never extrapolates)."""
    pos = np.arange(0, n, max(1, stride))
    return pos if pos[-1] == n - 1 else np.append(pos, n - 1)


def _linear_weights(pos: np.ndarray, n: int) -> np.ndarray:
    """(n, len(pos)) matrix interpolating values at the sorted positions `pos` linearly onto 0..n-1."""
    w = np.zeros((n, len(pos)), np.float32)
    if len(pos) == 1:
        w[:, 0] = 1.0
        return w
    x = np.arange(n)
    j = np.clip(np.searchsorted(pos, x, side="right") - 1, 0, len(pos) - 2)
    f = (x - pos[j]) / (pos[j + 1] - pos[j])
    w[x, j] = 1.0 - f
    w[x, j + 1] += f
    return w


def upsample_sparse(p: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """(B, k, k) values at `pos` x `pos` (`sparse_positions`) -> (B, n, n), bilinear; exact at the positions."""
    w = _linear_weights(pos, n)
    return np.einsum("ij,bjk,lk->bil", w, p.astype(np.float32), w, optimize=True)


HEAD_REGIMES = ("s2", "vhr")
"""The regimes a supervised head is trained for (labelled development pairs exist); others answer zero-shot."""


def head_path(regime: str) -> Path:
    return get_settings().models_dir / f"change_head_{regime}_v{VERSION}.joblib"


def cached_head(regime: str) -> ChangeHead | None:
    """The head stored for a regime as it is (any version); None when there is none or it cannot be read.
    Read once per file version (path, size, mtime): a question does not pay for unpickling the trees."""
    path = head_path(regime)
    try:
        st = path.stat()
    except OSError:
        return None
    return _read_head(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _read_head(path: Path, size: int, mtime_ns: int) -> ChangeHead | None:
    try:
        return joblib.load(path)
    except Exception:  # stale or corrupt cache: retrain or fall back
        return None


def usable_head(head: ChangeHead | None, regime: str, bm=None) -> ChangeHead | None:
    """`head` if it is of the current version, for `regime`, and fits the bands at hand (`bm`); else None."""
    if head is None or getattr(head, "version", None) != VERSION or head.regime != regime:
        return None
    if bm is not None and not head_fits(head, bm):
        return None
    return head


def load_head(regime: str, bm=None) -> ChangeHead | None:
    """The cached head for a regime if usable (`usable_head`); `tools.change.training` fits a missing one."""
    return usable_head(cached_head(regime), regime, bm)


def head_fits(head: ChangeHead, bm) -> bool:
    """A head applies only to the bands (and radiometric scaling) it was trained on."""
    needed = {n[2:] for n in head.feature_names if n.startswith("d_")}
    s2_features = any(n.startswith("dx_nd") for n in head.feature_names)
    return needed == set(bm.used_bands) and s2_features == (bm.scaling == "s2dn")
