"""Writing result files so that an interrupted run never leaves a file that looks finished."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from .errors import UserError


def umask() -> int:
    """The process umask (reading it requires setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    except OSError as e:
        raise UserError(f"cannot write to {path.parent}: {e.strerror or e}") from None
    os.close(fd)
    os.chmod(name, 0o666 & ~umask())  # mkstemp makes 0600; results should get the usual permissions
    return Path(name)


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
