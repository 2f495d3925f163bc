"""practical3.data.download: no network; the reachability check and the client call are seams."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from practical3.base.errors import DownloadError
from practical3.base.paths import project_root
from practical3.data import download as dl
from practical3.data import layout, sources

IMAGE = "covid_1.png"


def layout_members(nesting: int) -> list[str]:
    """One image per part and split, with the part folder repeated ``nesting`` times."""
    members = []
    for name in layout.PARTS.values():
        part = "/".join([name] * nesting)
        members += [f"{part}/{s}/COVID-19/{layout.IMAGES_DIR}/{IMAGE}" for s in layout.SPLITS]
    return members


def make_zip(path: Path, members: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            zf.writestr(name, b"png")
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Not in a Kaggle notebook; network "up"; any real client call fails the test."""
    monkeypatch.setattr(sources, "KAGGLE_INPUT", tmp_path / "no-kaggle-input")
    monkeypatch.setattr(dl, "_reachable", lambda: True)

    def no_fetch(client, partial):
        raise AssertionError("client called")

    monkeypatch.setattr(dl, "_fetch", no_fetch)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME", "KAGGLE_USERNAME",
                "KAGGLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def fetch_returning(monkeypatch, make):
    """Make the client seam build its result with ``make(partial)``."""
    monkeypatch.setattr(dl, "_fetch", lambda client, partial: make(partial))


def test_import_does_not_import_clients():
    code = ("import practical3, practical3.data.download, sys; "
            "assert 'kaggle' not in sys.modules and 'kagglehub' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=project_root())


def test_missing_credentials_kaggle_client(monkeypatch, no_credentials, tmp_path):
    monkeypatch.delitem(sys.modules, "kaggle", raising=False)
    with pytest.raises(DownloadError, match="kaggle.com/settings") as err:
        dl.download(tmp_path / "raw", client="kaggle")
    assert "~/.kaggle/kaggle.json" in str(err.value) and "KAGGLE_USERNAME" in str(err.value)
    assert "kaggle" not in sys.modules


def test_cli_without_credentials_prints_one_message_and_exits_1(no_credentials, tmp_path,
                                                                capsys):
    from practical3.cli import main

    assert main(["download", "--dest", str(tmp_path / "raw"), "--client", "kaggle"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("practical3 download: error:") and "kaggle.json" in captured.err
    assert "Traceback" not in captured.err and not (tmp_path / "raw").exists()


@pytest.mark.parametrize("where", ["token_env", "access_token", "config_dir", "dot_kaggle",
                                   "dot_config", "user_key"])
def test_credential_sources(monkeypatch, no_credentials, tmp_path, where):
    home = no_credentials
    files = {"access_token": home / ".kaggle" / "access_token",
             "config_dir": tmp_path / "cfg" / "kaggle.json",
             "dot_kaggle": home / ".kaggle" / "kaggle.json",
             "dot_config": home / ".config" / "kaggle" / "kaggle.json"}
    if where in files:
        files[where].parent.mkdir(parents=True)
        files[where].write_text("{}")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    if where == "token_env":
        monkeypatch.setenv("KAGGLE_API_TOKEN", "t")
    if where == "user_key":
        monkeypatch.setenv("KAGGLE_USERNAME", "u")
        monkeypatch.setenv("KAGGLE_KEY", "k")
    expected = {"token_env": "$KAGGLE_API_TOKEN", "user_key": "$KAGGLE_USERNAME and $KAGGLE_KEY"}
    assert dl.credential_source() == expected.get(where, str(files.get(where)))


def test_no_credentials_found(no_credentials):
    assert dl.credential_source() is None


def test_unreachable_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setattr(dl, "_reachable", lambda: False)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="cannot reach Kaggle") as err:
        dl.download(tmp_path / "raw")
    assert time.perf_counter() - start < 1.0
    assert dl.PAGE in str(err.value) and "--data" in str(err.value)
    assert not (tmp_path / "raw").exists()


def test_hanging_client_times_out(monkeypatch, tmp_path):
    release = threading.Event()
    fetch_returning(monkeypatch, lambda partial: release.wait(10))
    start = time.perf_counter()
    try:
        with pytest.raises(DownloadError, match="did not finish in 0.3 s"):
            dl.download(tmp_path / "raw", timeout=0.3)
        assert time.perf_counter() - start < 2.0
    finally:
        release.set()
    assert not (tmp_path / "raw").exists()
    assert (tmp_path / ".raw.partial").is_dir()  # kept for the next try to resume


def test_complete_marker_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.setattr(dl, "_reachable", lambda: pytest.fail("network checked"))
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / sources.COMPLETE_MARKER).write_text("{}")
    assert dl.download(dest, client="kaggle") == dest


def test_kaggle_notebook_input_used_as_is(monkeypatch, tmp_path):
    mount = tmp_path / "kaggle-input"
    make_zip(tmp_path / "a.zip", layout_members(nesting=2))
    dl.extract_zip(tmp_path / "a.zip", mount)
    monkeypatch.setattr(sources, "KAGGLE_INPUT", mount)
    assert dl.download(tmp_path / "raw") == mount
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("nesting", [2, 1])
def test_zip_extracted_and_marked_complete(monkeypatch, tmp_path, nesting):
    members = layout_members(nesting)
    fetch_returning(monkeypatch, lambda partial: make_zip(partial / "covidqu.zip", members))
    dest = dl.download(tmp_path / "raw", client="kagglehub")
    assert all((dest / name).is_file() for name in members)
    marker = json.loads((dest / sources.COMPLETE_MARKER).read_text())
    assert marker == {"handle": layout.KAGGLE_HANDLE, "version": layout.KAGGLE_VERSION,
                      "files": len(members), "bytes": 3 * len(members), "client": "kagglehub"}
    assert not (tmp_path / ".raw.partial").exists()


def test_folder_from_client_is_moved_into_dest(monkeypatch, tmp_path):
    def make(partial):
        folder = partial / "datasets" / "covidqu" / "versions" / "7"
        return dl.extract_zip(make_zip(partial / "x.zip", layout_members(2)), folder)

    fetch_returning(monkeypatch, make)
    dest = dl.download(tmp_path / "raw")
    assert dl.missing_parts(dest) == []
    assert (dest / sources.COMPLETE_MARKER).is_file()


@pytest.mark.parametrize("evil", ["../evil.png", "/tmp/practical3-evil.png"])
def test_zip_slip_rejected(monkeypatch, tmp_path, evil):
    members = [*layout_members(2), evil]
    fetch_returning(monkeypatch, lambda partial: make_zip(partial / "covidqu.zip", members))
    with pytest.raises(DownloadError, match="refusing") as err:
        dl.download(tmp_path / "raw")
    assert repr(evil) in str(err.value)
    assert not (tmp_path / "raw").exists()
    assert not (tmp_path / ".raw.partial" / "evil.png").exists()
    assert not Path("/tmp/practical3-evil.png").exists()


def test_bad_zip_rejected(monkeypatch, tmp_path):
    def make(partial):
        (partial / "covidqu.zip").write_bytes(b"PK\x03\x04 truncated")
        return partial / "covidqu.zip"

    fetch_returning(monkeypatch, make)
    with pytest.raises(DownloadError, match="covidqu.zip is corrupt.*delete it and retry"):
        dl.download(tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_missing_part_not_marked_complete(monkeypatch, tmp_path):
    members = [m for m in layout_members(2) if m.startswith(layout.PARTS["lung"])]
    fetch_returning(monkeypatch, lambda partial: make_zip(partial / "covidqu.zip", members))
    with pytest.raises(DownloadError, match=layout.PARTS["infection"]):
        dl.download(tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_non_empty_dest_without_marker_refused(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "stray.txt").write_text("x")
    with pytest.raises(DownloadError, match="no .practical3-complete marker"):
        dl.download(tmp_path / "raw")


@pytest.mark.parametrize(("raised", "message"), [
    (SystemExit(1), "could not authenticate"),
    (RuntimeError("403 Forbidden"), "failed: RuntimeError: 403 Forbidden"),
    (ImportError("No module named 'six'"), "pip install -e ."),
])
def test_client_errors_explained(monkeypatch, tmp_path, raised, message):
    def fail(partial):
        raise raised

    fetch_returning(monkeypatch, fail)
    with pytest.raises(DownloadError, match=message):
        dl.download(tmp_path / "raw")


def test_requests_connection_error_explained(monkeypatch, tmp_path):
    requests = pytest.importorskip("requests")

    def fail(partial):
        raise requests.exceptions.ConnectionError("Name or service not known")

    fetch_returning(monkeypatch, fail)
    with pytest.raises(DownloadError, match="cannot reach Kaggle.*by hand"):
        dl.download(tmp_path / "raw")


def test_kaggle_client_help_text_swallowed(monkeypatch, no_credentials, tmp_path, capsys):
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")

    def fail(partial):
        print("Authentication required to call the Kaggle API.")
        raise SystemExit(1)

    fetch_returning(monkeypatch, fail)
    with pytest.raises(DownloadError, match="authenticate with .KAGGLE_USERNAME"):
        dl.download(tmp_path / "raw", client="kaggle")
    print("after")
    assert capsys.readouterr().out == "after\n"
