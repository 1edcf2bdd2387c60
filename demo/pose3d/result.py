"""The 3D stage's result: every kept person's 3D track over its span of frames
(:class:`Track3D`, joined to the 2D result by ``track_id``), the camera and floor they
were placed with, and its storage.

Files (in the clip's output folder):

- ``pose3d.npz``: the tracks as rows (:mod:`core.npz`: ``track_ids (N,)``, ``row_track
  (M,)``, ``frame (M,)``; one row per frame of each track's span), with per row ``state``
  and ``valid``, ``camera``, ``camera_joints`` and ``world (M, 17, 3)``, ``root (M, 3)``,
  ``scores (M, 17)`` and ``keypoints_2d (M, 17, 2)``; and ``num_frames``, ``fps``,
  ``joints``, ``intrinsics (3, 3)``, ``world_from_camera (4, 4)`` and ``info`` (the JSON
  header below, as text). Units and axes: :data:`UNITS`.
- ``pose3d.json``: the same for people who do not use NumPy, per track only the frames
  where the person is present (written track by track, never held whole in memory).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.files import atomic_output
from core.frames import FrameState, TrackSpan, find_track
from core.joints import H36M_JOINTS
from core.npz import NpzWriter, read_track_rows, write_track_rows

from ..io.video import VideoMeta
from ..motion.camera import PinholeCamera
from ..motion.ground import GroundFrame

FORMAT_VERSION = 2
RESULT_NPZ = "pose3d.npz"
RESULT_JSON = "pose3d.json"
NUM_JOINTS = len(H36M_JOINTS)
UNITS = (
    "metres (the lifter's units). camera: root-relative camera space (x right, y down, z forward), pelvis at 0; "
    "root: the pelvis position in camera space; camera_joints: camera + root; "
    "world: gravity-aligned (x right along the floor, y up, z toward the camera), floor (ankle height) at y=0, "
    "origin on the floor below the camera; scores: the 2D keypoint scores the 3D was lifted from (0..1); "
    "keypoints_2d: the (smoothed) 2D keypoints that were lifted, pixels. "
    "Rows: one per frame of a track's span (first to last frame with a pose), 'frame' the video frame"
)

#: Per-row arrays stored in ``pose3d.npz``: name -> (shape of one row, dtype).
COLUMNS: dict[str, tuple[tuple[int, ...], Any]] = {
    "state": ((), np.uint8),
    "valid": ((), np.bool_),
    "camera": ((NUM_JOINTS, 3), np.float32),
    "root": ((3,), np.float32),
    "camera_joints": ((NUM_JOINTS, 3), np.float32),
    "world": ((NUM_JOINTS, 3), np.float32),
    "scores": ((NUM_JOINTS,), np.float32),
    "keypoints_2d": ((NUM_JOINTS, 2), np.float32),
}
#: The columns a :class:`Track3D` holds (the others are computed from them).
STORED = ("state", "root", "world", "scores", "keypoints_2d")


@dataclass
class Track3D(TrackSpan):
    """One person's 3D poses over their span (see :class:`core.frames.TrackSpan`): row
    ``i`` of every array is video frame ``start + i``.

    Attributes:
        track_id: the 2D track's id (:meth:`demo.pose2d.result.Pose2DResult.track`).
        start, state: the span and its ``(n,)`` uint8 frame states (0 absent, 1 detected,
            2 filled), as in the 2D track.
        root: ``(n, 3)`` float32 the pelvis position in camera space, metres; NaN where absent.
        world: ``(n, 17, 3)`` float32 world space: metres, Y up, floor at y = 0, x along
            the camera's right, z toward the camera; NaN where absent.
        scores: ``(n, 17)`` float32 scores of the 2D Human3.6M keypoints that were lifted
            (``Track2D.h36m_scores``); NaN where absent.
        keypoints_2d: ``(n, 17, 2)`` float32 the 2D Human3.6M keypoints that were lifted
            (after smoothing), pixels; NaN where absent.
        ground: the clip's floor and world frame; with it the camera-space joints are
            computed from ``world`` (:attr:`camera_joints`, :attr:`camera`) instead of
            being stored twice (memory: an hour of street video is ~1.4 M rows).
    """

    root: np.ndarray
    world: np.ndarray
    scores: np.ndarray
    keypoints_2d: np.ndarray
    ground: GroundFrame

    @property
    def camera_joints(self) -> np.ndarray:
        """``(n, 17, 3)`` float32 camera space (x right, y down, z forward), metres."""
        return self.ground.to_camera(self.world)

    @property
    def camera(self) -> np.ndarray:
        """``(n, 17, 3)`` float32 root-relative camera space, metres, pelvis at 0 (the
        lifter's output after ``--smooth-3d``, to float32 rounding); NaN where absent."""
        relative = self.camera_joints - self.root[:, None, :]
        relative[:, 0] = np.where(np.isfinite(relative[:, 0]), 0.0, np.nan)  # the root joint, exactly
        return relative

    def camera_at(self, row: int) -> np.ndarray:
        """``(17, 3)`` :attr:`camera` of one row (what the slots layout draws per frame)."""
        relative = self.ground.to_camera(self.world[row]) - self.root[row]
        relative[0] = np.where(np.isfinite(relative[0]), 0.0, np.nan)
        return relative

    @property
    def valid(self) -> np.ndarray:
        """``(n,)`` True where the 2D came from a detection (not interpolated, not absent)."""
        return self.detected


@dataclass
class Pose3DResult:
    """Every kept person's 3D track in one video.

    Attributes:
        video: the video it was lifted from.
        tracks: in the 2D result's order (join them to it by ``track_id``).
        lifter: name or path, family, window, mode, flip, precision.
        camera: the pinhole camera the trajectories assume.
        ground: the floor and the world frame.
        smoothing: the filters used, as text.
    """

    video: VideoMeta
    tracks: list[Track3D]
    lifter: dict[str, Any]
    camera: PinholeCamera
    ground: GroundFrame
    smoothing: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.video.fps)

    @property
    def num_frames(self) -> int:
        return self.video.num_frames

    def track(self, track_id: int) -> Track3D:
        """The track with this id."""
        return find_track(self.tracks, track_id)

    def dense(self, track_id: int, name: str = "world") -> np.ndarray:
        """One track's array over the whole video: ``(T, ...)`` with NaN outside its span
        (``name``: ``world``, ``camera``, ``root``, ``scores``, ``keypoints_2d``, ``state``)."""
        return self.track(track_id).dense(name, self.num_frames)

    def header(self) -> dict[str, Any]:
        """Everything but the tracks (the head of ``pose3d.json``, the npz's ``info``)."""
        return {
            "format_version": FORMAT_VERSION,
            "video": self.video.to_json(),
            "lifter": self.lifter,
            "joints": list(H36M_JOINTS),
            "units": UNITS,
            "camera": self.camera.to_json(),
            "ground": self.ground.to_json(),
            "smoothing": self.smoothing,
        }

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``pose3d.npz`` and ``pose3d.json`` (see the module docstring); returns their paths."""
        out_dir = Path(out_dir)
        npz, js = out_dir / RESULT_NPZ, out_dir / RESULT_JSON
        header = self.header()
        with NpzWriter(npz) as w:
            write_track_rows(w, self.tracks, COLUMNS, values=lambda t, name: getattr(t, name))
            w.add("num_frames", np.array(self.num_frames))
            w.add("fps", np.array(self.fps))
            w.add("joints", np.array(H36M_JOINTS))
            w.add("intrinsics", self.camera.matrix())
            w.add("world_from_camera", self.ground.matrix())
            w.add("ground_rotation", self.ground.rotation)
            w.add("ground_origin", self.ground.origin)
            w.add("info", np.array(json.dumps(header)))
        with atomic_output(js) as tmp, open(tmp, "w", encoding="utf-8") as f:
            head = json.dumps(header, separators=(",", ":"))
            f.write(head[:-1] + ',"tracks":[')
            for i, tr in enumerate(self.tracks):
                f.write(("," if i else "") + json.dumps(track_json(tr), separators=(",", ":")))
            f.write("]}")
        return [npz, js]

    @classmethod
    def load(cls, out_dir: str | Path) -> Pose3DResult:
        """Read ``pose3d.npz`` back (to rebuild a folder's outputs without the models).

        Raises:
            ValueError: another format, or rows that are not a track table.
        """
        with np.load(Path(out_dir) / RESULT_NPZ) as data:
            header = json.loads(str(data["info"]))
            if header.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"{Path(out_dir) / RESULT_NPZ} has format {header.get('format_version')}, not {FORMAT_VERSION}")
            rows = read_track_rows(data, list(STORED))
            rotation, origin = np.asarray(data["ground_rotation"]), np.asarray(data["ground_origin"])
        g, c = header["ground"], header["camera"]
        ground = GroundFrame(rotation, origin, float(g["camera_height_m"]), g["method"], float(g["inliers"]))
        camera = PinholeCamera(float(c["focal_px"]), int(c["width"]), int(c["height"]))
        tracks = [Track3D(tid, start, **{k: np.array(v) for k, v in cols.items()}, ground=ground) for tid, start, cols in rows]
        return cls(VideoMeta.from_json(header["video"]), tracks, header["lifter"], camera, ground, header["smoothing"])


def track_json(tr: Track3D) -> dict[str, Any]:
    """One track in ``pose3d.json``: the frames where the person is present, coordinates
    rounded to 0.01 mm, scores to 3 decimals (null where unknown: JSON has no NaN)."""
    rows = np.flatnonzero(tr.present)
    scores = np.round(tr.scores[rows].astype(np.float64), 3)
    return {
        "track_id": tr.track_id,
        "frames": (rows + tr.start).tolist(),
        "valid": tr.valid[rows].tolist(),
        "camera": np.round(tr.camera[rows], 5).tolist(),
        "root": np.round(tr.root[rows], 5).tolist(),
        "world": np.round(tr.world[rows], 5).tolist(),
        "scores": np.where(np.isfinite(scores), scores, None).tolist(),
    }


__all__ = ["COLUMNS", "RESULT_JSON", "RESULT_NPZ", "UNITS", "FrameState", "Pose3DResult", "Track3D", "track_json"]
