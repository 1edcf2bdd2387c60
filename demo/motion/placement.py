"""People where they stand: every track's root trajectory in camera space, the floor fitted
to everyone's ankles, and the joints in the gravity-aligned world frame.

Order of work: ``T`` per frame (:mod:`.trajectory`), gaps where the fit failed filled
from neighbouring frames, ``T`` smoothed over time (the depth is the noisiest part of
it), camera-space joints ``relative + T``, then one floor for the clip (:mod:`.ground`)
from the ankles of confidently detected frames, and the world frame on it.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.gaps import interpolate_gaps
from core.joints import H36M_JOINTS

from .camera import PinholeCamera
from .ground import GroundFrame, fit_ground
from .smoothing import SmoothingConfig, smooth_track
from .trajectory import root_translation

log = logging.getLogger(__name__)

PELVIS, THORAX = H36M_JOINTS.index("pelvis"), H36M_JOINTS.index("thorax")
ANKLES = (H36M_JOINTS.index("right_ankle"), H36M_JOINTS.index("left_ankle"))
#: Ankles scored lower than this in 2D do not vote for the floor.
MIN_ANKLE_SCORE = 0.3


@dataclass(frozen=True)
class TrackMotion:
    """One person's lifted track, as placement needs it.

    Attributes:
        track_id: for messages.
        relative: ``(T, 17, 3)`` root-relative camera space, metres; NaN where absent.
        keypoints: ``(T, 17, 2)`` the 2D keypoints that were lifted, pixels.
        scores: ``(T, 17)`` their scores (0..1).
        present: ``(T,)`` the person has a pose in this frame.
        detected: ``(T,)`` the pose came from a detection (not interpolated).
    """

    track_id: int
    relative: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    present: np.ndarray
    detected: np.ndarray


@dataclass(frozen=True)
class Placement:
    """The clip's people placed in the scene.

    Attributes:
        roots: per track ``(T, 3)`` float32 camera-space pelvis position (metres), NaN where
            absent; the camera-space joints are ``relative + root``.
        world: per track ``(T, 17, 3)`` world space (Y up, floor y = 0), NaN where absent.
        ground: the floor and world frame.
    """

    roots: list[np.ndarray]
    world: list[np.ndarray]
    ground: GroundFrame


def place_people(
    tracks: Sequence[TrackMotion], camera: PinholeCamera, fps: float, smoothing: SmoothingConfig
) -> Placement:
    """Root trajectories, the floor and world-space joints for every track (see the module
    docstring); ``smoothing`` is applied to each ``T`` series.

    Memory: one track at a time is held in float64; what is kept across tracks is each
    root ``(T, 3)`` float32 and the few trusted ankle points, so the floor is fitted once
    after every root is known and the world joints are computed last, in float32.
    """
    roots, ground = place_roots(tracks, camera, fps, smoothing)
    world = [ground.to_world(track.relative + root[:, None, :]) for track, root in zip(tracks, roots)]
    return Placement(roots, world, ground)


def place_roots(tracks: Sequence[TrackMotion], camera: PinholeCamera, fps: float,
                smoothing: SmoothingConfig) -> tuple[list[np.ndarray], GroundFrame]:  # fmt: skip
    """Every track's root ``(T, 3)`` float32 and the clip's floor: the part of
    :func:`place_people` before the world joints (which a caller may then compute one
    track at a time, ``ground.to_world(relative + root)``, freeing each input as it goes)."""
    roots = [place_root(track, camera, fps, smoothing) for track in tracks]
    ankles = [_trusted_ankles(track, root) for track, root in zip(tracks, roots)]
    return roots, fit_ground(np.concatenate(ankles) if ankles else np.zeros((0, 3)), _mean_up(tracks))


def place_root(track: TrackMotion, camera: PinholeCamera, fps: float, smoothing: SmoothingConfig) -> np.ndarray:
    """``(T, 3)`` float32 one track's pelvis in camera space (metres; NaN where absent):
    fitted per frame, gaps filled from neighbouring frames, smoothed over time."""
    root = root_translation(track.relative, track.keypoints, track.scores, camera)
    fitted = np.isfinite(root).all(axis=1) & track.present
    if track.present.any() and not fitted.any():
        log.warning("track %d: no frame has enough 2D joints to place it; it stays 3 m in front of the camera",
                    track.track_id)
        root[track.present] = (0.0, 0.0, 3.0)
        fitted = track.present
    root = interpolate_gaps(root, fitted).astype(np.float64)
    root[~track.present] = np.nan
    root = smooth_track(root, track.present, fps, smoothing, track_id=track.track_id, what="root trajectory")
    return root.astype(np.float32)


def _trusted_ankles(track: TrackMotion, root: np.ndarray) -> np.ndarray:
    """``(n, 3)`` camera-space ankles from detected frames whose ankle scores are high."""
    points = []
    for a in ANKLES:
        with np.errstate(invalid="ignore"):
            ok = track.detected & (track.scores[:, a] >= MIN_ANKLE_SCORE)
        points.append(track.relative[ok, a].astype(np.float64) + root[ok])
    return np.concatenate(points)


def _mean_up(tracks: Sequence[TrackMotion]) -> np.ndarray | None:
    """The people's mean up direction in camera space: unit pelvis-to-thorax vectors
    averaged over every present frame of every track; None when nobody was seen."""
    total, count = np.zeros(3), 0
    for t in tracks:
        ups = (t.relative[t.present, THORAX] - t.relative[t.present, PELVIS]).astype(np.float64)
        ups = ups[np.isfinite(ups).all(axis=1)]
        length = np.linalg.norm(ups, axis=1)
        ups = ups[length > 1e-6] / length[length > 1e-6, None]
        total += ups.sum(axis=0)
        count += len(ups)
    return total / count if count else None
