"""Second pass over a video: the kept tracks' 2D keypoints. Frames are decoded in a
background thread; each detected person's box is cropped once and the crops of many
frames go through the keypoint model together (:class:`demo.pose2d.topdown.TopDownEstimator`);
short gaps are filled by interpolation and COCO keypoints converted to Human3.6M. Every
array covers its track's span only (its first to last detection), so memory grows with
the frames where people are present."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.coco_to_h36m import coco_to_h36m
from core.frames import FrameState

from ..io.background import Prefetch
from ..io.timing import StageTimes
from ..io.video import VideoError, read_frames
from .result import Track2D
from .topdown import TopDownEstimator
from .track import TrackLog, fill_gaps, span_boxes

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
    """Keypoints of every kept track over its span (see :class:`demo.pose2d.result.Track2D`).

    Args:
        video: the video (decoded again here).
        topdown: the top-down keypoint estimator.
        tracks: the kept tracks of :func:`demo.pose2d.tracking_pass.find_people`.
        num_frames: frames decoded by the first pass.
        max_gap: longest filled gap, in frames.
        chunk_frames: frames whose crops are gathered before running the network.
    """
    spans = [span_boxes(t, max_gap) for t in tracks]
    coco = [np.full((len(state), NUM_COCO, 2), np.nan, np.float32) for _, _, state in spans]
    coco_scores = [np.full((len(state), NUM_COCO), np.nan, np.float32) for _, _, state in spans]
    # Per frame, (track, row) of the tracks detected there: only those boxes are cropped.
    people: dict[int, list[tuple[int, int]]] = {}
    for k, track in enumerate(tracks):
        for t in track.frames:
            people.setdefault(t, []).append((k, t - track.first))
    last = max(people, default=-1)
    bar = tqdm(total=sum(map(len, people.values())), unit="person", desc="keypoints", disable=not progress, leave=False)
    decoded = 0
    with Prefetch(read_frames(video), depth=chunk_frames + 2, name="decode-keypoints") as frames, bar:
        chunk: list[tuple[int, np.ndarray]] = []
        for t, frame in enumerate(frames):
            decoded = t + 1
            if t < num_frames and t in people:
                chunk.append((t, frame))
            if len(chunk) == chunk_frames or (t >= last and chunk):
                boxes = [np.stack([spans[k][0][row] for k, row in people[i]]) for i, _ in chunk]
                crop_before, start = topdown.crop_seconds, time.perf_counter()
                poses = topdown.estimate((f for _, f in chunk), boxes)
                cropping = topdown.crop_seconds - crop_before
                times.add("crop", cropping)
                times.add("2d", time.perf_counter() - start - cropping)
                for (i, _), p in zip(chunk, poses):
                    for j, (k, row) in enumerate(people[i]):
                        coco[k][row], coco_scores[k][row] = p.keypoints[j], p.scores[j]
                    bar.update(len(people[i]))
                chunk = []
            if t >= last:
                break  # nobody kept is detected after this frame: no need to decode further
    times.add("decode", frames.produce_seconds)
    times.add("idle", frames.wait_seconds)
    if decoded <= last:
        raise VideoError(f"video {video} decoded to {decoded} frames the second time, {num_frames} the first")
    out = []
    for k, (track, (boxes, box_scores, state)) in enumerate(zip(tracks, spans)):
        kp, sc = fill_gaps(coco[k], state), fill_gaps(coco_scores[k], state)
        h36m, h36m_scores = coco_to_h36m(kp, sc)
        out.append(Track2D(track.track_id, track.first, state, boxes, box_scores, kp, sc, h36m, h36m_scores))
    return out
