"""Download COVID-QU-Ex (pinned Kaggle version) into ``data/raw``, safely and in bounded time.

The client works in ``.<out_dir>.partial`` beside ``out_dir``, kept after a failure so the next try
resumes; the verified folder is marked complete and then renamed to ``out_dir`` in one step, so
``out_dir`` never looks complete unless it is. Kaggle clients are imported only when needed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from practical3.base.errors import DownloadError
from practical3.data import layout, sources
from practical3.data.index import find_part_dir

# The same pinned version as each client spells it.
HANDLES = {"kagglehub": f"{layout.KAGGLE_HANDLE}/versions/{layout.KAGGLE_VERSION}",
           "kaggle": f"{layout.KAGGLE_HANDLE}/{layout.KAGGLE_VERSION}"}
PAGE = f"https://www.kaggle.com/datasets/{layout.KAGGLE_HANDLE}"
KAGGLE_HOST = ("api.kaggle.com", 443)  # where both clients send their requests
REACH_TIMEOUT = 5.0
BY_HAND = (f"download the archive by hand from {PAGE} and unzip it into {{out_dir}}, "
           "or point --data at a copy on disk")
CREDENTIALS_FIX = (
    "Create an API token at https://www.kaggle.com/settings (API section), then either save "
    "kaggle.json as ~/.kaggle/kaggle.json (chmod 600) or in $KAGGLE_CONFIG_DIR, or set "
    "KAGGLE_API_TOKEN (or write the token to ~/.kaggle/access_token), or set KAGGLE_USERNAME "
    "and KAGGLE_KEY. Or use --client kagglehub, which downloads public datasets without them."
)


def download(out_dir: str | Path = "data/raw", client: str = "kagglehub",
             timeout: float = 600.0) -> Path:
    """Return a complete copy of COVID-QU-Ex, downloading it into ``out_dir`` only when needed.

    A Kaggle notebook's ``/kaggle/input`` copy is used as is. kagglehub downloads public
    datasets anonymously; the ``kaggle`` client needs credentials, checked before its import.
    """
    if client not in HANDLES:
        raise DownloadError(f"unknown client {client!r}: use one of {', '.join(HANDLES)}")
    out_dir = Path(out_dir)
    if not missing_parts(sources.KAGGLE_INPUT):
        return sources.KAGGLE_INPUT
    if (out_dir / sources.COMPLETE_MARKER).is_file():
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DownloadError(f"{out_dir} holds files but no {sources.COMPLETE_MARKER} marker: "
                            "delete or move it and retry, or point --data at it")
    if client == "kaggle" and credential_source() is None:
        raise DownloadError(f"the kaggle client found no Kaggle credentials. {CREDENTIALS_FIX}")
    if not _reachable():
        raise DownloadError(f"cannot reach Kaggle ({KAGGLE_HOST[0]}): check the network, or "
                            + BY_HAND.format(out_dir=out_dir))
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        fetched = _run_bounded(lambda: _fetch(client, partial), timeout, quiet=client == "kaggle")
    except (Exception, SystemExit) as exc:
        raise _explain(exc, out_dir) from exc
    if fetched is None:
        raise DownloadError(f"the {client} download did not finish in {timeout:g} s (the partial "
                            f"download in {partial} resumes next time): retry with a larger "
                            f"--timeout, or {BY_HAND.format(out_dir=out_dir)}")
    root = extract_zip(fetched, partial / "extracted") if fetched.is_file() else fetched
    missing = missing_parts(root)
    if missing:
        raise DownloadError(f"{fetched} lacks {' and '.join(missing)} with "
                            f"{'/'.join(layout.SPLITS)} folders: delete {partial} and retry")
    files, size = _count_files(root)
    marker = {"handle": layout.KAGGLE_HANDLE, "version": layout.KAGGLE_VERSION,
              "files": files, "bytes": size, "client": client}
    (root / sources.COMPLETE_MARKER).write_text(json.dumps(marker, indent=2))
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked above
    os.replace(root, out_dir)
    shutil.rmtree(partial, ignore_errors=True)
    return out_dir


def credential_source() -> str | None:
    """Where the ``kaggle`` client would find credentials, in its own order; None if nowhere."""
    home = Path.home()
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "$KAGGLE_API_TOKEN"
    for token in (home / ".kaggle" / "access_token", home / ".kaggle" / "access_token.txt"):
        if token.is_file():
            return str(token)
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    folders = [os.environ.get("KAGGLE_CONFIG_DIR"), home / ".kaggle", config_home / "kaggle"]
    for folder in filter(None, folders):
        if (Path(folder) / "kaggle.json").is_file():
            return str(Path(folder) / "kaggle.json")
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "$KAGGLE_USERNAME and $KAGGLE_KEY"
    return None


def missing_parts(root: str | Path) -> list[str]:
    """Folder names of ``layout.PARTS`` not found under ``root`` with all three splits."""
    found = {part: find_part_dir(root, part) for part in layout.PARTS}
    return [layout.PARTS[part] for part, folder in found.items()
            if folder is None or not all((folder / s).is_dir() for s in layout.SPLITS)]


def extract_zip(archive: Path, out_dir: Path) -> Path:
    """Extract ``archive`` into ``out_dir``, refusing any member that would land outside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                target = (out_dir / name).resolve()
                if Path(name).is_absolute() or not target.is_relative_to(out_dir.resolve()):
                    raise DownloadError(f"{archive} holds member {name!r}, which would be "
                                        f"written outside {out_dir}: refusing to extract it")
            zf.extractall(out_dir)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(f"{archive} is corrupt or truncated ({exc}): "
                            "delete it and retry the download") from exc
    return out_dir


def _reachable(address: tuple[str, int] = KAGGLE_HOST, timeout: float = REACH_TIMEOUT) -> bool:
    """True when a TCP connection to Kaggle opens within ``timeout`` seconds (a seam for tests)."""
    try:
        socket.create_connection(address, timeout=timeout).close()
    except OSError:
        return False
    return True


def _fetch(client: str, partial: Path) -> Path:
    """Run one Kaggle client (a seam for tests); return the zip or folder it made in ``partial``."""
    if client == "kaggle":
        from kaggle.api.kaggle_api_extended import KaggleApi  # authenticates and prints on import

        api = KaggleApi()
        api.authenticate()
        api.dataset_download_files(HANDLES[client], path=str(partial), quiet=True, unzip=False)
        return partial / f"{layout.KAGGLE_HANDLE.split('/')[1]}.zip"
    import kagglehub

    # kagglehub's cache resumes and marks completion, so point it at the partial folder.
    previous = os.environ.get("KAGGLEHUB_CACHE")
    os.environ["KAGGLEHUB_CACHE"] = str(partial)
    try:
        return Path(kagglehub.dataset_download(HANDLES[client]))
    finally:
        if previous is None:
            os.environ.pop("KAGGLEHUB_CACHE", None)
        else:
            os.environ["KAGGLEHUB_CACHE"] = previous


def _run_bounded(work: Callable[[], Path], timeout: float, quiet: bool) -> Path | None:
    """Run ``work`` in a daemon thread; its result, its exception re-raised, or None on timeout.

    Python cannot stop a thread: after a timeout it runs on until the process exits. ``quiet``
    swallows stdout, where the ``kaggle`` client prints its help text.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # kaggle raises SystemExit: keep it in this thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="practical3-download", daemon=True)
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        thread.start()
        thread.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def _explain(exc: BaseException, out_dir: Path) -> DownloadError:
    """One actionable DownloadError for whatever a client raised."""
    if isinstance(exc, DownloadError):
        return exc
    if isinstance(exc, SystemExit):
        return DownloadError(f"the kaggle client could not authenticate with "
                             f"{credential_source()}. "
                             + CREDENTIALS_FIX)
    if isinstance(exc, ImportError):
        return DownloadError(f"cannot import the Kaggle client ({exc}): install the project's "
                             "dependencies with `pip install -e .` (kaggle 2.2.5 also needs six)")
    from requests.exceptions import ConnectionError, Timeout

    if isinstance(exc, ConnectionError | Timeout):
        return DownloadError(f"cannot reach Kaggle ({exc}): check the network, or "
                             + BY_HAND.format(out_dir=out_dir))
    return DownloadError(f"downloading {layout.KAGGLE_HANDLE} version {layout.KAGGLE_VERSION} "
                         f"failed: {type(exc).__name__}: {exc}")


def _count_files(root: Path) -> tuple[int, int]:
    """Number of files under ``root`` and their total size in bytes."""
    paths = [Path(folder) / name for folder, _, names in os.walk(root) for name in names]
    return len(paths), sum(p.stat().st_size for p in paths)
