"""Sample data registry and `sentinelle data fetch`: mirror copy, sha256 checks, offline messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.errors import BadInputError, DataUnavailableError
from tools import data


def _cli(argv: list[str], monkeypatch) -> int:
    import assistant.cli as cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ["data"])
    return cli.main(argv)


def test_registry_lists_every_mirror_file_with_its_sha256():
    from assistant.config import get_settings

    mirror = Path(get_settings().data_mirror)
    registered = {e.relpath: e for e in data.load_registry() if e.kind == "geodata"}
    files = [p for p in mirror.rglob("*") if p.is_file() and p.parent != mirror]
    assert files, "the mirror is empty"
    for path in files:
        rel = path.relative_to(mirror).as_posix()
        assert rel in registered, f"{rel} missing from the registry"
        entry = registered[rel]
        assert entry.size == path.stat().st_size
    # hash a sample of real files from several folders (all of them would be slow)
    for rel in ["oscd-s2/images/paris/dates.txt", "rasterio-fixtures/RGB.byte.tif", "naip-timeseries/MANIFEST.md"]:
        assert data.sha256_of(mirror / rel) == registered[rel].sha256


def test_urls_are_pinned_raw_github_urls_and_author_made_files_are_mirror_only():
    entries = {e.relpath: e for e in data.load_registry()}
    pinned = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")
    for entry in entries.values():
        if entry.url is not None:
            assert pinned.match(entry.url), entry.url
    assert entries["oscd-s2/MANIFEST.md"].mirror_only
    assert entries["eo-learn-s2/derived/REFERENCE_SCENES_idx2_13band_assumed-georef.tif"].mirror_only
    assert entries["galileo-nano/reference_io.npz"].mirror_only
    paris = entries["oscd-s2/images/paris/dates.txt"].url
    assert "020f7702f235001ea0b2abac054651ab28aeeb0f" in paris
    assert "Onera%20Satellite%20Change%20Detection%20dataset%20-%20Images/paris/dates.txt" in paris
    assert entries["galileo-nano/encoder.pt"].url.endswith("/data/models/nano/encoder.pt")
    assert entries["presto/default_model.pt"].url.startswith("https://raw.githubusercontent.com/nasaharvest/presto/")


def test_fetch_from_mirror_copies_and_checks_files(tmp_data_dir):
    report = data.fetch(["rasterio-fixtures", "presto"])
    assert report.downloaded == []
    assert "rasterio-fixtures/RGB.byte.tif" in report.copied
    target = tmp_data_dir / "geodata" / "rasterio-fixtures" / "RGB.byte.tif"
    entry = next(e for e in data.load_registry() if e.relpath == "rasterio-fixtures/RGB.byte.tif")
    assert data.sha256_of(target) == entry.sha256
    assert (tmp_data_dir / "models" / "presto" / "default_model.pt").is_file()

    again = data.fetch(["rasterio-fixtures"])
    assert again.copied == [] and "rasterio-fixtures/RGB.byte.tif" in again.present

    # a damaged copy in the data dir is replaced, not trusted
    target.unlink()
    target.write_bytes(b"not a tiff")
    fixed = data.fetch(["rasterio-fixtures"])
    assert "rasterio-fixtures/RGB.byte.tif" in fixed.copied
    assert data.sha256_of(target) == entry.sha256


def test_unknown_set_name_is_a_user_error(tmp_data_dir):
    with pytest.raises(BadInputError, match="unknown data set"):
        data.fetch(["no-such-set"])


def test_offline_without_mirror_is_one_line_and_exit_2(tmp_data_dir, monkeypatch, capsys):
    monkeypatch.delenv("SENTINELLE_DATA_MIRROR", raising=False)
    monkeypatch.delenv("SENTINELLE_MODELS_MIRROR", raising=False)
    monkeypatch.setenv("SENTINELLE_OFFLINE", "1")
    assert _cli(["data", "fetch", "--only", "naip-timeseries", "--quiet"], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "MIRROR" in err[0]
    with pytest.raises(DataUnavailableError):
        data.geodata_path("naip-timeseries/m_4709963_se_14_1_20090818.tif")


def test_network_failure_is_one_line_not_a_traceback(tmp_data_dir, monkeypatch, capsys):
    import pooch
    import requests

    monkeypatch.delenv("SENTINELLE_DATA_MIRROR", raising=False)
    monkeypatch.delenv("SENTINELLE_MODELS_MIRROR", raising=False)
    monkeypatch.setenv("SENTINELLE_OFFLINE", "0")

    def no_network(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Name or service not known")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    assert _cli(["data", "fetch", "--only", "opengeos-cog-10m", "--quiet"], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and "cannot download opengeos-cog-10m/cog.tif" in err


def test_geodata_and_model_paths_come_from_the_mirror(tmp_data_dir):
    assert data.geodata_path("oscd-s2/images/paris").is_dir()
    assert data.model_path("galileo-nano/encoder.pt").is_file()
