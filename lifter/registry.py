"""Named lifter variants: the official checkpoints, their configs and where they are published.

The data lives in ``checkpoints/manifest.json`` (committed; the weights are not).
A name such as ``stcformer-27`` resolves to a config, a local file under the
checkpoint folder and a download source.
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, Union

from torch import nn

from core.errors import CheckpointError
from .poseformerv2 import PoseFormerV2, PoseFormerV2Config
from .stcformer import STCFormer, STCFormerConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PATH = REPO_ROOT / "checkpoints" / "manifest.json"
CHECKPOINT_DIR_ENV = "POSE3D_CHECKPOINTS"

LifterConfig = Union[STCFormerConfig, PoseFormerV2Config]
LifterModel = Union[STCFormer, PoseFormerV2]

#: family name -> (model class, config class)
FAMILIES: dict[str, tuple[type[nn.Module], type]] = {
    "stcformer": (STCFormer, STCFormerConfig),
    "poseformerv2": (PoseFormerV2, PoseFormerV2Config),
}


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


@dataclass(frozen=True, kw_only=True)
class LifterEntry(WeightsFile):
    """One official lifter checkpoint.

    Attributes:
        family: ``stcformer`` or ``poseformerv2``.
        config: the architecture, including the window length the file does not store.
        mpjpe_mm, p_mpjpe_mm: the authors' Human3.6M errors (reported, not measured here).
    """

    family: str
    config: LifterConfig
    mpjpe_mm: float
    p_mpjpe_mm: float | None = None


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    """``checkpoints/manifest.json``: every named weights file, by kind."""
    with open(MANIFEST_PATH, encoding="utf-8") as f:
        return json.load(f)


def _parse_entry(name: str, raw: dict[str, Any]) -> LifterEntry:
    family = raw["family"]
    if family not in FAMILIES:
        raise ValueError(f"manifest entry {name}: unknown family {family!r}")
    config = FAMILIES[family][1](**raw["config"])
    return LifterEntry(
        name=name,
        family=family,
        config=config,
        file=raw["file"],
        mpjpe_mm=raw["mpjpe_mm"],
        p_mpjpe_mm=raw.get("p_mpjpe_mm"),
        source=Source(**raw["source"]),
        size=raw.get("size"),
        sha256=raw.get("sha256"),
    )


@lru_cache(maxsize=1)
def lifter_entries() -> dict[str, LifterEntry]:
    """All named lifters, in manifest order."""
    return {name: _parse_entry(name, item) for name, item in load_manifest()["lifters"].items()}


def close_matches(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    hits = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" (did you mean '{hits[0]}'?)" if hits else ""


def get_entry(name: str) -> LifterEntry:
    """The registry entry called ``name``; a clear error with the known names otherwise."""
    entries = lifter_entries()
    if name not in entries:
        raise CheckpointError(
            f"unknown lifter '{name}'{close_matches(name, list(entries))}; known: {', '.join(entries)}"
        )
    return entries[name]


def config_to_dict(config: LifterConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(config)}


def build_lifter(config: LifterConfig) -> LifterModel:
    """A randomly initialised model for ``config`` (eval mode)."""
    for model_cls, config_cls in FAMILIES.values():
        if isinstance(config, config_cls):
            return model_cls(config).eval()
    raise TypeError(f"not a lifter config: {config!r}")


def create_lifter(name: str) -> LifterModel:
    """A randomly initialised model with the architecture of registry entry ``name``."""
    return build_lifter(get_entry(name).config)


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
