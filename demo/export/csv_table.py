"""``<clip>_joints.csv``: the motion as one tidy table, for pandas and spreadsheets.

One row per present frame x person x joint::

    frame,time_s,person,joint,x,y,z,u,v,score

``x, y, z``: world space in metres (Y up, floor at y = 0, z toward the camera; see
:mod:`demo.motion.ground`); ``u, v``: the 2D keypoint in pixels that was lifted (after
smoothing); ``score``: its 2D confidence. Frames where a person is absent have no rows;
a value that is unknown (a joint the 2D model lost) is an empty cell. Plain CSV needs no
table library: NumPy formats the numbers column by column.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.files import atomic_output
from core.joints import H36M_JOINTS

if TYPE_CHECKING:
    from demo.pose3d import Pose3DResult

HEADER = ("frame", "time_s", "person", "joint", "x", "y", "z", "u", "v", "score")
_FORMATS = ("%.5f", "%.5f", "%.5f", "%.2f", "%.2f", "%.3f")


def write_joints_csv(path: str | Path, pose3d: Pose3DResult) -> Path:
    """Write the table (see the module docstring) atomically; returns ``path``."""
    path = Path(path)
    fps = pose3d.fps
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\n")
        for track in pose3d.tracks:
            frames = np.flatnonzero(track.present)
            if not len(frames):
                continue
            values = np.concatenate([track.world[frames], track.keypoints_2d[frames],
                                     track.scores[frames][..., None]], axis=-1)  # (n, 17, 6) fmt: skip
            cells = _cells(values.reshape(-1, 6))
            frame_col = np.repeat(frames, len(H36M_JOINTS)).tolist()
            time_col = np.char.mod("%.4f", np.repeat(frames / fps, len(H36M_JOINTS))).tolist()
            joints = H36M_JOINTS * len(frames)
            person = track.track_id
            f.writelines(f"{frame},{time},{person},{joint},{row}\n"
                         for frame, time, joint, row in zip(frame_col, time_col, joints, cells))  # fmt: skip
    return path


def _cells(values: np.ndarray) -> list[str]:
    """Rows of ``values (n, 6)`` as comma-joined text; NaN becomes an empty cell."""
    columns = []
    for k, fmt in enumerate(_FORMATS):
        col = values[:, k].astype(np.float64)
        columns.append(np.where(np.isfinite(col), np.char.mod(fmt, np.nan_to_num(col)), "").tolist())
    return [",".join(row) for row in zip(*columns)]
