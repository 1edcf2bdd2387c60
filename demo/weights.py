"""Every weights file the application knows by name (the lifters' and the 2D stage's
registries together), and making a list of them available: ``vis.py download``, ``vis.py
list`` and the pipeline's fetch of missing weights. Fetching one file is
:func:`core.download.fetch`."""
from __future__ import annotations

from pathlib import Path

from core.download import DownloadError, fetch
from core.errors import CheckpointError
from core.weights import WeightsFile, close_matches
from lifter.registry import lifter_entries

from .pose2d.registry import detector_entries, pose2d_entries


def all_entries() -> dict[str, WeightsFile]:
    """Every named weights file: lifters, 2D models, detectors."""
    return {**lifter_entries(), **pose2d_entries(), **detector_entries()}


def ensure_downloaded(names: list[str], *, progress: bool = True) -> list[Path]:
    """Make every named file available, downloading what is missing.

    Raises:
        DownloadError: naming each file that could not be fetched, its source and destination.
    """
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
