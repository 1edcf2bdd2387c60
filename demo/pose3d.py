"""The 3D stage: every kept person's 2D track lifted to 3D, saved as NumPy and JSON.

Lifting is :func:`lifter.inference.lift_tracks`, with the windows of every person in the
same forward passes. A frame where the person is ABSENT (no 2D keypoints) splits the
track: each run of present frames (detected, or a short gap the 2D stage filled) is one
clip for the lifter, so a long absence is never bridged by invented motion, and absent
frames stay NaN.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.files import atomic_output
from core.joints import H36M_JOINTS
from lifter import inference
from lifter.inference import LiftOptions
from lifter.registry import LifterModel

from .display_frame import world_for_display
from .pose2d import Pose2DResult
from .track import FrameState

log = logging.getLogger(__name__)

RESULT_NPZ = "pose3d.npz"
RESULT_JSON = "pose3d.json"
UNITS = (
    "camera: root-relative camera space in the lifter's units (metres for the official checkpoints), "
    "pelvis at 0; world: the seeds' display frame (their camera rotation, z up, each frame's lowest joint at z=0); "
    "scores: the 2D keypoint scores the 3D was lifted from (0..1)"
)


@dataclass
class Track3D:
    """One person's 3D poses, one row per video frame.

    Attributes:
        track_id: the 2D track's id.
        state: ``(T,)`` uint8 frame state of the 2D track (0 absent, 1 detected, 2 filled).
        camera: ``(T, 17, 3)`` root-relative camera space, lifter units; NaN where absent.
        world: ``(T, 17, 3)`` display frame (z up, floor at 0); NaN where absent.
        scores: ``(T, 17)`` float32 scores of the 2D Human3.6M keypoints that were lifted
            (``Track2D.h36m_scores``); NaN where absent.
    """

    track_id: int
    state: np.ndarray
    camera: np.ndarray
    world: np.ndarray
    scores: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.state != FrameState.ABSENT

    @property
    def valid(self) -> np.ndarray:
        """``(T,)`` True where the 2D came from a detection (not interpolated, not absent)."""
        return self.state == FrameState.DETECTED


@dataclass
class Pose3DResult:
    """Every kept person's 3D track in one video.

    Attributes:
        pose2d: the 2D result it was lifted from (video metadata, tracks).
        tracks: in the 2D result's order.
        lifter: name or path, family, window, mode, flip, precision.
    """

    pose2d: Pose2DResult
    tracks: list[Track3D]
    lifter: dict[str, Any]

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``pose3d.npz`` and ``pose3d.json``; returns their paths.

        ``pose3d.npz`` holds ``track_ids (N,)``, ``state`` and ``valid (N, T)``, ``camera``
        and ``world (N, T, 17, 3)``, ``scores (N, T, 17)``, ``fps`` and ``joints``.
        """
        out_dir = Path(out_dir)
        t = self.pose2d.num_frames

        def stacked(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
            if not self.tracks:
                return np.zeros((0, t, *shape), dtype)
            return np.stack([getattr(tr, name) for tr in self.tracks]).astype(dtype)

        arrays = {
            "track_ids": np.array([tr.track_id for tr in self.tracks], np.int64),
            "state": stacked("state", (), np.uint8),
            "camera": stacked("camera", (17, 3), np.float32),
            "world": stacked("world", (17, 3), np.float32),
            "scores": stacked("scores", (17,), np.float32),
            "fps": np.array(float(self.pose2d.video.fps)),
            "joints": np.array(H36M_JOINTS),
        }
        arrays["valid"] = arrays["state"] == FrameState.DETECTED
        npz, js = out_dir / RESULT_NPZ, out_dir / RESULT_JSON
        with atomic_output(npz) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        with atomic_output(js) as tmp:
            tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")))
        return [npz, js]

    def to_json(self) -> dict[str, Any]:
        """The same content for people who do not use NumPy: per track only the frames where
        the person is present, coordinates rounded to 0.01 mm, scores to 3 decimals."""
        tracks = []
        for tr in self.tracks:
            frames = np.flatnonzero(tr.present)
            scores = np.round(tr.scores[frames].astype(np.float64), 3)
            tracks.append({
                "track_id": tr.track_id,
                "frames": frames.tolist(),
                "valid": tr.valid[frames].tolist(),
                "camera": np.round(tr.camera[frames], 5).tolist(),
                "world": np.round(tr.world[frames], 5).tolist(),
                "scores": np.where(np.isfinite(scores), scores, None).tolist(),  # JSON has no NaN: null
            })  # fmt: skip
        return {
            "video": self.pose2d.video.to_json(),
            "lifter": self.lifter,
            "joints": list(H36M_JOINTS),
            "units": UNITS,
            "tracks": tracks,
        }


def lift_tracks(
    pose2d: Pose2DResult, model: LifterModel, options: LiftOptions | None = None, *, lifter_name: str = "", progress: bool = True
) -> Pose3DResult:
    """Lift every track of a 2D result together (see the module docstring).

    Args:
        pose2d: the 2D stage's result.
        model: a loaded lifter.
        options: lifting protocol, batching and precision (``progress`` is overridden).
        lifter_name: registry name or checkpoint path, recorded in the result.
        progress: show a progress bar over the frames lifted.
    """
    options = dataclasses.replace(options or LiftOptions(), progress=progress)
    w, h = pose2d.video.width, pose2d.video.height
    absent_nan = [np.where(t.present[:, None, None], t.h36m, np.nan) for t in pose2d.tracks]
    lifted = inference.lift_tracks(absent_nan, w, h, model, options)
    tracks = []
    for track, result in zip(pose2d.tracks, lifted):
        camera = result.camera
        world = np.full_like(camera, np.nan)
        world[result.present] = world_for_display(camera[result.present])
        scores = np.where(track.present[:, None], track.h36m_scores, np.nan).astype(np.float32)
        tracks.append(Track3D(track.track_id, track.state.copy(), camera, world, scores))
    info = {
        "name": lifter_name,
        "family": model.family,
        "window": model.num_frames,
        "mode": options.mode,
        "flip": options.flip,
        "precision": options.precision,
    }
    return Pose3DResult(pose2d, tracks, info)
