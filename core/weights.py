"""Weights files: where they live, where they are published, and the manifest that names them.

``checkpoints/manifest.json`` (committed; the weights are not) lists every named weights
file by kind (``lifters``, ``pose2d``, ``detectors``). This module knows files, not models:
a :class:`WeightsFile` is a name, a file under :func:`checkpoints_dir`, a :class:`Source`
and the published size and sha256. Each model family's registry (``lifter.registry``,
``demo.pose2d.registry``) turns its manifest section into entries of its own type, and
:func:`resolve_weights` turns a name or a path into a file.
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from .errors import CheckpointError

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PATH = REPO_ROOT / "checkpoints" / "manifest.json"
CHECKPOINT_DIR_ENV = "POSE3D_CHECKPOINTS"


def checkpoints_dir() -> Path:
    """Folder holding downloaded weights: ``$POSE3D_CHECKPOINTS`` or ``<repo>/checkpoints``."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or REPO_ROOT / "checkpoints")


@dataclass(frozen=True)
class Source:
    """Where a file is published: a Google Drive file or folder id, a URL, or an Ultralytics asset name."""

    gdrive_file: str | None = None
    gdrive_folder: str | None = None
    url: str | None = None
    ultralytics: str | None = None  # an asset name Ultralytics downloads itself

    @property
    def page(self) -> str:
        """A link a person can open in a browser to fetch the file by hand."""
        if self.gdrive_file:
            return f"https://drive.google.com/file/d/{self.gdrive_file}/view"
        if self.gdrive_folder:
            return f"https://drive.google.com/drive/folders/{self.gdrive_folder}"
        if self.ultralytics:
            return f"https://github.com/ultralytics/assets/releases (asset {self.ultralytics})"
        return self.url or "(no published source)"


@dataclass(frozen=True, kw_only=True)
class WeightsFile:
    """A published weights file the tools know by name.

    Attributes:
        name: registry name, e.g. ``stcformer-27``.
        file: file name under :func:`checkpoints_dir`.
        source: where it is published.
        size, sha256: of the published file, where known; ``sha256`` may be a prefix
            (MMPose and torch.hub put the first 8 hex digits in the file name).
    """

    name: str
    file: str
    source: Source
    size: int | None = None
    sha256: str | None = None

    @property
    def path(self) -> Path:
        return checkpoints_dir() / self.file

    def missing_message(self) -> str:
        """One line telling the user what is missing and how to get it."""
        where = self.source.page
        if self.source.gdrive_folder:
            where += f" (file {self.file} in that folder)"
        return (
            f"checkpoint '{self.name}' is not downloaded: expected {self.path}. Get it from {where} and "
            "save it there (the application's download command fetches it), or pass a file path instead"
        )


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    """``checkpoints/manifest.json``: every named weights file, by kind."""
    with open(MANIFEST_PATH, encoding="utf-8") as f:
        return json.load(f)


def manifest_section(kind: str) -> dict[str, dict[str, Any]]:
    """One kind of the manifest (``lifters``, ``pose2d``, ``detectors``): name -> raw entry,
    with its ``source`` already a :class:`Source`."""
    return {name: dict(raw, name=name, source=Source(**raw["source"])) for name, raw in load_manifest()[kind].items()}


def close_matches(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    hits = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{hits[0]}'?)" if hits else ""


Entry = TypeVar("Entry", bound=WeightsFile)


def resolve_weights(spec: str | Path, entries: Mapping[str, Entry], what: str) -> tuple[Path, Entry | None]:
    """A registry name or a path -> ``(file, entry or None)``; a file whose name is an
    entry's file name is taken as that entry.

    Raises:
        CheckpointError: a name whose file is not downloaded (saying how to get it), or
            neither a known name nor an existing file (suggesting a close name).
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        by_file = [e for e in entries.values() if e.file == path.name]
        return path, (by_file[0] if by_file else None)
    if text in entries:
        entry = entries[text]
        if not entry.path.is_file():
            raise CheckpointError(entry.missing_message())
        return entry.path, entry
    raise CheckpointError(
        f"no checkpoint file or {what} name '{text}'{close_matches(text, list(entries))}; names: {', '.join(entries)}"
    )
