"""Named 2D keypoint models and person detectors (from ``checkpoints/manifest.json``),
and fetching named weights (a name or a path becomes a file with
:func:`lifter.registry.resolve_weights`)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import CheckpointError
from lifter.registry import Source, WeightsFile, close_matches, load_manifest

DEFAULT_POSE2D = "hrnet-w48-384x288"


@dataclass(frozen=True, kw_only=True)
class Pose2DEntry(WeightsFile):
    """A top-down HRNet checkpoint.

    Attributes:
        arch: ``hrnet-w32`` or ``hrnet-w48``.
        input_size: crop ``(width, height)`` in pixels it was trained with.
        coco_ap: COCO val keypoint AP reported by the publisher (not measured here).
        note: one line for ``--help`` and the README.
    """

    arch: str
    input_size: tuple[int, int]
    coco_ap: float | None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class DetectorEntry(WeightsFile):
    """An Ultralytics YOLO detector (downloaded through Ultralytics' own asset resolver).

    Attributes:
        coco_map: COCO val box mAP 50-95 reported by Ultralytics.
        note: one line for ``--help`` and the README.
    """

    coco_map: float
    note: str = ""


@lru_cache(maxsize=1)
def pose2d_entries() -> dict[str, Pose2DEntry]:
    out = {}
    for name, raw in load_manifest()["pose2d"].items():
        fields = dict(raw, name=name, source=Source(**raw["source"]), input_size=tuple(raw["input_size"]))
        out[name] = Pose2DEntry(**fields)
    return out


@lru_cache(maxsize=1)
def detector_entries() -> dict[str, DetectorEntry]:
    return {
        name: DetectorEntry(**dict(raw, name=name, source=Source(**raw["source"])))
        for name, raw in load_manifest()["detectors"].items()
    }


def ultralytics_asset_url(name: str) -> str:
    """Where Ultralytics itself downloads a released asset such as ``yolo26l.pt`` from."""
    import inspect

    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, GITHUB_ASSETS_REPO, attempt_download_asset

    if name not in GITHUB_ASSETS_NAMES:
        raise CheckpointError(f"'{name}' is not an Ultralytics release asset; pass a weights file path instead")
    # The release this ultralytics version downloads its assets from (its own default).
    release = inspect.signature(attempt_download_asset).parameters["release"].default
    return f"https://github.com/{GITHUB_ASSETS_REPO}/releases/download/{release}/{name}"


def all_entries() -> dict[str, WeightsFile]:
    """Every named weights file: lifters, 2D models, detectors."""
    from lifter.registry import lifter_entries

    return {**lifter_entries(), **pose2d_entries(), **detector_entries()}


def fetch(entry: WeightsFile, *, progress: bool = True) -> Path:
    """Download ``entry`` into the checkpoint folder (verified, atomic); a no-op if it is there.

    Raises:
        DownloadError: offline, refused, or the file failed its checks (one line, with what
            to download by hand and where to put it).
    """
    from .download import download_gdrive, download_gdrive_folder_file, download_url

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


def ensure_downloaded(names: list[str], *, progress: bool = True) -> list[Path]:
    """Make every named file available, downloading what is missing.

    Raises:
        DownloadError: naming each file that could not be fetched, its source and destination.
    """
    from .download import DownloadError

    entries = all_entries()
    unknown = [n for n in names if n not in entries]
    if unknown:
        raise CheckpointError(
            f"unknown checkpoint name(s) {', '.join(unknown)}{close_matches(unknown[0], list(entries))}; "
            f"names: {', '.join(entries)}"
        )
    paths, failures = [], []
    for name in names:
        try:
            paths.append(fetch(entries[name], progress=progress))
        except DownloadError as e:
            failures.append(str(e))
    if failures:
        raise DownloadError(" | ".join(failures))
    return paths
