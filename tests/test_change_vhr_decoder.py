"""The VHR change decoder on frozen EfficientNet-Lite0 maps, on real LEVIR pairs of the mirror."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tools.change.labels import ab_pairs, confusion, metrics, read_label
from tools.change.vhr_decoder import DecoderConfig, dihedral, encode_pair, fit_decoder, predict, read_rgb, undo_dihedral
from tools.core.errors import BadInputError
from tools.data import geodata_path

torch.set_num_threads(1)

TRAIN = ("test_121_0768_0256", "test_2_0000_0000", "test_55_0256_0000", "test_77_0512_0256")
HELD_OUT = "test_102_0512_0000"  # another source image than every training pair


@pytest.fixture(scope="module")
def levir():
    pairs = {p.name: p for p in ab_pairs(geodata_path("levir-dsifn-samples")) if p.dataset == "LEVIR"}
    return {n: (read_rgb(p.before), read_rgb(p.after), read_label(p)) for n, p in pairs.items()}


def test_dihedral_variants_are_undone_exactly(levir):
    a = levir[HELD_OUT][0]
    variants = [dihedral(a, k) for k in range(8)]
    assert len({v.tobytes() for v in variants}) == 8  # eight distinct views of a real image
    for k, v in enumerate(variants):
        assert np.array_equal(undo_dihedral(v, k), a)


def test_decoder_finds_buildings_on_a_pair_it_never_saw(levir):
    train = [encode_pair(*levir[n]) for n in TRAIN]
    net = fit_decoder(train, DecoderConfig(epochs=20, tta=False))
    before, after, label = levir[HELD_OUT]
    prob = predict(net, encode_pair(before, after, variants=1), tta=False)
    assert prob.shape == label.shape and np.isfinite(prob).all()
    f1 = metrics(confusion(prob > 0.5, label))["f1"]
    everything = metrics(confusion(np.ones_like(label), label))["f1"]  # calling every pixel changed: 0.34
    assert f1 > 0.55 and f1 > everything + 0.15, f1


def test_encoder_refuses_sizes_off_its_grid(levir):
    before, after, _ = levir[HELD_OUT]
    with pytest.raises(BadInputError):
        encode_pair(before[:250], after[:250])
