"""A small change decoder trained on frozen EfficientNet-Lite0 maps of both dates (very-high-resolution RGB).

The shipped VHR head classifies each pixel from hand-made features; a building's change is a shape, which a
per-pixel model only sees through fixed windows. This decoder learns the shape: the same frozen encoder (the
EfficientNet-Lite0 of `tools.image_features`, loaded and fed through `tools.change.pixel`) maps both dates at
strides 2/4/8/16; at each stride |fA - fB| and fB are reduced by a 1 x 1 conv, then merged from coarse to fine,
U-Net style, into one logit at stride 2 (optionally refined at full resolution with both dates' RGB), bilinearly
upsampled to pixels. Only the decoder is trained (BCE + dice, Adam), so the encoder's maps of the 8 dihedral
variants of each training pair are computed once and an epoch costs seconds on one CPU thread.

Scored under the VHR round protocol of docs/change-accuracy.md (`benchmarks/change_accuracy_vhr.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tools.change.pixel import effnet_maps, net_input
from tools.core.errors import BadInputError
from tools.rasters.open import open_raster, read_errors

STAGES = {"s2": 0, "s4": 2, "s8": 4, "s16": 10}  # EfficientNet-Lite0 block ending each stride-2/4/8/16 stage
CHANNELS = {"s2": 16, "s4": 24, "s8": 40, "s16": 112}
ORDER = ("s16", "s8", "s4", "s2")  # coarse to fine
DIHEDRAL = 8


@dataclass(frozen=True)
class DecoderConfig:
    """What a fit uses: decoder widths (per stride, coarse to fine), full-resolution refinement, epochs, ..."""

    widths: tuple[int, int, int, int] = (32, 24, 16, 8)
    full_res: bool = False
    epochs: int = 30
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dice: float = 1.0  # weight of the dice term beside BCE
    tta: bool = True  # predict as the mean over the 8 dihedral variants
    seed: int = 0


@dataclass
class Encoded:
    """Frozen encoder maps of one pair in its 8 dihedral variants: per stride (8, 2C, h, w) float16 (|fA - fB|, fB),
    the net inputs (8, 6, H, W) float16 of both dates, and the label variants (8, H, W) bool (None when unknown)."""

    maps: dict[str, np.ndarray]
    rgb: np.ndarray
    label: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32 of the first three bands of an image file (LEVIR/DSIFN PNG)."""
    with open_raster(path) as src, read_errors(Path(path).name):
        if src.count < 3:
            raise BadInputError(f"{Path(path).name} has {src.count} band(s); the decoder needs RGB")
        return src.read([1, 2, 3]).transpose(1, 2, 0).astype(np.float32)


def dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Variant k (0..7) of an (H, W, ...) array: k % 4 quarter turns, then a left-right flip when k >= 4."""
    a = np.rot90(a, k % 4, axes=(0, 1))
    return np.ascontiguousarray(a[:, ::-1] if k >= 4 else a)


def undo_dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Inverse of `dihedral` for an (H, W, ...) array."""
    a = a[:, ::-1] if k >= 4 else a
    return np.ascontiguousarray(np.rot90(a, -(k % 4), axes=(0, 1)))


def _standardised(rgb: np.ndarray) -> np.ndarray:
    flat = rgb.reshape(-1, 3)
    return net_input(rgb, flat.mean(0), flat.std(0) + 1e-3).astype(np.float32)


def encode_pair(before: np.ndarray, after: np.ndarray, label: np.ndarray | None = None, variants: int = DIHEDRAL
                ) -> Encoded:
    """(H, W, 3) RGB of both dates (any radiometry: each date is standardised on its own pixels) -> `Encoded`.

    H and W must be multiples of 16 (the encoder's stride-16 grid)."""
    if before.shape != after.shape or before.ndim != 3 or before.shape[-1] != 3:
        raise BadInputError(f"the two dates differ in shape or are not RGB: {before.shape} vs {after.shape}")
    h, w = before.shape[:2]
    if h % 16 or w % 16:
        raise BadInputError(f"image size {h} x {w} is not a multiple of 16")
    za, zb = _standardised(before), _standardised(after)
    xa = np.stack([dihedral(za, k) for k in range(variants)])
    xb = np.stack([dihedral(zb, k) for k in range(variants)])
    fm = effnet_maps(np.concatenate([xa, xb]), STAGES)
    maps = {}
    for s, m in fm.items():
        ma, mb = m[:variants], m[variants:]
        maps[s] = torch.cat([(ma - mb).abs(), mb], 1).numpy().astype(np.float16)
    rgb = np.concatenate([xa, xb], -1).transpose(0, 3, 1, 2).astype(np.float16)
    lab = None if label is None else np.stack([dihedral(label, k) for k in range(variants)])
    return Encoded(maps, rgb, lab)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ChangeDecoder(nn.Module):
    """Reduces (|fA - fB|, fB) per stride with 1 x 1 convs and merges coarse to fine; one change logit per pixel."""

    def __init__(self, widths: tuple[int, int, int, int] = (32, 24, 16, 8), full_res: bool = False) -> None:
        super().__init__()
        self.full_res = full_res
        self.reduce = nn.ModuleDict(
            {
                s: nn.Sequential(nn.Conv2d(2 * CHANNELS[s], w, 1), nn.ReLU(inplace=True))
                for s, w in zip(ORDER, widths, strict=True)
            }
        )
        self.top = _block(widths[0], widths[0])
        self.merge = nn.ModuleDict(
            {s: _block(widths[i] + widths[i + 1], widths[i + 1]) for i, s in enumerate(ORDER[1:])}
        )
        self.fine = _block(widths[-1] + 6, 8) if full_res else None
        self.out = nn.Conv2d(8 if full_res else widths[-1], 1, 1)

    def forward(self, maps: dict[str, torch.Tensor], rgb: torch.Tensor) -> torch.Tensor:
        """Maps per stride (N, 2C, h, w) and net inputs (N, 6, H, W) -> logits (N, H, W)."""
        x = self.top(self.reduce["s16"](maps["s16"]))
        for s in ORDER[1:]:
            r = self.reduce[s](maps[s])
            x = F.interpolate(x, size=r.shape[-2:], mode="bilinear", align_corners=False)
            x = self.merge[s](torch.cat([x, r], 1))
        x = F.interpolate(x, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        if self.fine is not None:
            x = self.fine(torch.cat([x, rgb], 1))
        return self.out(x)[:, 0]


def _batch(data: list[Encoded], idx: list[tuple[int, int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    maps = {s: torch.from_numpy(np.stack([data[i].maps[s][k] for i, k in idx]).astype(np.float32)) for s in ORDER}
    rgb = torch.from_numpy(np.stack([data[i].rgb[k] for i, k in idx]).astype(np.float32))
    return maps, rgb


def _loss(logits: torch.Tensor, y: torch.Tensor, dice_weight: float) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    inter = (p * y).sum((1, 2))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2)) + y.sum((1, 2)) + 1)
    return bce + dice_weight * dice.mean()


def fit_decoder(data: list[Encoded], config: DecoderConfig = DecoderConfig()) -> ChangeDecoder:
    """Trains a decoder on labelled `Encoded` pairs (each dihedral variant is a sample); the encoder stays frozen."""
    if not data or any(d.label is None for d in data):
        raise BadInputError("fit_decoder needs labelled pairs")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = ChangeDecoder(config.widths, config.full_res)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    samples = [(i, k) for i, d in enumerate(data) for k in range(len(d.rgb))]
    steps = config.epochs * -(-len(samples) // config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.15)
    net.train()
    for _ in range(config.epochs):
        order = rng.permutation(len(samples))
        for j in range(0, len(order), config.batch):
            idx = [samples[o] for o in order[j : j + config.batch]]
            maps, rgb = _batch(data, idx)
            y = torch.from_numpy(np.stack([data[i].label[k] for i, k in idx]).astype(np.float32))
            loss = _loss(net(maps, rgb), y, config.dice)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net


def predict(net: ChangeDecoder, enc: Encoded, tta: bool = True) -> np.ndarray:
    """(H, W) change probability of a pair: variant 0 alone, or the mean over its dihedral variants mapped back."""
    ks = list(range(len(enc.rgb))) if tta else [0]
    with torch.inference_mode():
        logits = net(*_batch([enc], [(0, k) for k in ks]))
    probs = torch.sigmoid(logits).numpy()
    return np.mean([undo_dihedral(p, k) for p, k in zip(probs, ks, strict=True)], axis=0).astype(np.float32)
