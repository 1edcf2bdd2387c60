"""2D tracks -> 3D tracks: every person smoothed, lifted and placed in the scene.

- :mod:`.lift`: :func:`lift_people` (smoothing, the lifter in chunks, placement).
- :mod:`.result`: :class:`Pose3DResult` / :class:`Track3D` and their storage
  (``pose3d.npz``, ``pose3d.json``).
"""
from __future__ import annotations

from .lift import lift_people
from .result import Pose3DResult, Track3D

__all__ = ["Pose3DResult", "Track3D", "lift_people"]
