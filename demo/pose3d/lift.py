"""The 3D stage: every kept person's 2D track smoothed, lifted to 3D and placed in the
scene (:func:`lift_people`).

1. The 2D keypoints are smoothed in time (:mod:`demo.motion.smoothing`, ``--smooth``).
2. Lifting is :func:`lifter.inference.lift_tracks`, with the windows of many people in
   the same forward passes. A frame where the person is ABSENT (no 2D keypoints) splits
   the track: each run of present frames (detected, or a short gap the 2D stage filled)
   is one clip for the lifter, so a long absence is never bridged by invented motion, and
   absent frames stay NaN. The lifted poses may be smoothed too (``--smooth-3d``).
   Tracks are lifted in groups of about ``chunk_rows`` frames, so the lifter's buffers
   stay bounded however long the clip (the numbers do not depend on the grouping: every
   segment is lifted on its own).
3. Placement (:mod:`demo.motion.placement`): each person's root trajectory in camera
   space, then one floor for the clip from everyone's ankles, and the joints in the
   gravity-aligned world frame, one track at a time: each track's root-relative joints
   are released as its world joints are made (the result stores the world joints and
   the root; the camera-space joints are computed from them, see :class:`Track3D`).

Every array covers its track's span only (see :class:`core.frames.TrackSpan`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from lifter import inference
from lifter.engines import LifterCalls
from lifter.inference import LiftOptions
from lifter.registry import LifterModel

from ..motion.camera import PinholeCamera
from ..motion.placement import TrackMotion, place_roots
from ..motion.smoothing import smooth_track
from ..options import MotionOptions
from ..pose2d.result import Pose2DResult, Track2D
from .result import Pose3DResult, Track3D

#: Frames lifted per call of the lifter (its inputs, outputs and windows live that long).
CHUNK_ROWS = 100_000


def _groups(tracks: Sequence[Track2D], rows: int) -> Iterator[list[int]]:
    """Indices of consecutive tracks with about ``rows`` frames together (at least one track)."""
    group: list[int] = []
    size = 0
    for k, t in enumerate(tracks):
        if group and size + len(t.state) > rows:
            yield group
            group, size = [], 0
        group.append(k)
        size += len(t.state)
    if group:
        yield group


def lift_people(
    pose2d: Pose2DResult,
    model: LifterModel,
    options: LiftOptions | None = None,
    motion: MotionOptions | None = None,
    *,
    lifter_name: str = "",
    progress: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    calls: LifterCalls | None = None,
) -> Pose3DResult:
    """Smooth, lift and place every track of a 2D result (see the module docstring).

    Args:
        pose2d: the 2D stage's result.
        model: a loaded lifter.
        options: lifting protocol, batching and precision (``progress`` is overridden).
        motion: smoothing and camera (default: :class:`demo.options.MotionOptions`).
        lifter_name: registry name or checkpoint path, recorded in the result.
        progress: show a progress bar over the frames lifted.
        chunk_rows: frames lifted per call of the lifter.
        calls: the lifter on an execution backend (default PyTorch eager).

    Raises:
        UserError: a focal length or field of view that is not positive.
    """
    options = dataclasses.replace(options or LiftOptions(), progress=False)
    motion = motion or MotionOptions()
    video = pose2d.video
    camera = PinholeCamera.for_image(video.width, video.height, focal=motion.focal, fov=motion.fov,
                                     fov_side=motion.fov_side)  # fmt: skip
    fps = float(video.fps)
    motions: list[TrackMotion] = []
    bar = tqdm(total=sum(len(t.state) for t in pose2d.tracks), unit="frame", desc="lifting", disable=not progress,
               leave=False)  # fmt: skip
    with bar:
        for group in _groups(pose2d.tracks, chunk_rows):
            tracks = [pose2d.tracks[k] for k in group]
            keypoints = [
                smooth_track(np.where(t.present[:, None, None], t.h36m, np.nan), t.present, fps, motion.smooth,
                             track_id=t.track_id, what="2D keypoints").astype(np.float32)
                for t in tracks
            ]  # fmt: skip
            lifted = inference.lift_tracks(keypoints, video.width, video.height, model, options, calls=calls)
            for t, kp, r in zip(tracks, keypoints, lifted):
                rel = smooth_track(r.camera, t.present, fps, motion.smooth_3d, track_id=t.track_id, what="3D joints")
                scores = np.where(t.present[:, None], t.h36m_scores, np.nan).astype(np.float32)
                motions.append(TrackMotion(t.track_id, rel.astype(np.float32), kp, scores, t.present, t.detected))
            bar.update(sum(len(t.state) for t in tracks))
    roots, ground = place_roots(motions, camera, fps, motion.smooth)
    tracks3d = []
    for k, t in enumerate(pose2d.tracks):
        m, motions[k] = motions[k], None  # type: ignore[call-overload]  # its relative joints go with it
        world = ground.to_world(m.relative + roots[k][:, None, :])
        tracks3d.append(Track3D(t.track_id, t.start, t.state.copy(), roots[k], world, m.scores, m.keypoints, ground))
        del m
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
    return Pose3DResult(video, tracks3d, info, camera, ground, smoothing)
