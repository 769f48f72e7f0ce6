"""Galileo encoder (Tseng et al. 2025), written from the published architecture to load the MIT weights.

The encoder turns multi-modal remote-sensing inputs into one token per (patch, timestep, channel group).
Only the parts needed for inference are here: FlexiViT patch embeddings whose 8x8 kernels are resized to any
patch size by a pseudo-inverse of the bicubic resize, four kinds of tokens (space-time, space, time, static)
with channel/time/month/space encodings, masked tokens dropped before attention, a final LayerNorm.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BASE_GSD_M = 10.0

SPACE_TIME_BANDS = ["VV", "VH", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "NDVI"]
SPACE_TIME_GROUPS: dict[str, list[int]] = {
    "S1": [0, 1],
    "S2_RGB": [2, 3, 4],
    "S2_Red_Edge": [5, 6, 7],
    "S2_NIR_10m": [8],
    "S2_NIR_20m": [9],
    "S2_SWIR": [10, 11],
    "NDVI": [12],
}
SPACE_GROUPS: dict[str, list[int]] = {"SRTM": [0, 1], "DW": list(range(2, 11)), "WC": list(range(11, 16))}
TIME_GROUPS: dict[str, list[int]] = {"ERA5": [0, 1], "TC": [2, 3, 4], "VIIRS": [5]}
STATIC_GROUPS: dict[str, list[int]] = {
    "LS": [0],
    "location": [1, 2, 3],
    "DW_static": list(range(4, 13)),
    "WC_static": list(range(13, 18)),
}


@dataclass(frozen=True)
class GalileoConfig:
    """Encoder hyper-parameters (the `model.encoder` block of the published config.json)."""

    embedding_size: int = 128
    depth: int = 4
    num_heads: int = 8
    mlp_ratio: float = 4.0
    max_sequence_length: int = 24
    max_patch_size: int = 8

    @classmethod
    def from_json(cls, path: Path) -> GalileoConfig:
        enc = json.loads(Path(path).read_text())["model"]["encoder"]
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in enc.items() if k in fields})


SIZES: dict[str, GalileoConfig] = {
    "nano": GalileoConfig(128, 4, 8, 4.0),
    "tiny": GalileoConfig(192, 12, 3, 4.0),
    "base": GalileoConfig(768, 12, 12, 4.0),
}


def sincos_1d(dim: int, pos: Tensor) -> Tensor:
    """Sine/cosine encoding of positions, frequencies 1/10000**(i/dim/2) as in the published model."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32, device=pos.device) / dim / 2.0)
    out = pos.reshape(-1).float()[:, None] * omega[None, :]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def spatial_encoding(dim: int, h: int, w: int, gsd_ratio: float, device: torch.device) -> Tensor:
    """2-D sine/cosine encoding of the token grid scaled by ground resolution: (h, w, dim)."""
    rows = torch.arange(h, device=device, dtype=torch.float32)
    cols = torch.arange(w, device=device, dtype=torch.float32)
    col_grid = cols[None, :].expand(h, w) * gsd_ratio  # the first half encodes the column index
    row_grid = rows[:, None].expand(h, w) * gsd_ratio
    emb = torch.cat([sincos_1d(dim // 2, col_grid), sincos_1d(dim // 2, row_grid)], dim=1)
    return emb.reshape(h, w, dim)


@lru_cache(maxsize=16)
def _resize_pinv(old: int, new: int) -> Tensor:
    """Pseudo-inverse of the bicubic (antialiased) resize old x old -> new x new, shape (new*new, old*old)."""
    basis = torch.eye(old * old, dtype=torch.float32).reshape(old * old, 1, old, old)
    resized = F.interpolate(basis, size=(new, new), mode="bicubic", antialias=True)
    return torch.linalg.pinv(resized.reshape(old * old, new * new))


class PatchEmbed(nn.Module):
    """Flexible patch embedding: one 8x8 conv kernel bank, resized to any patch size at run time."""

    def __init__(self, in_chans: int, dim: int, max_patch: int) -> None:
        super().__init__()
        self.max_patch = max_patch
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=max_patch, stride=max_patch)
        self._kernels: dict[int, Tensor] = {}

    def kernel(self, patch: int) -> Tensor:
        if patch == self.max_patch:
            return self.proj.weight
        if self.training or patch not in self._kernels:
            o, i = self.proj.weight.shape[:2]
            pinv = _resize_pinv(self.max_patch, patch).to(self.proj.weight)
            k = self.proj.weight.reshape(o, i, -1) @ pinv.T
            self._kernels[patch] = k.reshape(o, i, patch, patch)
        return self._kernels[patch]

    def forward(self, x: Tensor, patch: int) -> Tensor:
        """x: (N, H, W, C) channels last -> (N, H/p, W/p, dim)."""
        y = F.conv2d(x.permute(0, 3, 1, 2), self.kernel(patch), self.proj.bias, stride=patch)
        return y.permute(0, 2, 3, 1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        b, n, d = x.shape

        def split(t: Tensor) -> Tensor:
            return t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)

        mask = None if keep is None else keep[:, None, None, :]
        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class GalileoPatchEncoder(nn.Module):
    """Galileo encoder. Inputs are channels-last; masks are 1 where a group is absent/masked."""

    def __init__(self, cfg: GalileoConfig = SIZES["nano"]) -> None:
        super().__init__()
        self.cfg = cfg
        d, q = cfg.embedding_size, cfg.embedding_size // 4
        self.blocks = nn.ModuleList([Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.pos_embed = nn.Parameter(sincos_1d(q, torch.arange(cfg.max_sequence_length)), requires_grad=False)
        self.month_embed = nn.Embedding(12, q)
        self.s_t_channel_embed = nn.Parameter(torch.zeros(len(SPACE_TIME_GROUPS), q))
        self.sp_channel_embed = nn.Parameter(torch.zeros(len(SPACE_GROUPS), q))
        self.t_channel_embed = nn.Parameter(torch.zeros(len(TIME_GROUPS), q))
        self.st_channel_embed = nn.Parameter(torch.zeros(len(STATIC_GROUPS), q))
        p = cfg.max_patch_size
        self.space_time_embed = nn.ModuleDict({g: PatchEmbed(len(i), d, p) for g, i in SPACE_TIME_GROUPS.items()})
        self.space_embed = nn.ModuleDict({g: PatchEmbed(len(i), d, p) for g, i in SPACE_GROUPS.items()})
        self.time_embed = nn.ModuleDict({g: nn.Linear(len(i), d) for g, i in TIME_GROUPS.items()})
        self.static_embed = nn.ModuleDict({g: nn.Linear(len(i), d) for g, i in STATIC_GROUPS.items()})
        self.norm = nn.LayerNorm(d)

    # ---- token construction ------------------------------------------------------------------
    def _project(self, s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, patch):
        b, hh, ww, t, _ = s_t_x.shape
        h, w, d = hh // patch, ww // patch, self.cfg.embedding_size
        s_t_m = s_t_m[:, 0::patch, 0::patch][:, :h, :w]
        sp_m = sp_m[:, 0::patch, 0::patch][:, :h, :w]
        s_t_tok = []
        for gi, (name, idx) in enumerate(SPACE_TIME_GROUPS.items()):
            if bool((s_t_m[..., gi] == 0).any()):
                x = s_t_x[..., idx].permute(0, 3, 1, 2, 4).reshape(b * t, hh, ww, len(idx))
                y = self.space_time_embed[name](x, patch).reshape(b, t, h, w, d).permute(0, 2, 3, 1, 4)
            else:
                y = s_t_x.new_zeros(b, h, w, t, d)
            s_t_tok.append(y)
        sp_tok = []
        for gi, (name, idx) in enumerate(SPACE_GROUPS.items()):
            if bool((sp_m[..., gi] == 0).any()):
                sp_tok.append(self.space_embed[name](sp_x[..., idx], patch))
            else:
                sp_tok.append(sp_x.new_zeros(b, h, w, d))
        t_tok = [
            self.time_embed[n](t_x[..., i]) if bool((t_m[..., gi] == 0).any()) else t_x.new_zeros(b, t, d)
            for gi, (n, i) in enumerate(TIME_GROUPS.items())
        ]
        st_tok = [
            self.static_embed[n](st_x[..., i]) if bool((st_m[..., gi] == 0).any()) else st_x.new_zeros(b, d)
            for gi, (n, i) in enumerate(STATIC_GROUPS.items())
        ]
        tokens = (torch.stack(s_t_tok, -2), torch.stack(sp_tok, -2), torch.stack(t_tok, -2), torch.stack(st_tok, -2))
        return tokens, (s_t_m, sp_m, t_m, st_m)

    def _encodings(self, b, h, w, t, months, patch, input_res_m, device):
        """Additive encodings, each a quarter of the width: [channel | time position | month | space]."""
        q = self.cfg.embedding_size // 4
        n_st, n_sp, n_t, n_s = (len(SPACE_TIME_GROUPS), len(SPACE_GROUPS), len(TIME_GROUPS), len(STATIC_GROUPS))
        space = spatial_encoding(q, h, w, input_res_m * patch / BASE_GSD_M, device)  # (h, w, q)
        pos = self.pos_embed[:t]  # (t, q)
        month = self.month_embed(months.long())  # (b, t, q)
        s_t = torch.cat(
            [
                self.s_t_channel_embed[None, None, None, None].expand(b, h, w, t, n_st, q),
                pos[None, None, None, :, None].expand(b, h, w, t, n_st, q),
                month[:, None, None, :, None].expand(b, h, w, t, n_st, q),
                space[None, :, :, None, None].expand(b, h, w, t, n_st, q),
            ],
            dim=-1,
        )
        sp = torch.cat(
            [
                self.sp_channel_embed[None, None, None].expand(b, h, w, n_sp, q),
                space.new_zeros(b, h, w, n_sp, 2 * q),
                space[None, :, :, None].expand(b, h, w, n_sp, q),
            ],
            dim=-1,
        )
        tt = torch.cat(
            [
                self.t_channel_embed[None, None].expand(b, t, n_t, q),
                pos[None, :, None].expand(b, t, n_t, q),
                month[:, :, None].expand(b, t, n_t, q),
                space.new_zeros(b, t, n_t, q),
            ],
            dim=-1,
        )
        st = torch.cat([self.st_channel_embed[None].expand(b, n_s, q), space.new_zeros(b, n_s, 3 * q)], dim=-1)
        return s_t, sp, tt, st

    # ---- forward -----------------------------------------------------------------------------
    def forward(
        self,
        s_t_x: Tensor,
        sp_x: Tensor,
        t_x: Tensor,
        st_x: Tensor,
        s_t_m: Tensor,
        sp_m: Tensor,
        t_m: Tensor,
        st_m: Tensor,
        months: Tensor,
        patch_size: int,
        input_resolution_m: float = BASE_GSD_M,
    ) -> tuple[Tensor, ...]:
        """Returns (s_t tokens, space tokens, time tokens, static tokens, their four masks, months)."""
        (s_t, sp, tt, st), masks = self._project(s_t_x, sp_x, t_x, st_x, s_t_m, sp_m, t_m, st_m, patch_size)
        b, h, w, t, _, d = s_t.shape
        enc = self._encodings(b, h, w, t, months, patch_size, input_resolution_m, s_t.device)
        parts = [s_t + enc[0], sp + enc[1], tt + enc[2], st + enc[3]]
        shapes = [p.shape for p in parts]
        x = torch.cat([p.reshape(b, -1, d) for p in parts], dim=1)
        m = torch.cat([mm.reshape(b, -1) for mm in masks], dim=1) >= 1
        x = self._attend(x, m)
        out, start = [], 0
        for shape in shapes:
            n = math.prod(shape[1:-1])
            out.append(self.norm(x[:, start : start + n].reshape(shape)))
            start += n
        return (*out, *masks, months)

    def _attend(self, x: Tensor, masked: Tensor) -> Tensor:
        """Runs the blocks on the visible tokens only; masked tokens come back as zeros."""
        b, n, d = x.shape
        visible = ~masked
        counts = visible.sum(1)
        length = int(counts.max())
        order = torch.argsort(masked.to(torch.int8), dim=1, stable=True)[:, :length]  # visible first, in order
        tokens = x.gather(1, order[..., None].expand(b, length, d))
        keep = torch.arange(length, device=x.device)[None, :] < counts[:, None]
        all_full = bool(keep.all())
        for blk in self.blocks:
            tokens = blk(tokens, None if all_full else keep)
        tokens = tokens * keep[..., None]
        out = x.new_zeros(b, n, d)
        return out.scatter(1, order[..., None].expand(b, length, d), tokens)


def load_encoder(weights: Path, config: Path | None = None, size: str = "nano") -> GalileoPatchEncoder:
    """Builds the encoder from a config (or a known size) and loads a published state dict."""
    cfg = GalileoConfig.from_json(config) if config and Path(config).exists() else SIZES[size]
    model = GalileoPatchEncoder(cfg)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k.replace(".backbone", ""): v for k, v in state.items()}
    model.load_state_dict(state)
    return model.eval()
