"""Second pass over a video: the kept tracks' 2D keypoints. Frames are decoded in a
background thread; each detected person's box is cropped once and the crops of many
frames go through HRNet together (:class:`demo.topdown.TopDownEstimator`); short gaps
are filled by interpolation and COCO keypoints converted to Human3.6M."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from .background import Prefetch
from .skeleton import coco_to_h36m
from .timing import StageTimes
from .topdown import TopDownEstimator
from .track import FrameState, TrackLog, dense_boxes, fill_gaps
from .video import VideoError, read_frames

if TYPE_CHECKING:
    from .pose2d import Track2D

NUM_COCO = 17


def track_keypoints(
    video: Path,
    topdown: TopDownEstimator,
    tracks: list[TrackLog],
    num_frames: int,
    max_gap: int,
    times: StageTimes,
    *,
    chunk_frames: int = 32,
    progress: bool = True,
) -> list[Track2D]:
    """Keypoints of every kept track in every frame (see :class:`demo.pose2d.Track2D`).

    Args:
        video: the video (decoded again here).
        topdown: the HRNet estimator.
        tracks: the kept tracks of :func:`demo.people.find_people`.
        num_frames: frames decoded by the first pass.
        max_gap: longest filled gap, in frames.
        chunk_frames: frames whose crops are gathered before running the network.
    """
    from .pose2d import Track2D  # the result type lives with the stage that imports this module

    dense = [dense_boxes(t, num_frames, max_gap) for t in tracks]
    coco = np.full((len(tracks), num_frames, NUM_COCO, 2), np.nan, np.float32)
    coco_scores = np.full((len(tracks), num_frames, NUM_COCO), np.nan, np.float32)
    # Per frame, the tracks detected there: only those boxes are cropped.
    people = [[k for k, (_, _, state) in enumerate(dense) if state[t] == FrameState.DETECTED] for t in range(num_frames)]
    last = max((t for t in range(num_frames) if people[t]), default=-1)
    frames = Prefetch(read_frames(video), depth=chunk_frames + 2, name="decode-keypoints")
    bar = tqdm(total=sum(map(len, people)), unit="person", desc="keypoints", disable=not progress, leave=False)
    decoded = 0
    with bar:
        chunk: list[tuple[int, np.ndarray]] = []
        for t, frame in enumerate(frames):
            decoded = t + 1
            if t < num_frames and people[t]:
                chunk.append((t, frame))
            if len(chunk) == chunk_frames or (t >= last and chunk):
                boxes = [np.stack([dense[k][0][i] for k in people[i]]) for i, _ in chunk]
                crop_before, start = topdown.crop_seconds, time.perf_counter()
                poses = topdown.estimate((f for _, f in chunk), boxes)
                cropping = topdown.crop_seconds - crop_before
                times.add("crop", cropping)
                times.add("2d", time.perf_counter() - start - cropping)
                for (i, _), p in zip(chunk, poses):
                    coco[people[i], i], coco_scores[people[i], i] = p.keypoints, p.scores
                    bar.update(len(people[i]))
                chunk = []
            if t >= last:
                break  # nobody kept is detected after this frame: no need to decode further
    times.add("decode", frames.produce_seconds)
    times.add("idle", frames.wait_seconds)
    if decoded <= last:
        raise VideoError(f"video {video} decoded to {decoded} frames the second time, {num_frames} the first")
    out = []
    for k, (track, (boxes, box_scores, state)) in enumerate(zip(tracks, dense)):
        kp, sc = fill_gaps(coco[k], state), fill_gaps(coco_scores[k], state)
        h36m, h36m_scores = coco_to_h36m(kp, sc)
        out.append(Track2D(track.track_id, state, boxes, box_scores, kp, sc, h36m, h36m_scores))
    return out
