"""The 3D stage: every kept person's 2D track lifted on its own, saved as NumPy and JSON.

A track is lifted in segments: each run of frames where the person has 2D keypoints
(detected, or a short filled gap) is one clip for the lifter, so a long absence is never
bridged by invented motion. Frames where the person is absent stay NaN.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lifter.files import atomic_output
from lifter.inference import LiftOptions, lift_track, world_for_display
from lifter.registry import LifterModel

from .pose2d import Pose2DResult
from .skeleton import H36M_JOINTS
from .track import FrameState

log = logging.getLogger(__name__)

RESULT_NPZ = "pose3d.npz"
RESULT_JSON = "pose3d.json"
UNITS = (
    "camera: root-relative camera space in the lifter's units (metres for the official checkpoints), "
    "pelvis at 0; world: the seeds' display frame (their camera rotation, z up, each frame's lowest joint at z=0)"
)


@dataclass
class Track3D:
    """One person's 3D poses, one row per video frame.

    Attributes:
        track_id: the 2D track's id.
        state: ``(T,)`` uint8 frame state of the 2D track (0 absent, 1 detected, 2 filled).
        camera: ``(T, 17, 3)`` root-relative camera space, lifter units; NaN where absent.
        world: ``(T, 17, 3)`` display frame (z up, floor at 0); NaN where absent.
    """

    track_id: int
    state: np.ndarray
    camera: np.ndarray
    world: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.state != FrameState.ABSENT

    @property
    def valid(self) -> np.ndarray:
        """``(T,)`` True where the 2D came from a detection (not interpolated, not absent)."""
        return self.state == FrameState.DETECTED


def present_segments(present: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a ``(T,)`` mask as ``(start, stop)`` half-open frame ranges."""
    edges = np.diff(np.concatenate(([0], present.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


@dataclass
class Pose3DResult:
    """Every kept person's 3D track in one video.

    Attributes:
        pose2d: the 2D result it was lifted from (video metadata, tracks).
        tracks: in the 2D result's order.
        lifter: name or path, family, window, mode.
    """

    pose2d: Pose2DResult
    tracks: list[Track3D]
    lifter: dict[str, Any]

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``pose3d.npz`` and ``pose3d.json``; returns their paths."""
        out_dir = Path(out_dir)
        t = self.pose2d.num_frames
        n = len(self.tracks)
        arrays = {
            "track_ids": np.array([tr.track_id for tr in self.tracks], np.int64),
            "state": np.stack([tr.state for tr in self.tracks]).astype(np.uint8) if n else np.zeros((0, t), np.uint8),
            "camera": np.stack([tr.camera for tr in self.tracks]) if n else np.zeros((0, t, 17, 3), np.float32),
            "world": np.stack([tr.world for tr in self.tracks]) if n else np.zeros((0, t, 17, 3), np.float32),
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
        the person is present, coordinates rounded to 0.01 mm."""
        tracks = []
        for tr in self.tracks:
            frames = np.flatnonzero(tr.present)
            tracks.append({
                "track_id": tr.track_id,
                "frames": frames.tolist(),
                "valid": tr.valid[frames].tolist(),
                "camera": np.round(tr.camera[frames], 5).tolist(),
                "world": np.round(tr.world[frames], 5).tolist(),
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
    """Lift each track of a 2D result (see the module docstring).

    Args:
        pose2d: the 2D stage's result.
        model: a loaded lifter.
        options: lifting protocol and batching (progress bars are handled here).
        lifter_name: registry name or checkpoint path, recorded in the result.
    """
    options = options or LiftOptions()
    w, h = pose2d.video.width, pose2d.video.height
    tracks = []
    total = sum(int(t.present.sum()) for t in pose2d.tracks)
    with tqdm(total=total, unit="frame", desc="lifting", disable=not progress, leave=False) as bar:
        for track in pose2d.tracks:
            camera = np.full((pose2d.num_frames, 17, 3), np.nan, np.float32)
            for start, stop in present_segments(track.present):
                camera[start:stop] = lift_track(track.h36m[start:stop], w, h, model, options).camera
                bar.update(stop - start)
            world = np.full_like(camera, np.nan)
            world[track.present] = world_for_display(camera[track.present])
            tracks.append(Track3D(track.track_id, track.state.copy(), camera, world))
    info = {"name": lifter_name, "family": model.family, "window": model.num_frames, "mode": options.mode, "flip": options.flip}
    return Pose3DResult(pose2d, tracks, info)
