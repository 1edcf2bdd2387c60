"""Fetching model files onto a fresh machine: streamed, verified, atomic, and explicit when offline.

Every download function here keeps the same promises:

* A file at ``dest`` is always complete. Bytes go to a temporary ``.<name>.<random>.part`` file
  (a folder of that name for Google Drive, since gdown writes its own temporary files) beside
  ``dest`` and are moved onto it with :func:`os.replace` only once the announced length, the
  expected size and the sha256 (full or prefix) have been checked. Whatever fails, the temporary
  file is removed.
* An existing ``dest`` that passes the checks is returned without touching the network. One that
  fails them is reported (a logged warning) and replaced by a fresh copy; it stays in place until
  that copy is verified, so a failed attempt never leaves less than there was.
* Every failure raises :class:`DownloadError` with a one-line message. Where the file cannot be
  fetched at all (offline, refused, gone upstream) the line says where to get it by hand and
  where to put it, as :func:`manual_instructions` does for lists of missing files.

``POSE3D_OFFLINE=1`` (or ``offline=True``) turns network access off: a missing file then fails at
once with those instructions.

The module knows nothing about what it downloads; the checkpoint registry maps its entries onto
:func:`download_url`, :func:`download_gdrive` and :func:`download_gdrive_folder_file`.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from lifter.errors import UserError
from lifter.files import temp_path_beside

log = logging.getLogger(__name__)

OFFLINE_ENV = "POSE3D_OFFLINE"
"""Environment variable that turns network access off when set to anything but 0/false/no/off."""

_NOT_OFFLINE_WORDS = frozenset({"", "0", "false", "no", "off"})
_CHUNK_BYTES = 1 << 20  # 1 MiB reads: few system calls, little lost when a transfer is cut
_HEAD_BYTES = 512  # enough to recognise an HTML page behind leading whitespace or a BOM
_DISK_MARGIN_BYTES = 16 << 20  # never fill a disk to the last byte for a model file
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})  # the server may answer later
_MAX_BACKOFF_S = 30.0
_USER_AGENT = "pose3d-download (Python urllib)"  # some CDNs refuse urllib's default agent
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})(?:_\d{8})?\.[A-Za-z0-9]+$")


class DownloadError(UserError):
    """A file could not be fetched or verified; the message is one line that says what to do."""

    def __init__(self, message: str) -> None:
        # Messages quote gdown's multi-line texts; the command lines print exactly one line.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", message).strip())


# --- guidance for users -------------------------------------------------------------------------


def offline_requested(offline: bool | None = None) -> bool:
    """Whether network access is off: ``offline`` when given, else the ``POSE3D_OFFLINE`` variable."""
    if offline is not None:
        return offline
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in _NOT_OFFLINE_WORDS


def gdrive_file_url(file_id: str) -> str:
    """The page where a person can download a Google Drive file in a browser."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def gdrive_folder_url(folder_id: str) -> str:
    """The page where a person can browse a Google Drive folder."""
    return f"https://drive.google.com/drive/folders/{folder_id}"


def manual_instructions(name: str, url: str, dest: str | os.PathLike[str]) -> str:
    """One line telling a user where to get ``name`` by hand and where to save it.

    Callers that miss several files print one such line per file.
    """
    return f"{name}: {_by_hand(url, dest)}"


def sha256_prefix_from_name(filename: str) -> str | None:
    """The start of a file's sha256 as embedded in its name by the torch.hub / MMPose convention.

    ``stem-<hex>.ext`` (torch.hub) and ``stem-<hex>_<yyyymmdd>.ext`` (MMPose model zoo, e.g.
    ``td-hm_hrnet-w48_8xb32-210e_coco-384x288-c161b7de_20220915.pth`` -> ``c161b7de``) carry the
    first 8 to 64 lower-case hex digits of the sha256. A URL is accepted (its last path segment
    is read). Returns None for names without that pattern, such as ``yolo11m.pt``.
    """
    base = urllib.parse.urlsplit(filename).path.rsplit("/", 1)[-1]
    match = _HASH_IN_NAME.search(base)
    return match.group(1) if match else None


# --- plain HTTP(S) ------------------------------------------------------------------------------


def download_url(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    size: int | None = None,
    name: str | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    backoff_s: float = 1.0,
    offline: bool | None = None,
) -> Path:
    """Fetch ``url`` into ``dest`` (streamed, verified, atomically renamed) and return ``dest``.

    Args:
        url: http:// or https:// address; redirects are followed.
        dest: final file path; its folder is created when missing.
        sha256: expected full sha256 (64 hex digits), checked when given.
        sha256_prefix: expected start of the sha256 (e.g. from :func:`sha256_prefix_from_name`).
        size: expected size in bytes; also enables the free-disk check before the request.
        name: how messages call the file (default: ``dest``'s file name).
        progress: show a byte-level tqdm bar on stderr.
        retries: further attempts after a transient failure (timeout, reset, cut transfer,
            HTTP 408/425/429/5xx), so at most ``retries + 1`` requests. Refusals (403, 404, ...),
            unresolvable or refusing hosts and verification failures are never retried.
        timeout: seconds to wait for the connection and for each read.
        backoff_s: seconds before the first retry, doubled for each next one (at most 30 s).
        offline: True forbids network access, False allows it, None reads ``POSE3D_OFFLINE``.

    Raises:
        DownloadError: offline and ``dest`` missing or wrong; the server refused, was unreachable
            or kept failing; the transfer was cut; size or sha256 differ; not enough disk space;
            ``dest`` cannot be written. Nothing partial is left at ``dest`` or beside it.
        ValueError: malformed arguments (URL scheme, hash digits, negative numbers).
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"download_url takes an http(s) URL, got {url!r}")
    if retries < 0 or timeout <= 0 or backoff_s < 0:
        raise ValueError("retries and backoff_s must be >= 0 and timeout > 0")
    dest = Path(dest).expanduser()
    name = name or dest.name
    expect = _Expected.of(size=size, sha256=sha256, sha256_prefix=sha256_prefix)
    if _existing_is_valid(dest, expect, name):
        return dest
    if offline_requested(offline):
        raise _offline_error(name, url, dest, offline)
    _make_folder(dest, name)
    if expect.size is not None:
        _check_disk(dest, expect.size, name)

    part = temp_path_beside(dest)
    log.info("downloading %s from %s", name, url)
    try:
        digest = _fetch_with_retries(
            url, part, dest, name, expect, progress=progress, retries=retries, timeout=timeout, backoff_s=backoff_s
        )
        problem = _problem_with(part, expect, digest)
        if problem is not None:
            raise DownloadError(f"{url} did not serve the expected {name}: {problem}; nothing was saved to {dest}")
        os.replace(part, dest)
    except OSError as e:
        # Network errors were turned into DownloadError inside; what is left is the local disk.
        raise DownloadError(f"cannot save {name} in {dest.parent}: {e.strerror or e}") from e
    finally:
        part.unlink(missing_ok=True)
    log.info("downloaded %s to %s", name, dest)
    return dest


class _Failure(Exception):
    """One attempt failed; ``transient`` says whether another attempt may succeed."""

    def __init__(self, reason: str, *, transient: bool, manual: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.manual = manual  # whether fetching it by hand is the way out


def _fetch_with_retries(
    url: str,
    part: Path,
    dest: Path,
    name: str,
    expect: _Expected,
    *,
    progress: bool,
    retries: int,
    timeout: float,
    backoff_s: float,
) -> str:
    """Run attempts until one succeeds; return the sha256 (hex) of what ``part`` now holds."""
    attempt = 0
    while True:
        try:
            return _fetch_once(url, part, dest, name, expect, progress=progress, timeout=timeout)
        except _Failure as failure:
            if not failure.transient or attempt == retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                tail = f"; {_by_hand(url, dest)}" if failure.manual else ""
                raise DownloadError(f"cannot download {name}: {failure.reason}{tries}{tail}") from failure
            delay_s = min(backoff_s * 2**attempt, _MAX_BACKOFF_S)
            attempt += 1
            log.warning(
                "%s: %s; retrying in %.1f s (attempt %d of %d)", name, failure.reason, delay_s, attempt + 1, retries + 1
            )
            time.sleep(delay_s)


def _fetch_once(
    url: str, part: Path, dest: Path, name: str, expect: _Expected, *, progress: bool, timeout: float
) -> str:
    """One request streamed into ``part`` (overwritten); returns the sha256 (hex) of the bytes."""
    # identity: a compressed body would make Content-Length and the hash describe other bytes.
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        raise _http_failure(e.code, str(e.reason), url) from e
    except (OSError, http.client.HTTPException) as e:
        raise _network_failure(e, url, timeout) from e

    with response:
        announced = _content_length(response)
        if announced is not None:
            if expect.size is not None and announced != expect.size:
                raise _Failure(
                    f"{url} announces {announced} bytes, expected {expect.size}", transient=False, manual=False
                )
            _check_disk(dest, announced, name)
        hasher = hashlib.sha256()
        received = 0
        total = announced if announced is not None else expect.size
        with part.open("wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=not progress
        ) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as e:
                    raise _Failure(
                        f"the connection broke after {received} bytes ({_describe(e)})", transient=True
                    ) from e
                if not chunk:
                    break
                out.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())  # the rename must not publish bytes still in the page cache
    # http.client ends a body quietly at EOF even when fewer bytes came than announced.
    if announced is not None and received != announced:
        raise _Failure(f"the transfer was cut after {received} of {announced} bytes", transient=True)
    return hasher.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The announced body length in bytes, or None when absent or malformed."""
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _http_failure(code: int, reason: str, url: str) -> _Failure:
    host = urllib.parse.urlsplit(url).netloc
    text = f"{host} answered HTTP {code} {reason}".rstrip()
    if code in _RETRY_STATUS:
        return _Failure(text, transient=True)
    if code in (401, 403):
        text += " (access refused)"
    elif code in (404, 410):
        text += " (the file is not there)"
    return _Failure(text, transient=False)


def _network_failure(error: BaseException, url: str, timeout: float) -> _Failure:
    """Classify a connection-level error; the ones an offline machine gives are not retried."""
    cause: BaseException = error
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        cause = error.reason
    host = urllib.parse.urlsplit(url).hostname or url
    # Without network these answers come at once and identically on every attempt: retrying
    # would only delay the instructions for fetching the file by hand.
    if isinstance(cause, socket.gaierror):
        return _Failure(f"cannot resolve {host} (offline?)", transient=False)
    if isinstance(cause, ConnectionRefusedError):
        return _Failure(f"{host} refused the connection (offline, or the server is down?)", transient=False)
    if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return _Failure(f"no route to {host} (offline?)", transient=False)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _Failure(f"the TLS certificate of {host} cannot be verified ({cause.verify_message})", transient=False)
    if isinstance(cause, TimeoutError):
        return _Failure(f"{host} did not answer within {timeout:g} s", transient=True)
    return _Failure(f"the connection to {host} failed ({_describe(cause)})", transient=True)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


# --- Google Drive (gdown) -----------------------------------------------------------------------


def download_gdrive(
    file_id: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    size: int | None = None,
    name: str | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    offline: bool | None = None,
) -> Path:
    """Fetch a public Google Drive file into ``dest`` with gdown, with :func:`download_url`'s guarantees.

    Drive publishes neither size nor hash; without ``size``/``sha256`` the result is still checked
    to be non-empty and not an HTML page (Drive answers quota and permission problems with one).

    Args:
        file_id: the id in ``https://drive.google.com/file/d/<id>/view``.
        dest, sha256, sha256_prefix, size, name, progress, offline: as for :func:`download_url`.
        retries: gdown's further attempts after transient network errors (gdown waits a random
            0 to 2**attempt s between them, and also retries unresolvable hosts).
        timeout: seconds gdown waits for the server between bytes.

    Raises:
        DownloadError: offline; gdown missing; Drive unreachable, refusing (quota, permission)
            or answering with an HTML page; the transfer failed; size or sha256 differ; ``dest``
            cannot be written. The message names the Drive page and ``dest`` for a manual download.
    """
    dest = Path(dest).expanduser()
    name = name or dest.name
    expect = _Expected.of(size=size, sha256=sha256, sha256_prefix=sha256_prefix)
    page = gdrive_file_url(file_id)
    if _existing_is_valid(dest, expect, name):
        return dest
    if offline_requested(offline):
        raise _offline_error(name, page, dest, offline)
    gdown = _import_gdown(name, page, dest)
    return _gdrive_fetch(
        gdown, file_id, dest, name=name, page=page, what="it", expect=expect,
        progress=progress, retries=retries, timeout=timeout,
    )


def download_gdrive_folder_file(
    folder_id: str,
    filename: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    size: int | None = None,
    name: str | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    offline: bool | None = None,
) -> Path:
    """Fetch the file ``filename`` that is published only inside a public Google Drive folder.

    The folder is listed without downloading anything (``gdown.download_folder(skip_download=True)``:
    one page request per folder and sub-folder), then only the matching file is fetched as by
    :func:`download_gdrive`. ``filename`` is a bare name or a path inside the folder (``sub/x.pth``).

    Raises:
        DownloadError: as :func:`download_gdrive`; also when the folder cannot be listed, holds no
            such file (the message lists what it holds) or holds several files of that name.
    """
    dest = Path(dest).expanduser()
    name = name or dest.name
    expect = _Expected.of(size=size, sha256=sha256, sha256_prefix=sha256_prefix)
    page = gdrive_folder_url(folder_id)
    if _existing_is_valid(dest, expect, name):
        return dest
    if offline_requested(offline):
        raise _offline_error(name, page, dest, offline, what=filename)
    gdown = _import_gdown(name, page, dest, what=filename)
    file_id = _find_in_gdrive_folder(gdown, folder_id, filename, name=name, page=page, dest=dest, timeout=timeout)
    return _gdrive_fetch(
        gdown, file_id, dest, name=name, page=page, what=filename, expect=expect,
        progress=progress, retries=retries, timeout=timeout,
    )


def _import_gdown(name: str, page: str, dest: Path, what: str = "it") -> ModuleType:
    # Imported on use: plain HTTP downloads must work where gdown (and requests) are absent.
    try:
        import gdown  # noqa: PLC0415
    except ImportError as e:
        raise DownloadError(
            f"cannot download {name}: the gdown package is missing (pip install gdown); "
            f"or {_by_hand(page, dest, what)}"
        ) from e
    return gdown


def _find_in_gdrive_folder(
    gdown: ModuleType, folder_id: str, filename: str, *, name: str, page: str, dest: Path, timeout: float
) -> str:
    """The Drive file id of ``filename`` in the folder, found by listing it (no file is downloaded)."""
    try:
        entries = gdown.download_folder(id=folder_id, skip_download=True, quiet=True, timeout=timeout)
    except (gdown.exceptions.DownloadError, OSError) as e:
        raise _gdown_error(e, gdown, name=name, page=page, dest=dest, what=filename, timeout=timeout) from e
    wanted = Path(filename)
    matches = [e for e in entries if Path(e.path) == wanted] or [e for e in entries if Path(e.path).name == wanted.name]
    if len(matches) == 1:
        return str(matches[0].id)
    if matches:
        paths = ", ".join(str(e.path) for e in matches)
        raise DownloadError(
            f"the Google Drive folder {page} holds several files named {filename} ({paths}); "
            "pass its path inside the folder"
        )
    held = sorted(str(e.path) for e in entries)
    listing = ", ".join(held[:10]) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
    raise DownloadError(
        f"the Google Drive folder {page} has no file {filename} (it holds: {listing or 'nothing'}); "
        f"{_by_hand(page, dest, filename)}"
    )


def _gdrive_fetch(
    gdown: ModuleType,
    file_id: str,
    dest: Path,
    *,
    name: str,
    page: str,
    what: str,
    expect: _Expected,
    progress: bool,
    retries: int,
    timeout: float,
) -> Path:
    _make_folder(dest, name)
    if expect.size is not None:
        _check_disk(dest, expect.size, name)
    # gdown keeps its own '<name><random>.part' after a failed transfer (for resuming), so it
    # writes inside a folder of ours that is removed whatever happens.
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    except OSError as e:
        raise DownloadError(f"cannot save {name} in {dest.parent}: {e.strerror or e}") from e
    try:
        target = work / dest.name
        try:
            gdown.download(
                id=file_id,
                output=str(target),
                quiet=not progress,
                retries=retries,
                timeout=timeout,
                log_messages={"start": f"Downloading {name} from Google Drive\n", "output": f"To: {dest.absolute()}\n"},
            )
        except (gdown.exceptions.DownloadError, OSError) as e:
            raise _gdown_error(e, gdown, name=name, page=page, dest=dest, what=what, timeout=timeout) from e
        # Older gdown versions returned None instead of raising; a missing file means the same.
        if not target.is_file():
            raise DownloadError(f"gdown wrote no file for {name}; {_by_hand(page, dest, what)}")
        if _looks_like_html(_head(target)):
            raise DownloadError(
                f"Google Drive sent an HTML page instead of {name} (download quota exceeded, or the file "
                f"is not shared publicly; try again later); {_by_hand(page, dest, what)}"
            )
        problem = _problem_with(target, expect)
        if problem is not None:
            raise DownloadError(
                f"Google Drive did not serve the expected {name}: {problem}; nothing was saved to {dest}"
            )
        os.replace(target, dest)
    except OSError as e:
        raise DownloadError(f"cannot save {name} in {dest.parent}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("downloaded %s to %s", name, dest)
    return dest


def _gdown_error(
    error: BaseException, gdown: ModuleType, *, name: str, page: str, dest: Path, what: str, timeout: float
) -> DownloadError:
    """One line for what gdown raised (observed with gdown 6.5: see the comments)."""
    import requests  # noqa: PLC0415 -- gdown's own dependency, present whenever gdown is

    manual = _by_hand(page, dest, what)
    # Drive's quota and permission pages: gdown finds no download link in the HTML it got.
    if isinstance(error, gdown.exceptions.FileURLRetrievalError):
        return DownloadError(f"Google Drive refused {name} ({_gdown_reason(error)}); {manual}")
    # With retries > 0 gdown wraps the last requests error in its DownloadError ("Download failed
    # after N retries: ..."); with retries=0 the requests error itself comes out.
    cause = error.__cause__ if isinstance(error, gdown.exceptions.DownloadError) else error
    if isinstance(cause, requests.exceptions.HTTPError) and cause.response is not None:
        code = cause.response.status_code
        hint = {403: " (access refused or quota exceeded)", 404: " (no such file)", 429: " (too many requests)"}
        return DownloadError(f"Google Drive answered HTTP {code} for {name}{hint.get(code, '')}; {manual}")
    if isinstance(cause, requests.exceptions.Timeout):
        return DownloadError(f"Google Drive did not answer within {timeout:g} s for {name}; {manual}")
    if isinstance(cause, requests.exceptions.ConnectionError):
        text = str(cause)
        if "NameResolution" in text or "resolve" in text or "Name or service not known" in text:
            reason = "cannot resolve drive.google.com (offline?)"
        elif "refused" in text.lower():
            reason = "the connection to Google Drive was refused (offline?)"
        else:
            reason = f"cannot reach Google Drive ({_shorten(text)})"
        return DownloadError(f"cannot download {name}: {reason}; {manual}")
    if isinstance(error, (gdown.exceptions.DownloadError, requests.exceptions.RequestException)):
        return DownloadError(f"cannot download {name} from Google Drive ({_gdown_reason(error)}); {manual}")
    # What remains is a local OSError from gdown writing the file (disk full, permissions).
    return DownloadError(f"cannot save {name} in {dest.parent}: {_describe(error)}")


def _gdown_reason(error: BaseException) -> str:
    """gdown's explanation without its multi-line framing ("Failed to retrieve file url: ...")."""
    text = " ".join(str(error).split())
    match = re.search(r"Failed to retrieve file url:\s*(.*?)\s*You may still be able", text)
    return _shorten(match.group(1) if match else text)


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- checks shared by both sources --------------------------------------------------------------


@dataclass(frozen=True)
class _Expected:
    """What is known about the published file; None where the publisher gives nothing."""

    size: int | None  # bytes
    sha256: str | None  # 64 lower-case hex digits
    sha256_prefix: str | None  # leading lower-case hex digits

    @classmethod
    def of(cls, *, size: int | None, sha256: str | None, sha256_prefix: str | None) -> _Expected:
        if size is not None and size <= 0:
            raise ValueError(f"expected size must be positive, got {size}")
        full = sha256.strip().lower() if sha256 is not None else None
        prefix = sha256_prefix.strip().lower() if sha256_prefix is not None else None
        if full is not None and not re.fullmatch(r"[0-9a-f]{64}", full):
            raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
        if prefix is not None and not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
            raise ValueError(f"sha256_prefix must be 1 to 64 hex digits, got {sha256_prefix!r}")
        return cls(size=size, sha256=full, sha256_prefix=prefix)

    @property
    def has_hash(self) -> bool:
        return self.sha256 is not None or self.sha256_prefix is not None


def _problem_with(path: Path, expect: _Expected, digest: str | None = None) -> str | None:
    """Why ``path`` is not the expected file, or None when it passes every check that is known.

    ``digest`` is the sha256 (hex) when already computed while streaming.
    """
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if _looks_like_html(_head(path)):
        return "it is an HTML page (an error, login or quota page), not the file"
    if expect.size is not None and size != expect.size:
        return f"it has {size} bytes, expected {expect.size}"
    if not expect.has_hash:
        return None
    digest = digest or _sha256_of(path)
    # A full hash is shown by its first 16 digits, a prefix by all of its own (at least 8).
    if expect.sha256 is not None and digest != expect.sha256:
        return f"its sha256 starts {digest[:16]}, expected {expect.sha256[:16]}"
    prefix = expect.sha256_prefix
    if prefix is not None and not digest.startswith(prefix):
        return f"its sha256 starts {digest[:max(len(prefix), 8)]}, expected {prefix}"
    return None


def _existing_is_valid(dest: Path, expect: _Expected, name: str) -> bool:
    """True when ``dest`` already holds the expected file; a wrong one is reported, not deleted."""
    if not dest.exists():
        return False
    if not dest.is_file():
        raise DownloadError(f"cannot download {name}: {dest} exists and is not a file")
    try:
        problem = _problem_with(dest, expect)
    except OSError as e:
        raise DownloadError(f"cannot read the existing {dest}: {e.strerror or e}") from e
    if problem is None:
        return True
    log.warning("%s at %s does not match the published file (%s); fetching a fresh copy", name, dest, problem)
    return False


def _offline_error(name: str, url: str, dest: Path, offline: bool | None, what: str = "it") -> DownloadError:
    why = f"{OFFLINE_ENV} is set" if offline is None else "offline mode"
    state = "does not match the published file" if dest.exists() else "is missing"
    return DownloadError(f"{name} {state} and downloads are disabled ({why}); {_by_hand(url, dest, what)}")


def _make_folder(dest: Path, name: str) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {dest.parent} for {name}: {e.strerror or e}") from e


def _check_disk(dest: Path, size: int, name: str) -> None:
    """Refuse early when ``size`` bytes (plus a margin) do not fit beside ``dest``."""
    free = shutil.disk_usage(dest.parent).free
    if free < size + _DISK_MARGIN_BYTES:
        raise DownloadError(
            f"not enough disk space for {name}: {size / 2**20:.1f} MiB needed "
            f"(+{_DISK_MARGIN_BYTES >> 20} MiB margin), {free / 2**20:.1f} MiB free in {dest.parent}"
        )


def _by_hand(url: str, dest: str | os.PathLike[str], what: str = "it") -> str:
    return f"download {what} by hand from {url} and save it as {Path(dest).expanduser().absolute()}"


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_HEAD_BYTES)


def _looks_like_html(head: bytes) -> bool:
    """Whether a file starts like an HTML page (what web servers send instead of a missing file)."""
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()
