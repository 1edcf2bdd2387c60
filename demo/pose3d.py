"""The 3D stage: every kept person's 2D track smoothed, lifted to 3D and placed in the
scene, saved as NumPy and JSON.

1. The 2D keypoints are smoothed in time (:mod:`demo.motion.smoothing`, ``--smooth``).
2. Lifting is :func:`lifter.inference.lift_tracks`, with the windows of every person in
   the same forward passes. A frame where the person is ABSENT (no 2D keypoints) splits
   the track: each run of present frames (detected, or a short gap the 2D stage filled)
   is one clip for the lifter, so a long absence is never bridged by invented motion, and
   absent frames stay NaN. The lifted poses may be smoothed too (``--smooth-3d``).
3. Placement (:mod:`demo.motion.placement`): each person's root trajectory in camera
   space, the floor, and the joints in the gravity-aligned world frame.
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
from .motion.camera import PinholeCamera
from .motion.ground import GroundFrame
from .motion.placement import TrackMotion, place_people
from .motion.smoothing import DEFAULT_PRESET, PRESETS, SmoothingConfig, smooth_track
from .pose2d import Pose2DResult
from .track import FrameState

log = logging.getLogger(__name__)

RESULT_NPZ = "pose3d.npz"
RESULT_JSON = "pose3d.json"
UNITS = (
    "metres (the lifter's units). camera: root-relative camera space (x right, y down, z forward), pelvis at 0; "
    "root: the pelvis position in camera space; camera_joints: camera + root; "
    "world: gravity-aligned (x right along the floor, y up, z toward the camera), floor (ankle height) at y=0, "
    "origin on the floor below the camera; display: the seeds' display frame (z up, each frame's lowest joint at z=0); "
    "scores: the 2D keypoint scores the 3D was lifted from (0..1); keypoints_2d: the (smoothed) 2D keypoints "
    "that were lifted, pixels"
)


@dataclass(frozen=True)
class MotionOptions:
    """Smoothing and the camera behind the trajectory.

    Attributes:
        focal: focal length in pixels, or None.
        fov: horizontal field of view in degrees, or None (with ``focal`` None: the
            default of :mod:`demo.motion.camera`).
        smooth: filter for the 2D keypoints before lifting and for the root trajectory.
        smooth_3d: filter for the lifted root-relative joints.
    """

    focal: float | None = None
    fov: float | None = None
    smooth: SmoothingConfig = PRESETS[DEFAULT_PRESET]
    smooth_3d: SmoothingConfig = PRESETS["none"]


@dataclass
class Track3D:
    """One person's 3D poses, one row per video frame.

    Attributes:
        track_id: the 2D track's id.
        state: ``(T,)`` uint8 frame state of the 2D track (0 absent, 1 detected, 2 filled).
        camera: ``(T, 17, 3)`` root-relative camera space (x right, y down, z forward),
            metres, pelvis at 0; NaN where absent.
        root: ``(T, 3)`` the pelvis position in camera space, metres; NaN where absent.
        world: ``(T, 17, 3)`` world space: metres, Y up, floor at y = 0, x along the
            camera's right, z toward the camera; NaN where absent.
        display: ``(T, 17, 3)`` the seeds' display frame (z up, each frame's lowest joint
            at z = 0); NaN where absent.
        scores: ``(T, 17)`` float32 scores of the 2D Human3.6M keypoints that were lifted
            (``Track2D.h36m_scores``); NaN where absent.
        keypoints_2d: ``(T, 17, 2)`` float32 the 2D Human3.6M keypoints that were lifted
            (after smoothing), pixels; NaN where absent.
    """

    track_id: int
    state: np.ndarray
    camera: np.ndarray
    root: np.ndarray
    world: np.ndarray
    display: np.ndarray
    scores: np.ndarray
    keypoints_2d: np.ndarray

    @property
    def camera_joints(self) -> np.ndarray:
        """``(T, 17, 3)`` camera space with the root translation: ``camera + root``."""
        return self.camera + self.root[:, None, :]

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
        camera: the pinhole camera the trajectories assume.
        ground: the floor and the world frame.
        smoothing: the filters used, as text.
    """

    pose2d: Pose2DResult
    tracks: list[Track3D]
    lifter: dict[str, Any]
    camera: PinholeCamera
    ground: GroundFrame
    smoothing: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.pose2d.video.fps)

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``pose3d.npz`` and ``pose3d.json``; returns their paths.

        ``pose3d.npz`` holds ``track_ids (N,)``, ``state`` and ``valid (N, T)``, ``camera``,
        ``camera_joints``, ``world`` and ``display (N, T, 17, 3)``, ``root (N, T, 3)``,
        ``scores (N, T, 17)``, ``keypoints_2d (N, T, 17, 2)``, ``fps``, ``joints``,
        ``intrinsics (3, 3)`` and ``world_from_camera (4, 4)``.
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
            "root": stacked("root", (3,), np.float32),
            "camera_joints": stacked("camera_joints", (17, 3), np.float32),
            "world": stacked("world", (17, 3), np.float32),
            "display": stacked("display", (17, 3), np.float32),
            "scores": stacked("scores", (17,), np.float32),
            "keypoints_2d": stacked("keypoints_2d", (17, 2), np.float32),
            "fps": np.array(float(self.pose2d.video.fps)),
            "joints": np.array(H36M_JOINTS),
            "intrinsics": self.camera.matrix(),
            "world_from_camera": self.ground.matrix(),
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
                "root": np.round(tr.root[frames], 5).tolist(),
                "world": np.round(tr.world[frames], 5).tolist(),
                "display": np.round(tr.display[frames], 5).tolist(),
                "scores": np.where(np.isfinite(scores), scores, None).tolist(),  # JSON has no NaN: null
            })  # fmt: skip
        return {
            "video": self.pose2d.video.to_json(),
            "lifter": self.lifter,
            "joints": list(H36M_JOINTS),
            "units": UNITS,
            "camera": self.camera.to_json(),
            "ground": self.ground.to_json(),
            "smoothing": self.smoothing,
            "tracks": tracks,
        }


def lift_tracks(
    pose2d: Pose2DResult,
    model: LifterModel,
    options: LiftOptions | None = None,
    motion: MotionOptions | None = None,
    *,
    lifter_name: str = "",
    progress: bool = True,
) -> Pose3DResult:
    """Smooth, lift and place every track of a 2D result (see the module docstring).

    Args:
        pose2d: the 2D stage's result.
        model: a loaded lifter.
        options: lifting protocol, batching and precision (``progress`` is overridden).
        motion: smoothing and camera (default: :class:`MotionOptions`).
        lifter_name: registry name or checkpoint path, recorded in the result.
        progress: show a progress bar over the frames lifted.

    Raises:
        UserError: a focal length or field of view that is not positive.
    """
    options = dataclasses.replace(options or LiftOptions(), progress=progress)
    motion = motion or MotionOptions()
    video = pose2d.video
    camera = PinholeCamera.for_image(video.width, video.height, focal=motion.focal, fov=motion.fov)
    fps = float(video.fps)
    keypoints = [
        smooth_track(np.where(t.present[:, None, None], t.h36m, np.nan), t.present, fps, motion.smooth,
                     track_id=t.track_id, what="2D keypoints").astype(np.float32)
        for t in pose2d.tracks
    ]  # fmt: skip
    lifted = inference.lift_tracks(keypoints, video.width, video.height, model, options)
    relative = [
        smooth_track(r.camera, t.present, fps, motion.smooth_3d, track_id=t.track_id, what="3D joints")
        for t, r in zip(pose2d.tracks, lifted)
    ]
    scores = [np.where(t.present[:, None], t.h36m_scores, np.nan).astype(np.float32) for t in pose2d.tracks]
    placed = place_people(
        [TrackMotion(t.track_id, rel, kp, sc, t.present, t.state == FrameState.DETECTED)
         for t, rel, kp, sc in zip(pose2d.tracks, relative, keypoints, scores)],
        camera, fps, motion.smooth,
    )  # fmt: skip
    tracks = []
    for k, track in enumerate(pose2d.tracks):
        rel = relative[k].astype(np.float32)
        display = np.full_like(rel, np.nan)
        display[track.present] = world_for_display(rel[track.present])
        tracks.append(Track3D(track.track_id, track.state.copy(), rel, placed.roots[k], placed.world[k], display,
                              scores[k], keypoints[k]))  # fmt: skip
    info = {
        "name": lifter_name,
        "family": model.family,
        "window": model.num_frames,
        "mode": options.mode,
        "flip": options.flip,
        "precision": options.precision,
    }
    smoothing = {"keypoints_2d": motion.smooth.describe(fps), "root": motion.smooth.describe(fps),
                 "joints_3d": motion.smooth_3d.describe(fps)}  # fmt: skip
    return Pose3DResult(pose2d, tracks, info, camera, placed.ground, smoothing)
