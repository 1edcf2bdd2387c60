"""Fetching model files onto a fresh machine: verified, atomic, and explicit when offline.

Delegated: HTTP(S) to :func:`torch.hub.download_url_to_file` (request, redirects, streaming with a
progress bar); Google Drive to ``gdown`` (confirmation pages, folder listing, transfer).
Kept here, because neither does it:

* ``dest`` only ever holds a verified file: each attempt fills a temporary file beside it
  (:func:`core.files.atomic_output`), published after the checks: not empty, not an HTML page
  (what servers and Drive send instead of a missing or over-quota file), and the size and sha256
  (full, or the prefix MMPose/torch.hub put in names) the manifest knows. The hash is checked by
  :func:`core.files.sha256_of`, not torch.hub's ``hash_prefix``: http.client ends a cut body
  quietly, which torch.hub would report as a wrong hash; a HEAD request gives the length that
  detects the cut, to be retried. A ``dest`` that passes the checks costs no request.
* A few retries on transient failures (HTTP 408/425/429/5xx, resets, timeouts, cut transfers).
* One-line errors (:class:`DownloadError`) that say, where the file cannot be fetched (offline,
  refused, gone), where to get it by hand and where to save it; ``POSE3D_OFFLINE=1`` fails at once.

Known limit (torch.hub's): its GET has no timeout, so a server stalling mid-transfer stalls the
download until interrupted (which leaves no partial file).
"""
from __future__ import annotations

import errno
import http.client
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import torch.hub

from .errors import CheckpointError, UserError, brief
from .files import atomic_output, sha256_of
from .weights import WeightsFile

log = logging.getLogger(__name__)

OFFLINE_ENV = "POSE3D_OFFLINE"
DOWNLOAD_LOCK = ".download.lock"  # in the checkpoints folder: one download at a time per folder
RETRIES = 2  # further attempts after a transient failure
RETRY_WAIT_S = 1.0  # before the first retry, doubled for each next one
TIMEOUT_S = 30.0  # the HEAD request and gdown (torch.hub's GET takes none)
_RETRY_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


class DownloadError(UserError):
    """A file could not be fetched or verified; the message is one line that says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # gdown's texts span several lines


def offline_requested() -> bool:
    """Whether ``POSE3D_OFFLINE`` turns network access off (any value but empty/0/false/no/off)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"", "0", "false", "no", "off"}


def download_url(
    url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, size: int | None = None,
    name: str | None = None, progress: bool = True, retries: int = RETRIES,
) -> Path:  # fmt: skip
    """Fetch ``url`` into ``dest`` (verified, atomically renamed) unless ``dest`` is already valid.

    ``sha256``: the full hash (64 hex digits) or its first digits; ``size``: bytes; ``name``: how
    messages call the file (default: ``dest``'s name).

    Raises:
        DownloadError: offline, refused, unreachable, cut, or not the expected file (one line).
    """
    dest, name = Path(dest).expanduser(), name or Path(dest).name
    if not _needed(dest, sha256, size, name, url):
        return dest

    def attempt(tmp: Path) -> None:
        announced = _announced_length(url)
        log.info("downloading %s from %s", name, url)
        torch.hub.download_url_to_file(url, str(tmp), progress=progress)
        got = tmp.stat().st_size
        if announced is not None and got != announced:
            raise ConnectionError(f"the transfer was cut after {got} of {announced} bytes")

    return _fetch(attempt, dest, sha256, size, name=name, source=url, retries=retries)


def download_gdrive(
    file_id: str, dest: str | os.PathLike[str], *, sha256: str | None = None, size: int | None = None,
    name: str | None = None, progress: bool = True, retries: int = RETRIES,
) -> Path:  # fmt: skip
    """Fetch a public Google Drive file with gdown, with :func:`download_url`'s guarantees."""
    return _gdrive(file_id, None, dest, sha256, size, name, progress, retries)


def download_gdrive_folder_file(
    folder_id: str, filename: str, dest: str | os.PathLike[str], *, sha256: str | None = None,
    size: int | None = None, name: str | None = None, progress: bool = True, retries: int = RETRIES,
) -> Path:  # fmt: skip
    """Fetch ``filename`` (a name, or a path inside the folder) published only in a Drive folder.

    The folder is listed without downloading anything, then only that file is fetched.
    """
    return _gdrive(folder_id, filename, dest, sha256, size, name, progress, retries)


def _gdrive(
    drive_id: str, filename: str | None, dest: str | os.PathLike[str], sha256: str | None, size: int | None,
    name: str | None, progress: bool, retries: int,
) -> Path:  # fmt: skip
    page = "https://drive.google.com/" + (f"drive/folders/{drive_id}" if filename else f"file/d/{drive_id}/view")
    dest, name, what = Path(dest).expanduser(), name or Path(dest).name, filename or "it"
    if not _needed(dest, sha256, size, name, page, what):
        return dest
    import gdown  # noqa: PLC0415 -- on use: it pulls in requests

    manual = _by_hand(page, dest, what)
    if filename:
        try:
            entries = gdown.download_folder(id=drive_id, skip_download=True, quiet=True, timeout=TIMEOUT_S)
        except (OSError, gdown.exceptions.DownloadError) as e:
            raise DownloadError(f"cannot list the Google Drive folder of {name}: {_why(e)[0]}; {manual}") from e
        want = Path(filename)
        found = [e for e in entries if Path(e.path) == want] or [e for e in entries if Path(e.path).name == want.name]
        if len(found) != 1:
            held = ", ".join(sorted(str(e.path) for e in (found or entries))[:10]) or "nothing"
            kind = "several files named" if found else "no file"
            raise DownloadError(f"the Google Drive folder {page} has {kind} {filename} (it holds: {held}); {manual}")
        drive_id = str(found[0].id)

    def attempt(tmp: Path) -> None:
        messages = {"start": f"Downloading {name} from Google Drive\n", "output": ""}
        try:
            with tmp.open("wb") as out:
                gdown.download(id=drive_id, output=out, quiet=not progress, log_messages=messages, timeout=TIMEOUT_S)
        except gdown.exceptions.FileURLRetrievalError as e:  # Drive's quota or permission page: not retried
            match = re.search(r"url:\s*(.*?)\s*You may still", " ".join(str(e).split()))
            reason = match.group(1) if match else brief(e)
            raise DownloadError(f"Google Drive refused {name} ({reason}); {manual}") from e
        except gdown.exceptions.DownloadError as e:  # e.g. a body shorter than announced: retried
            raise ConnectionError(brief(e)) from e

    return _fetch(attempt, dest, sha256, size, name=name, source=page, what=what, retries=retries)


def _fetch(
    attempt: Callable[[Path], None], dest: Path, sha256: str | None, size: int | None, *,
    name: str, source: str, retries: int, what: str = "it",
) -> Path:  # fmt: skip
    """Run ``attempt`` (it fills a temporary file) until one succeeds; verify, then publish."""
    tries = 0
    while True:
        tries += 1
        try:
            with atomic_output(dest) as tmp:
                attempt(tmp)
                problem = _problem(tmp, sha256, size)
                if problem:
                    raise DownloadError(f"{source} did not serve the expected {name}: {problem}; "
                                        f"nothing was saved to {dest}")  # fmt: skip
            log.info("downloaded %s to %s", name, dest)
            return dest
        except (OSError, http.client.HTTPException) as e:  # urllib's and requests' errors are OSErrors
            if isinstance(e, OSError) and e.errno in _LOCAL_ERRNOS:
                raise DownloadError(f"cannot save {name} in {dest.parent}: {brief(e)}") from e
            reason, transient = _why(e)
            if not transient or tries > retries:
                after = f" (after {tries} attempts)" if tries > 1 else ""
                raise DownloadError(f"cannot download {name}: {reason}{after}; {_by_hand(source, dest, what)}") from e
            log.warning("%s: %s; retrying (attempt %d of %d)", name, reason, tries + 1, retries + 1)
            time.sleep(RETRY_WAIT_S * 2 ** (tries - 1))


def _announced_length(url: str) -> int | None:
    """Content-Length from a HEAD request (None where the server gives none or refuses HEAD)."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "torch.hub"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length", "")
    except urllib.error.HTTPError as e:
        if e.code in (405, 501):  # HEAD not supported: the GET will tell
            return None
        raise
    return int(length) if length.isdigit() else None


def _why(error: BaseException) -> tuple[str, bool]:
    """What went wrong in one attempt, in a few words, and whether another attempt may succeed."""
    code = getattr(error, "code", None) or getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(code, int):
        return f"the server answered HTTP {code}", code in _RETRY_CODES
    cause = error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, OSError) else error
    text = str(cause).lower()
    if isinstance(cause, socket.gaierror) or "resolve" in text:
        return "the host name cannot be resolved (offline?)", False
    if isinstance(cause, ConnectionRefusedError) or "refused" in text:
        return "the connection was refused (offline, or the server is down?)", False
    if isinstance(cause, TimeoutError) or "timed out" in text:
        return "the server did not answer in time", True
    return brief(cause), True


def _problem(path: Path, sha256: str | None, size: int | None) -> str | None:
    """Why ``path`` is not the expected file, or None when it passes every known check."""
    got = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(512).removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if got == 0:
        return "the file is empty"
    if head.startswith((b"<!doctype html", b"<html")):
        return "it is an HTML page (an error, login or quota page), not the file"
    if size is not None and got != size:
        return f"it has {got} bytes, expected {size}"
    if sha256 and not (digest := sha256_of(path)).startswith(sha256.lower()):
        return f"its sha256 is {digest}, expected {sha256.lower()}{'...' if len(sha256) < 64 else ''}"
    return None


def _needed(dest: Path, sha256: str | None, size: int | None, name: str, source: str, what: str = "it") -> bool:
    """False when ``dest`` holds the expected file; True, or DownloadError when offline, if not."""
    problem = _problem(dest, sha256, size) if dest.is_file() else "missing"
    if problem is None:
        return False
    if offline_requested():
        state = "is missing" if problem == "missing" else f"does not match the published file ({problem})"
        raise DownloadError(f"{name} {state} and downloads are disabled ({OFFLINE_ENV} is set); "
                            f"{_by_hand(source, dest, what)}")  # fmt: skip
    if problem != "missing":
        log.warning("%s at %s does not match the published file (%s); fetching a fresh copy", name, dest, problem)
    return True


def _by_hand(source: str, dest: Path, what: str = "it") -> str:
    return f"download {what} by hand from {source} and save it as {dest.absolute()}"


def ultralytics_asset_url(name: str) -> str:
    """Where Ultralytics itself downloads a released asset such as ``yolo26l.pt`` from."""
    import inspect

    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, GITHUB_ASSETS_REPO, attempt_download_asset

    if name not in GITHUB_ASSETS_NAMES:
        raise CheckpointError(f"'{name}' is not an Ultralytics release asset; pass a weights file path instead")
    # The release this ultralytics version downloads its assets from (its own default).
    release = inspect.signature(attempt_download_asset).parameters["release"].default
    return f"https://github.com/{GITHUB_ASSETS_REPO}/releases/download/{release}/{name}"


def fetch(entry: WeightsFile, *, progress: bool = True) -> Path:
    """Download ``entry`` into the checkpoint folder (verified, atomic); a no-op if it is there.

    Processes that share the checkpoint folder (the Ray workers of one node, two runs
    started together) take a file lock there first (``.<file>.lock``, :mod:`filelock`):
    the first downloads, the others wait and then find the file in place, so a missing
    file is fetched once per folder, not once per worker.

    Raises:
        DownloadError: offline, refused, or the file failed its checks (one line, with what
            to download by hand and where to put it).
    """
    from filelock import FileLock

    dest = entry.path
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the checkpoint folder {dest.parent}: {e.strerror or e}") from None
    with FileLock(dest.parent / DOWNLOAD_LOCK):
        return _fetch_unlocked(entry, progress)


def _fetch_unlocked(entry: WeightsFile, progress: bool) -> Path:
    src, dest = entry.source, entry.path
    common = dict(sha256=entry.sha256, size=entry.size, name=entry.name, progress=progress)  # sha256: full or prefix
    if src.url:
        return download_url(src.url, dest, **common)
    if src.gdrive_file:
        return download_gdrive(src.gdrive_file, dest, **common)
    if src.gdrive_folder:
        return download_gdrive_folder_file(src.gdrive_folder, entry.file, dest, **common)
    if src.ultralytics:
        return download_url(ultralytics_asset_url(src.ultralytics), dest, **common)
    raise CheckpointError(f"'{entry.name}' has no download source in the manifest")
