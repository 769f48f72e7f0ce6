"""A small change head trained on Galileo patch tokens (issue #17: use the foundation model's embeddings, not only
their distances).

The per-pixel head sees the two dates' embeddings only through one cosine distance. This net reads both dates' full
128-d tokens on the patch grid (one token per 8 px patch): a 1 x 1 convolution learns which directions of change in
token space matter, two residual 3 x 3 convolutions add the neighbouring patches. It is trained against the patch
label (the fraction of changed valid pixels of each patch), so a fit on a few cities takes seconds on one CPU thread.
Studied under the protocol of docs/change-accuracy.md (`benchmarks/change_accuracy_s2.py`, round 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class TokenNetConfig:
    """Size and training schedule of the token net (a fixed number of steps bounds the fit time)."""

    width: int = 32
    steps: int = 400
    crop: int = 24  # patches a side of each random training crop
    batch: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_pos_weight: float = 50.0
    seed: int = 0
    inputs: str = "all"  # "all": both dates and their difference; "diff": the difference only (no appearance)
    norm: str = "train"  # "train": standardised with the training pairs' statistics; "image": with the image's own


@dataclass
class TokenSample:
    """One training pair on the patch grid: both dates' tokens (gh, gw, D), the changed fraction of each patch's valid
    pixels (gh, gw) and each patch's valid fraction (gh, gw), the patch's weight in the loss."""

    e1: np.ndarray
    e2: np.ndarray
    target: np.ndarray
    weight: np.ndarray


def token_inputs(e1: np.ndarray, e2: np.ndarray, inputs: str = "all") -> np.ndarray:
    """(gh, gw, D) tokens of both dates -> (C, gh, gw) float32: e1, e2 (only when `inputs` is "all"), e2 - e1,
    |e2 - e1| and the cosine distance of the two tokens."""
    if inputs not in ("all", "diff"):
        raise ValueError(f"token inputs {inputs!r}: expected 'all' or 'diff'")
    a, b = e1.astype(np.float32), e2.astype(np.float32)
    d = b - a
    cos = 1.0 - (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-8)
    parts = ([a, b] if inputs == "all" else []) + [d, np.abs(d), cos[..., None]]
    return np.concatenate(parts, -1).transpose(2, 0, 1).copy()


def _image_standardised(x: np.ndarray) -> np.ndarray:
    """Each channel standardised with the image's own patches (no labels: a user's scene allows the same)."""
    m = x.mean((1, 2), keepdims=True)
    s = x.std((1, 2), keepdims=True) + 1e-6
    return ((x - m) / s).astype(np.float32)


def patch_labels(label: np.ndarray, valid: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel label and valid mask (H, W) -> (changed fraction of the valid pixels, valid fraction) per patch, on the
    grid of ceil(H / patch) x ceil(W / patch) patches (row k covers pixels k * patch .. k * patch + patch - 1)."""
    h, w = label.shape
    gh, gw = -(-h // patch), -(-w // patch)
    lab = np.zeros((gh * patch, gw * patch), np.float32)
    val = np.zeros_like(lab)
    val[:h, :w] = valid
    lab[:h, :w] = label.astype(bool) & valid.astype(bool)
    nval = val.reshape(gh, patch, gw, patch).sum((1, 3))
    nchg = lab.reshape(gh, patch, gw, patch).sum((1, 3))
    return (nchg / np.maximum(nval, 1.0)).astype(np.float32), (nval / patch**2).astype(np.float32)


class _Net(nn.Module):
    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.inp = nn.Conv2d(channels, width, 1)
        self.blocks = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(2))
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for b in self.blocks:
            h = h + torch.relu(b(h))
        return self.out(h)[:, 0]


class TokenHead:
    """A fitted token net with the input standardisation of its training pairs."""

    def __init__(self, net: _Net, mean: np.ndarray, std: np.ndarray, cfg: TokenNetConfig) -> None:
        self.net, self.mean, self.std, self.cfg = net, mean, std, cfg

    def predict(self, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
        """Both dates' tokens (gh, gw, D) -> change probability per patch (gh, gw) float32."""
        x = token_inputs(e1, e2, self.cfg.inputs)
        if self.cfg.norm == "image":
            x = _image_standardised(x)
        x = (x - self.mean[:, None, None]) / self.std[:, None, None]
        with torch.no_grad():
            return torch.sigmoid(self.net(torch.from_numpy(x.astype(np.float32))[None]))[0].numpy()


def _dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips / rotations of the last two axes."""
    t = torch.rot90(t, k % 4, (-2, -1))
    return torch.flip(t, (-1,)) if k >= 4 else t


def fit_token_head(samples: Sequence[TokenSample], cfg: TokenNetConfig = TokenNetConfig()) -> TokenHead:
    """Trains the token net on random crops of the training pairs (each pair drawn equally often, a random dihedral
    transform per crop): BCE against the soft patch label, positives weighted by the pairs' unchanged / changed
    ratio, each patch by its valid fraction."""
    if not samples:
        raise ValueError("fit_token_head needs at least one training pair")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    xs = [token_inputs(s.e1, s.e2, cfg.inputs) for s in samples]
    if cfg.norm == "image":
        xs = [_image_standardised(x) for x in xs]
    ws = [s.weight.astype(np.float32) for s in samples]
    ys = [np.clip(s.target, 0, 1).astype(np.float32) for s in samples]
    flat = np.concatenate([x.reshape(x.shape[0], -1)[:, w.ravel() > 0] for x, w in zip(xs, ws, strict=True)], 1)
    mean = flat.mean(1)
    std = flat.std(1) + 1e-6
    xs = [((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32) for x in xs]
    pos = sum(float((w * y).sum()) for w, y in zip(ws, ys, strict=True))
    neg = sum(float((w * (1 - y)).sum()) for w, y in zip(ws, ys, strict=True))
    pos_weight = torch.tensor(min(cfg.max_pos_weight, neg / max(pos, 1e-6)))
    net = _Net(xs[0].shape[0], cfg.width)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def crop(i: int) -> list[torch.Tensor]:
        x, y, w = xs[i], ys[i], ws[i]
        gh, gw = y.shape
        c = cfg.crop
        r0, c0 = rng.integers(0, max(1, gh - c + 1)), rng.integers(0, max(1, gw - c + 1))
        parts = [x[:, r0 : r0 + c, c0 : c0 + c], y[r0 : r0 + c, c0 : c0 + c], w[r0 : r0 + c, c0 : c0 + c]]
        ph, pw = c - parts[1].shape[0], c - parts[1].shape[1]
        if ph or pw:  # a pair smaller than the crop: zero padding with zero weight
            parts = [np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)]) for a in parts]
        k = int(rng.integers(0, 8))
        return [_dihedral(torch.from_numpy(np.ascontiguousarray(a)), k) for a in parts]

    net.train()
    for _ in range(cfg.steps):
        parts = [crop(int(i)) for i in rng.integers(0, len(xs), cfg.batch)]
        x, y, w = (torch.stack([p[j] for p in parts]) for j in range(3))
        logit = net(x)
        bce = nn.functional.binary_cross_entropy_with_logits(logit, y, pos_weight=pos_weight, reduction="none")
        loss = (bce * w).sum() / w.sum().clamp(min=1e-6)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return TokenHead(net, mean.astype(np.float32), std.astype(np.float32), cfg)
