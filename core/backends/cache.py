"""Converted models on disk: ``<checkpoints>/converted/<label>-<digest>/`` (or
``$POSE3D_CONVERTED``), one folder per key.

A key holds everything that makes a converted file different: the weights' sha256, the
entry point (which forward of the module), the input shapes and dynamic axes, the
backend and its version, and torch's version (the exporter). A folder is built in a
temporary sibling and renamed into place with ``entry.json`` (the key and every file's
sha256) written last, so a reader never sees half a conversion. Workers that start
together (a batch, Ray actors on one machine) take a file lock per key first: the
second waits and loads the first one's result. An entry whose files do not match its
record, or that the backend cannot load, is rebuilt with one warning. A cache folder
that cannot be written (read-only disk) means converting in a temporary folder for this
run only, with one warning.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..files import file_fingerprint
from ..weights import checkpoints_dir

log = logging.getLogger(__name__)

CONVERTED_DIR_ENV = "POSE3D_CONVERTED"
ENTRY_JSON = "entry.json"
T = TypeVar("T")
_warned_readonly: set[str] = set()


def key_digest(key: dict[str, Any]) -> str:
    """16 hex digits identifying ``key`` (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ConversionCache:
    """Converted models under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, label: str, key: dict[str, Any]) -> Path:
        """Where the conversion of ``key`` lives (whether or not it exists yet)."""
        return self.root / f"{label}-{key_digest(key)}"

    def _valid(self, folder: Path, key: dict[str, Any]) -> str | None:
        """None if ``folder`` holds a complete entry for ``key``; else why not."""
        try:
            record = json.loads((folder / ENTRY_JSON).read_text())
        except (OSError, ValueError) as e:
            return f"its record is unreadable ({e})"
        if record.get("key") != json.loads(json.dumps(key, sort_keys=True, default=str)):
            return "its record is for another key"
        for name, digest in record.get("files", {}).items():
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if file_fingerprint(path) != digest:
                return f"{name} does not match its recorded sha256"
        return None

    def get_or_build(
        self,
        label: str,
        key: dict[str, Any],
        build: Callable[[Path], None],
        load: Callable[[Path], T],
    ) -> tuple[T, bool]:
        """The loaded conversion of ``key``, building it first if needed.

        Args:
            label: readable folder prefix (``hrnet-openvino``).
            key: what identifies the conversion (see the module docstring).
            build: writes the converted files into the (empty) folder it is given.
            load: loads them from a folder; any exception means the entry is corrupt.

        Returns:
            ``(loaded, built)``: built is False when an existing entry was reused.
        """
        folder = self.folder(label, key)
        loaded = self._try_load(folder, key, load, quiet=True)
        if loaded is not None:
            return loaded, False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-")
            probe.close()
        except OSError as e:
            return self._build_in_temp(label, key, build, load, e), True
        from filelock import FileLock

        with FileLock(self.root / f".{folder.name}.lock"):
            loaded = self._try_load(folder, key, load, quiet=False)  # another worker may have built it
            if loaded is not None:
                return loaded, False
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{folder.name}-"))
            try:
                build(tmp)
                files = {p.relative_to(tmp).as_posix(): file_fingerprint(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
                (tmp / ENTRY_JSON).write_text(json.dumps({"key": key, "files": files}, indent=1, default=str))
                if folder.exists():
                    shutil.rmtree(folder)
                os.replace(tmp, folder)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return load(folder), True

    def _try_load(self, folder: Path, key: dict[str, Any], load: Callable[[Path], T], quiet: bool) -> T | None:
        if not folder.is_dir():
            return None
        problem = self._valid(folder, key)
        if problem is None:
            try:
                return load(folder)
            except Exception as e:  # noqa: BLE001 - any backend error on load means a bad entry
                problem = f"the backend cannot load it ({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''})"
        if not quiet:  # the first, unlocked look stays silent: the locked one that follows reports
            log.warning("the converted model in %s is damaged (%s): converting again", folder, problem)
        return None

    def _build_in_temp(
        self, label: str, key: dict[str, Any], build: Callable[[Path], None], load: Callable[[Path], T], error: OSError
    ) -> T:
        if str(self.root) not in _warned_readonly:
            _warned_readonly.add(str(self.root))
            log.warning("cannot write converted models to %s (%s): converting for this run only, "
                        "nothing is cached", self.root, error.strerror or error)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix=f"pose3d-{label}-") as tmp:
            build(Path(tmp))
            return load(Path(tmp))


def conversion_cache() -> ConversionCache:
    """The cache this process uses: ``$POSE3D_CONVERTED`` or ``<checkpoints>/converted``."""
    return ConversionCache(os.environ.get(CONVERTED_DIR_ENV) or checkpoints_dir() / "converted")
