"""Sentinel-2 change accuracy on unseen cities under the protocol of docs/change-accuracy.md.

Each configuration (features, model, smoothing, threshold rule) is scored leave-one-city-out through
`tools.change.protocol.folds`: per fold, the model, the embedding PCA and the threshold (out-of-fold predictions of
3 grouped inner folds of the training cities) come from the training cities only. Features come from the per-pair
cache (`tools.change.feature_cache`, computed once). Splits: `decision` (the 7 first OSCD cities: settings are
chosen there) or `all` (the 11 cities: the reported figure). `--stride 2` scores every 2nd pixel of each city (decision
runs on a shared CPU; smoothing windows are then in strided pixels). Results are appended as JSON lines. Usage:

    SENTINELLE_DATA_DIR=/tmp/acc-data python benchmarks/change_accuracy_s2.py decision configs.json \
        [--stride 2] [--out results.jsonl]

configs.json: {"name": {"model": "hgb"|"logreg"|"token"|"blend"|"fcn", "iters": 150, "samples": [6000, 12000],
"smooth": 5, "emb": ["dates", "diff", "dpca", "ctx"], "emb_k": 8, "norm": "city",
"ctx": ["pixel", "pixel_small", "galileo", "galileo_tile"], "rules": ["prob", "quantile", "region", "minsize"]}}
("ctx": spatial-context features of tools/change/context.py; "model": "fcn" trains a small fully-convolutional net
on the per-image-standardised features instead, with "ch", "steps", "crop", "batch", "lr"; "model": "token" is the
token net of tools/change/token_head.py on the Galileo patch grid, "token_net": TokenNetConfig fields; "model": "blend"
with "parts": [cfg, cfg] and rule "blend" mixes two maps with a weight chosen on OOF; "token_feat": {TokenNetConfig
fields} adds the token net's out-of-fold map as one feature.)
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import label as cc_label
from scipy.ndimage import uniform_filter

from tools.change.context import galileo_context, patch_to_pixels, pixel_context
from tools.change.feature_cache import load_or_compute
from tools.change.labels import confusion, metrics
from tools.change.protocol import DECISION_CITIES, folds, summarize
from tools.change.token_head import TokenNetConfig, TokenSample, fit_token_head, patch_labels
from tools.change.training import _best_threshold, dev_pairs

STRIDE = 1
OUT = "change_accuracy_s2.jsonl"
ITEMS: list = []
CONTEXT: set = set()  # spatial-context feature kinds computed at load (those the configs ask for)
MEMO: dict = {}  # fitted predictors by (training groups, config): shared by configs that reuse a component
HEADS: dict = {}  # fitted token nets by (training groups, token-net settings): T1a/b/c share each fold's nets
TOKEN_MAPS: dict = {}  # this outer fold's token-net maps by group: out-of-fold for training groups (T1c feature)


@dataclass
class It:
    group: str
    label: np.ndarray
    valid: np.ndarray
    x: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    patch: int
    names: list
    ctx: dict | None = None  # spatial-context features by kind ("pixel", "galileo"): (h, w, K) float16, strided
    ptarget: np.ndarray | None = None  # changed fraction of each patch's valid pixels (full resolution), (gh, gw)
    pweight: np.ndarray | None = None  # valid fraction of each patch, (gh, gw)




def context_of(kind, f):
    """One kind of spatial-context features of a cached pair, (H, W, K) at full resolution."""
    h, w = f.label.shape
    if kind == "pixel":
        return pixel_context(f.x, f.names)[1]
    if kind == "pixel_small":  # windows that fit a tile's 8 px overlap
        return pixel_context(f.x, f.names, means=(), stds=(7, 15), maxs=(7, 15), anomaly=15)[1]
    if kind == "galileo":
        return patch_to_pixels(galileo_context(f.e1, f.e2)[1], h, w, f.patch)
    if kind == "galileo_tile":
        return patch_to_pixels(galileo_context_tiled(f.e1, f.e2), h, w, f.patch)
    raise ValueError(kind)


def load(cities=None):
    out = []
    for p in dev_pairs("s2"):
        if cities and p.name not in cities:
            continue
        f = load_or_compute(p, "s2")
        s = STRIDE
        ctx = None
        if CONTEXT:  # computed at full resolution, then strided: windows are in full-resolution pixels
            ctx = {k: context_of(k, f)[::s, ::s].astype(np.float16) for k in CONTEXT}
        pt, pw = patch_labels(f.label, f.valid, f.patch)
        out.append(
            It(
                p.name,
                f.label[::s, ::s],
                f.valid[::s, ::s],
                f.x[::s, ::s],
                f.e1.astype(np.float32),
                f.e2.astype(np.float32),
                f.patch / s,
                f.names,
                ctx,
                pt,
                pw,
            )
        )
    return out


def galileo_context_tiled(e1, e2, core=6, pad=1):
    """`galileo_context` as the pipeline's s2 tiles would compute it: each tile sees only its own 8 x 8 patches
    (6 x 6 core + 1 patch of overlap, edge patches repeated at the scene border); the cores are stitched."""
    import torch

    from tools.change.context import galileo_context_tiles

    gh, gw, _ = e1.shape
    rows = [np.clip(np.arange(r - pad, r + core + pad), 0, gh - 1) for r in range(0, gh, core)]
    cols = [np.clip(np.arange(c - pad, c + core + pad), 0, gw - 1) for c in range(0, gw, core)]
    win = [(r, c) for r in rows for c in cols]
    a = torch.from_numpy(np.stack([e1[np.ix_(r, c)] for r, c in win]).astype(np.float32))
    b = torch.from_numpy(np.stack([e2[np.ix_(r, c)] for r, c in win]).astype(np.float32))
    maps = galileo_context_tiles(a, b)
    out = np.zeros((gh, gw, len(maps)), np.float32)
    for k, (r, c) in enumerate(win):
        r0, c0 = r[pad], c[pad]
        h, w = min(core, gh - r0), min(core, gw - c0)
        tile = np.stack([m[k].numpy() for m in maps.values()], -1)
        out[r0 : r0 + h, c0 : c0 + w] = tile[pad : pad + h, pad : pad + w]
    return out


def up(grid, h, w, p):
    """(gh, gw, k) patch values -> (h, w, k) pixel values, bilinear at patch centres."""
    gh, gw, k = grid.shape
    ys = (np.arange(h) + 0.5) / p - 0.5
    xs = (np.arange(w) + 0.5) / p - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, gh - 1)
    y1 = np.clip(y0 + 1, 0, gh - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, gw - 1)
    x1 = np.clip(x0 + 1, 0, gw - 1)
    fy = np.clip(ys - np.floor(ys), 0, 1)[:, None, None]
    fx = np.clip(xs - np.floor(xs), 0, 1)[None, :, None]
    g = grid
    top = g[y0][:, x0] * (1 - fx) + g[y0][:, x1] * fx
    bot = g[y1][:, x0] * (1 - fx) + g[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


class Emb:
    """PCA of patch embeddings (both dates) fitted on training items only."""

    def __init__(self, train, k, kinds):
        from sklearn.decomposition import PCA

        e = np.concatenate(
            [np.concatenate([it.e1.reshape(-1, it.e1.shape[-1]), it.e2.reshape(-1, it.e2.shape[-1])]) for it in train]
        )
        rng = np.random.default_rng(0)
        e = e[rng.choice(len(e), min(len(e), 60000), replace=False)]
        self.pca = PCA(k, random_state=0).fit(e)
        d = np.concatenate([(it.e2 - it.e1).reshape(-1, it.e1.shape[-1]) for it in train])
        d = d[rng.choice(len(d), min(len(d), 60000), replace=False)]
        self.dpca = PCA(k, random_state=0).fit(d)
        self.kinds, self.k = kinds, k

    def grid(self, it):
        gh, gw, D = it.e1.shape

        def t(e, pca):
            return pca.transform(e.reshape(-1, D)).reshape(gh, gw, -1).astype(np.float32)

        p1, p2 = t(it.e1, self.pca), t(it.e2, self.pca)
        parts = []
        if "dates" in self.kinds:
            parts += [p1, p2]
        if "diff" in self.kinds:
            parts += [p2 - p1]
        if "dpca" in self.kinds:
            parts += [t(it.e2 - it.e1, self.dpca)]
        if "ctx" in self.kinds:  # 3x3 patch context of both dates
            parts += [uniform_filter(p1, (3, 3, 1), mode="nearest"), uniform_filter(p2, (3, 3, 1), mode="nearest")]
        return np.concatenate(parts, -1)

    def pixels(self, it):
        h, w = it.label.shape
        return up(self.grid(it), h, w, it.patch)


def features(it, emb, cfg):
    x = it.x
    if cfg.get("drop"):
        keep = [i for i, n in enumerate(it.names) if not any(n.startswith(d) for d in cfg["drop"])]
        x = x[..., keep]
    x = x.astype(np.float32)
    if cfg.get("norm") == "city":
        m = x[it.valid].mean(0)
        s = x[it.valid].std(0) + 1e-6
        x = (x - m) / s
    if emb is not None:
        x = np.concatenate([x, emb.pixels(it)], -1)
    if cfg.get("ctx"):
        x = np.concatenate([x] + [it.ctx[k].astype(np.float32) for k in cfg["ctx"]], -1)
    if cfg.get("token_feat") is not None:
        x = np.concatenate([x, TOKEN_MAPS[it.group][..., None]], -1)
    return x


def make_model(cfg):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if cfg.get("model", "hgb") == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=cfg.get("iters", 150),
            learning_rate=0.08,
            max_leaf_nodes=cfg.get("leaves", 31),
            min_samples_leaf=200,
            l2_regularization=1.0,
            random_state=0,
        )
    return make_pipeline(StandardScaler(), LogisticRegression(C=cfg.get("C", 1.0), max_iter=500))


def smooth(p, cfg):
    s = cfg.get("smooth", 5)
    return uniform_filter(p, s, mode="mirror") if s > 1 else p


def fit_model(train, cfg, seed=0):
    """A predictor (item -> probability map) fitted on `train`; memoised by training groups and config, except
    configs with the token-net feature (their features depend on the outer fold's out-of-fold maps)."""
    if cfg.get("token_feat") is not None:
        return _fit_model(train, cfg, seed)
    key = (tuple(sorted({it.group for it in train})), json.dumps(cfg, sort_keys=True), seed)
    if key not in MEMO:
        MEMO[key] = _cached(_fit_model(train, cfg, seed))
    return MEMO[key]


def _cached(prob):
    maps = {}

    def cached(it):
        if it.group not in maps:
            maps[it.group] = prob(it)
        return maps[it.group]

    return cached


def token_head(train, settings):
    """The token net (tools/change/token_head.py) fitted on the training items' patch grids, shared by configs."""
    key = (tuple(sorted({it.group for it in train})), json.dumps(settings, sort_keys=True))
    if key not in HEADS:
        samples = [TokenSample(it.e1, it.e2, it.ptarget, it.pweight) for it in train]
        HEADS[key] = fit_token_head(samples, TokenNetConfig(**settings))
    return HEADS[key]


def fit_token(train, cfg):
    """T1: the token net's patch probability, bilinear to the item's (strided) pixels, smoothed as configured."""
    head = token_head(train, cfg.get("token_net", {}))

    def prob(it):
        h, w = it.label.shape
        return smooth(up(head.predict(it.e1, it.e2)[..., None], h, w, it.patch)[..., 0], cfg)

    return prob


def token_oof(train, test, settings):
    """T1c's feature maps for one outer fold: each training group's from the inner net (3 grouped inner folds, as
    `fold_maps`) that did not see it, the held-out items' from the net fitted on all training items."""
    groups = sorted({it.group for it in train})
    tcfg = {"model": "token", "token_net": settings, "smooth": 1}
    maps = {}
    for fold in (groups[i::3] for i in range(3)):
        inner = fit_token([it for it in train if it.group not in fold], tcfg)
        maps.update({it.group: inner(it) for it in train if it.group in fold})
    full = fit_token(train, tcfg)
    maps.update({it.group: full(it) for it in test})
    return maps


def _fit_model(train, cfg, seed=0):
    if cfg.get("model") == "fcn":
        return fit_fcn(train, cfg, seed)
    if cfg.get("model") == "token":
        return fit_token(train, cfg)
    if cfg.get("model") == "blend":  # the parts' maps stacked; rule "blend" mixes them
        parts = [fit_model(train, c, seed) for c in cfg["parts"]]
        return lambda it: np.stack([f(it) for f in parts])
    rng = np.random.default_rng(seed)
    emb = Emb(train, cfg["emb_k"], cfg["emb"]) if cfg.get("emb") else None
    xs, ys = [], []
    npos, nneg = cfg.get("samples", (6000, 12000))
    for it in train:
        x = features(it, emb, cfg)
        pos = np.flatnonzero((it.label & it.valid).ravel())
        neg = np.flatnonzero((~it.label & it.valid).ravel())
        pos = rng.choice(pos, min(len(pos), npos), replace=False)
        neg = rng.choice(neg, min(len(neg), nneg), replace=False)
        idx = np.concatenate([pos, neg])
        xf = x.reshape(-1, x.shape[-1])
        xs.append(xf[idx])
        ys.append(it.label.ravel()[idx])
    m = make_model(cfg)
    m.fit(np.nan_to_num(np.concatenate(xs)), np.concatenate(ys))

    def prob(it):
        x = features(it, emb, cfg)
        p = m.predict_proba(np.nan_to_num(x.reshape(-1, x.shape[-1])))[:, 1].reshape(it.label.shape).astype(np.float32)
        return smooth(p, cfg)

    return prob


def fit_fcn(train, cfg, seed=0):
    """A small fully-convolutional net (1x1 reduction, residual dilated 3x3 convolutions, 1x1 output) trained on
    random crops of the training cities (each city drawn equally often), class-weighted BCE + soft dice loss, a fixed
    number of steps (the time bound); features standardised per image (cfg norm "city")."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ch, steps, crop, batch = cfg.get("ch", 16), cfg.get("steps", 300), cfg.get("crop", 64), cfg.get("batch", 8)
    dil = cfg.get("dilations", [1, 2, 4, 8])

    def feats(it):
        return np.clip(features(it, None, cfg), -6, 6).transpose(2, 0, 1).astype(np.float32)

    xs = [feats(it) for it in train]
    ys = [(it.label & it.valid).astype(np.float32) for it in train]
    vs = [it.valid.astype(np.float32) for it in train]
    pos = sum(float(y.sum()) for y in ys)
    tot = sum(float(v.sum()) for v in vs)
    pos_weight = torch.tensor(min(50.0, (tot - pos) / max(pos, 1.0)))

    class Net(nn.Module):
        def __init__(self, f):
            super().__init__()
            self.inp = nn.Conv2d(f, ch, 1)
            self.blocks = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=d, dilation=d) for d in dil)
            self.out = nn.Conv2d(ch, 1, 1)

        def forward(self, x):
            h = torch.relu(self.inp(x))
            for b in self.blocks:
                h = h + torch.relu(b(h))
            return self.out(h)[:, 0]

    net = Net(xs[0].shape[0])
    opt = torch.optim.Adam(net.parameters(), lr=cfg.get("lr", 3e-3), weight_decay=1e-4)

    def crop_of(i):
        x, y, v = xs[i], ys[i], vs[i]
        h, w = y.shape
        r = rng.integers(0, max(1, h - crop + 1))
        c = rng.integers(0, max(1, w - crop + 1))
        out = [a[..., r : r + crop, c : c + crop] for a in (x, y, v)]
        ph, pw = crop - out[1].shape[0], crop - out[1].shape[1]
        if ph or pw:
            out = [np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)]) for a in out]
        return out

    net.train()
    for _ in range(steps):
        parts = [crop_of(i) for i in rng.integers(0, len(xs), batch)]
        x = torch.from_numpy(np.stack([p[0] for p in parts]))
        y = torch.from_numpy(np.stack([p[1] for p in parts]))
        v = torch.from_numpy(np.stack([p[2] for p in parts]))
        logit = net(x)
        bce = nn.functional.binary_cross_entropy_with_logits(logit, y, pos_weight=pos_weight, reduction="none")
        bce = (bce * v).sum() / v.sum().clamp(min=1) / (1 + pos_weight) * 2
        pr = torch.sigmoid(logit) * v
        dice = 1 - (2 * (pr * y).sum() + 1) / (pr.sum() + y.sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()

    def prob(it):
        with torch.no_grad():
            p = torch.sigmoid(net(torch.from_numpy(feats(it))[None]))[0].numpy().astype(np.float32)
        return smooth(p, cfg)

    return prob


def region_mean(p, lo):
    """Each connected region of p > lo gets its mean probability (object-level smoothing)."""
    lab, n = cc_label(p > lo)
    if n == 0:
        return p
    s = np.bincount(lab.ravel(), p.ravel())
    c = np.bincount(lab.ravel())
    out = (s / np.maximum(c, 1))[lab]
    return np.where(lab > 0, out, p).astype(np.float32)


def drop_small(mask, m):
    """The mask without its connected regions (8-connected) of fewer than m pixels."""
    if m <= 1:
        return mask
    lab, n = cc_label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask
    size = np.bincount(lab.ravel())
    keep = size >= m
    keep[0] = False
    return keep[lab]


def decide(p, it, rule, th):
    if rule == "quantile":
        v = p[it.valid]
        return p > np.quantile(v, th) if len(v) else p > 1
    if rule == "region":
        return region_mean(p, th[0]) > th[1]
    if rule == "minsize":
        return drop_small(p > th[0], th[1])
    if rule == "blend":
        return (1 - th[0]) * p[0] + th[0] * p[1] > th[1]
    return p > th


def choose(probs, items, rule):
    labels = [it.label[it.valid] for it in items]
    if rule == "prob":
        return _best_threshold([p[it.valid] for p, it in zip(probs, items, strict=True)], labels)
    if rule == "blend":  # weight of the second part and threshold, together
        best, bf = (0.0, 0.5), -1
        for wt in (0.0, 0.25, 0.5, 0.75, 1.0):
            mix = [(1 - wt) * p[0] + wt * p[1] for p in probs]
            th = _best_threshold([m[it.valid] for m, it in zip(mix, items, strict=True)], labels)
            c = sum(confusion(m > th, it.label, it.valid) for m, it in zip(mix, items, strict=True))
            f = metrics(c)["f1"]
            if f > bf:
                best, bf = (wt, th), f
        return best
    if rule == "quantile":
        best, bf = 0.9, -1
        for q in np.concatenate([np.linspace(0.80, 0.99, 39), [0.992, 0.994, 0.996, 0.998]]):
            c = sum(
                confusion(decide(p, it, "quantile", q), it.label, it.valid) for p, it in zip(probs, items, strict=True)
            )
            f = metrics(c)["f1"]
            if f > bf:
                best, bf = q, f
        return best
    if rule == "minsize":  # minimum region size in full-resolution pixels, in strided pixels here
        best, bf = (0.5, 0), -1
        for th in np.linspace(0.1, 0.9, 17):
            for m_full in (0, 16, 36, 64, 100, 196):
                m = int(round(m_full / STRIDE**2))
                c = sum(
                    confusion(decide(p, it, "minsize", (th, m)), it.label, it.valid)
                    for p, it in zip(probs, items, strict=True)
                )
                f = metrics(c)["f1"]
                if f > bf:
                    best, bf = (float(th), m), f
        return best
    if rule == "region":
        best, bf = (0.3, 0.5), -1
        for lo in (0.2, 0.35, 0.5):
            for hi in np.linspace(0.3, 0.9, 13):
                if hi < lo:
                    continue
                c = sum(
                    confusion(decide(p, it, "region", (lo, hi)), it.label, it.valid)
                    for p, it in zip(probs, items, strict=True)
                )
                f = metrics(c)["f1"]
                if f > bf:
                    best, bf = (lo, hi), f
        return best


def fold_maps(cfg, train, test):
    """OOF maps of the training items (3 grouped inner folds) and the held-out maps of a full fit."""
    if cfg.get("token_feat") is not None:
        TOKEN_MAPS.clear()
        TOKEN_MAPS.update(token_oof(train, test, cfg["token_feat"]))
    groups = sorted({it.group for it in train})
    folds = [groups[i::3] for i in range(3)]
    probs, items = [], []
    for fold in folds:
        inner = fit_model([it for it in train if it.group not in fold], cfg)
        for it in train:
            if it.group in fold:
                probs.append(inner(it))
                items.append(it)
    model = fit_model(train, cfg)
    return probs, items, [model(it) for it in test]


def run(name, cfg, split, rules=("prob",)):
    t0 = time.perf_counter()
    items = ITEMS if split == "all" else [it for it in ITEMS if it.group in DECISION_CITIES]
    per_rule = {r: {} for r in rules}
    chosen = {}
    for g, train, test in folds(items):
        assert all(it.group != g for it in train)
        probs, oof_items, held = fold_maps(cfg, train, test)
        for rule in rules:
            th = choose(probs, oof_items, rule)
            chosen.setdefault(rule, {})[g] = th
            per_rule[rule][g] = sum(
                confusion(decide(p, it, rule, th), it.label, it.valid) for p, it in zip(held, test, strict=True)
            )
    rows = []
    for rule in rules:
        r = summarize(per_rule[rule])
        row = {
            "name": name + "/" + rule,
            "split": split,
            "stride": STRIDE,
            "cfg": cfg,
            "f1": round(r["f1"], 4),
            "f1_wo_ad": round(r["f1_without_abudhabi"], 4),
            "f1_added": r.get("f1_added"),
            "p": round(r["precision"], 3),
            "r": round(r["recall"], 3),
            "groups": {g: round(v["f1"], 3) for g, v in r["groups"].items()},
            "chosen": {g: np.round(np.asarray(th, float), 3).tolist() for g, th in chosen[rule].items()},
            "s": round(time.perf_counter() - t0),
        }
        print(json.dumps(row), flush=True)
        with open(OUT, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        rows.append(row)
    return rows


def main() -> None:
    global STRIDE, OUT, ITEMS, CONTEXT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", choices=("decision", "all"))
    ap.add_argument("configs")
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    STRIDE, OUT = a.stride, a.out
    import torch

    torch.set_num_threads(1)
    configs = json.loads(open(a.configs).read())
    CONTEXT = {k for c in configs.values() for k in c.get("ctx", [])}
    ITEMS = load(None if a.split == "all" else DECISION_CITIES)
    for name, cfg in configs.items():
        run(name, cfg, a.split, tuple(cfg.pop("rules", ["prob"])))


if __name__ == "__main__":
    main()
