"""``--export``: which motion files a clip gets beside ``pose3d.npz`` and ``pose3d.json``
(the writers that produce them are in :mod:`demo.outputs`).

``csv`` writes ``<clip>_joints.csv`` (:mod:`.csv_table`); ``bvh`` one
``<clip>_person<id>.bvh`` per person (:mod:`.bvh`); ``fbx`` converts those BVH files with
Blender (:mod:`.fbx`), so it writes the BVH files too.
"""
from __future__ import annotations

from collections.abc import Iterable

from core.errors import UserError

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
