"""`sentinelle change` on a real pair writes the four outputs; bad arguments give a one-line error."""

from __future__ import annotations

import json

from assistant.cli import main
from tools.data import geodata_path


def test_change_command_writes_outputs(tmp_path, capsys):
    root = geodata_path("levir-dsifn-samples/DSIFN")
    out = tmp_path / "out"
    rc = main(["change", str(root / "A" / "1_1.png"), str(root / "B" / "1_1.png"), "--out", str(out),
               "--method", "cva", "--quiet", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "cva" and summary["width"] == 256
    for name in ("score.tif", "mask.tif", "changes.geojson", "summary.json"):
        assert (out / name).exists()


def test_change_command_refuses_one_input(tmp_path, capsys):
    assert main(["change", "only-one", "--out", str(tmp_path)]) == 2
    assert "give two inputs" in capsys.readouterr().err
