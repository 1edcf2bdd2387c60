"""Writing result files so that an interrupted run never leaves a file that looks finished,
and fingerprinting files by content.

Temporary files are created with ``os.open(..., 0o666)`` so the process umask applies as
it does for any other file (``mkstemp`` makes 0600 files, and reading the umask means
setting it, which races with other threads).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from types import TracebackType

from .errors import UserError


def temp_path_beside(path: str | Path, suffix: str = ".part") -> Path:
    """A new empty file in ``path``'s folder (created if needed), named ``.<name>.<random><suffix>``.

    Written and then renamed onto ``path``, it makes the final file appear complete or not
    at all (a rename within one folder is atomic).

    Raises:
        UserError: the folder cannot be created or written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            name = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
            try:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return name
            except FileExistsError:
                continue
    except OSError as e:
        raise UserError(f"cannot write to {path.parent}: {e.strerror or e}") from None


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    tmp = temp_path_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class AtomicSink:
    """Base for writers that publish their file only when complete: ``with`` closes
    (publishes) on success and aborts (deletes the temporary file) on any exception."""

    def close(self) -> Path:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's content (hex), read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}
_FINGERPRINTS_LOCK = Lock()


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a file's content, remembered per (resolved path, size, mtime): a batch of
    clips hashes each weights file once, and a file replaced in place (new size or mtime)
    is hashed again. Identifies a video or a weights file across renames."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _FINGERPRINTS_LOCK:
        known = _FINGERPRINTS.get(key)
    if known is None:
        known = sha256_of(path)
        with _FINGERPRINTS_LOCK:
            _FINGERPRINTS[key] = known
    return known
