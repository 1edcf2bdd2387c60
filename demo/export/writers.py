"""``--export``: which motion files a clip gets beside ``pose3d.npz`` and ``pose3d.json``.

``csv`` writes ``<clip>_joints.csv`` (:mod:`.csv_table`); ``bvh`` one
``<clip>_person<id>.bvh`` per person (:mod:`.bvh`); ``fbx`` converts those BVH files with
Blender (:mod:`.fbx`), so it writes the BVH files too.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from demo.pose3d import Pose3DResult

EXPORT_FORMATS = ("bvh", "csv", "fbx")


def parse_exports(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"bvh,csv"`` (or a list) -> ``("bvh", "csv")``; an empty spec is no export.

    Raises:
        UserError: an unknown format, naming the known ones.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [s.strip().lower() for s in items if s.strip()]
    unknown = [n for n in names if n not in EXPORT_FORMATS]
    if unknown:
        raise UserError(f"unknown export format {', '.join(map(repr, unknown))}; choose from {', '.join(EXPORT_FORMATS)}")
    return tuple(sorted(set(names), key=EXPORT_FORMATS.index))


def write_exports(out_dir: Path, stem: str, pose3d: Pose3DResult, formats: Iterable[str]) -> list[Path]:
    """Write the requested formats for one clip; returns the paths written."""
    formats = set(formats)
    paths: list[Path] = []
    if "csv" in formats:
        from .csv_table import write_joints_csv

        paths.append(write_joints_csv(out_dir / f"{stem}_joints.csv", pose3d))
    if formats & {"bvh", "fbx"}:
        from .bvh import write_bvh_files

        people = [(t.track_id, t.world, t.present, t.state) for t in pose3d.tracks]
        bvh_files = write_bvh_files(out_dir, stem, people, pose3d.fps)
        paths += bvh_files
        if "fbx" in formats:
            from .fbx import bvh_to_fbx

            paths += bvh_to_fbx([p for p in bvh_files if p.suffix == ".bvh"])
    return paths
