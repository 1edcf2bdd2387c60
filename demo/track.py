"""Following every person across frames: Ultralytics' ByteTrack (or BoT-SORT) on our
detections, then choosing which tracks to keep and filling their short gaps.

A track's *lifetime* runs from its first to its last detection. Inside it, a frame is
``DETECTED`` (a detection was matched to the track), ``FILLED`` (missed for at most
``max_gap`` frames in a row: box and keypoints are interpolated linearly between the
neighbouring detections) or ``ABSENT`` (a longer miss). Outside it, every frame is
``ABSENT``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .detect import Detections


class FrameState(IntEnum):
    """Per-frame status of one track (stored as uint8)."""

    ABSENT = 0
    DETECTED = 1
    FILLED = 2


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and track selection.

    Attributes:
        kind: ``bytetrack`` (default) or ``botsort`` (adds camera-motion compensation).
        track_high_thresh, track_low_thresh, new_track_thresh, match_thresh: ByteTrack's
            thresholds (Ultralytics' defaults): detections above ``high`` are matched first,
            those between ``low`` and ``high`` only rescue existing tracks, new tracks need
            ``new_track_thresh``.
        fuse_score: weigh box overlap by detection confidence when matching (Ultralytics'
            default; off only for detectors whose confidences mean nothing, as in tests).
        track_buffer: frames a lost track is kept before its id is retired.
        min_frames: tracks detected in fewer frames are dropped (false positives are short).
        max_people: keep only this many tracks, the longest first; with 1, non-overlapping
            pieces of track are joined into one, so a single-person video gives one track
            even if the tracker lost the person for a while (as the seeds' demos do).
        max_gap: longest run of missed frames inside a track that is filled by interpolation.
    """

    kind: str = "bytetrack"
    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    match_thresh: float = 0.8
    fuse_score: bool = True
    track_buffer: int = 30
    min_frames: int = 10
    max_people: int | None = None
    max_gap: int = 30

    def __post_init__(self) -> None:
        if self.kind not in ("bytetrack", "botsort"):
            raise ValueError(f"unknown tracker {self.kind!r}: use bytetrack or botsort")
        if self.max_people is not None and self.max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {self.max_people}")


class PersonTracker:
    """Assigns a stable id to each detection, frame after frame."""

    def __init__(self, config: TrackerConfig) -> None:
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        args = IterableSimpleNamespace(**YAML.load(check_yaml(f"{config.kind}.yaml")))
        for name in ("track_high_thresh", "track_low_thresh", "new_track_thresh", "match_thresh", "fuse_score", "track_buffer"):
            setattr(args, name, getattr(config, name))
        self._tracker = TRACKER_MAP[config.kind](args=args)
        self._needs_image = config.kind == "botsort"
        self._frame = -1
        # Tracks born in the previous frame, not yet confirmed: id -> (frame, id, detection index).
        self._tentative: dict[int, tuple[int, int, int]] = {}

    def update(self, detections: Detections, frame: np.ndarray | None = None) -> list[tuple[int, int, int]]:
        """Feed the next frame's detections.

        Returns:
            ``(frame index, track id, detection index)`` for each detection that belongs to
            a confirmed track. ByteTrack confirms a new track one frame after its first
            detection; that first detection is reported too, with its own frame index.
        """
        from ultralytics.engine.results import Boxes

        self._frame += 1
        data = np.zeros((len(detections), 6), np.float32)
        data[:, :4], data[:, 4] = detections.xyxy, detections.conf  # class 0 = person
        shape = frame.shape[:2] if frame is not None else (1, 1)
        rows = np.asarray(self._tracker.update(Boxes(data, shape), frame if self._needs_image else None)).reshape(-1, 8)
        # Rows: x1, y1, x2, y2, track_id, score, cls, detection index. A track coasting on its
        # Kalman prediction has no detection this frame and is not reported.
        out: list[tuple[int, int, int]] = []
        for row in rows:
            track_id = int(row[4])
            if track_id in self._tentative:
                out.append(self._tentative.pop(track_id))
            out.append((self._frame, track_id, int(row[7])))
        self._tentative = {
            t.track_id: (self._frame, t.track_id, int(t.idx))
            for t in self._tracker.tracked_stracks
            if not t.is_activated
        }
        return out


@dataclass
class TrackLog:
    """One track's detections as the tracker reported them (frame indices increasing).

    Attributes:
        track_id: the tracker's id (1, 2, ...).
        frames: frame indices with a matched detection.
        boxes: ``(n, 4)`` float32 xyxy pixels, the detector's boxes.
        scores: ``(n,)`` float32 detection confidences.
    """

    track_id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def __len__(self) -> int:
        return len(self.frames)


def collect_tracks(detections: list[Detections], matches: list[tuple[int, int, int]]) -> list[TrackLog]:
    """Group matched detections by track id.

    Args:
        detections: every frame's detections, indexed by frame.
        matches: ``(frame index, track id, detection index)`` from :meth:`PersonTracker.update`.
    """
    logs: dict[int, TrackLog] = {}
    for frame_index, track_id, det in sorted(matches):
        log = logs.setdefault(track_id, TrackLog(track_id))
        log.frames.append(frame_index)
        log.boxes.append(detections[frame_index].xyxy[det])
        log.scores.append(float(detections[frame_index].conf[det]))
    return list(logs.values())


def select_tracks(tracks: list[TrackLog], config: TrackerConfig) -> list[TrackLog]:
    """Drop short tracks, order the rest longest first (ties: earliest), apply ``max_people``."""
    kept = sorted((t for t in tracks if len(t) >= config.min_frames), key=lambda t: (-len(t), t.first, t.track_id))
    if config.max_people == 1 and kept:
        return [_join_disjoint(kept)]
    return kept[: config.max_people] if config.max_people else kept


def _join_disjoint(tracks: list[TrackLog]) -> TrackLog:
    """The longest track plus every other that does not overlap in time what was already taken."""
    taken: list[TrackLog] = []
    for t in tracks:
        if all(t.last < o.first or t.first > o.last for o in taken):
            taken.append(t)
    taken.sort(key=lambda t: t.first)
    joined = TrackLog(tracks[0].track_id)
    for t in taken:
        joined.frames += t.frames
        joined.boxes += t.boxes
        joined.scores += t.scores
    return joined


def frame_states(track: TrackLog, num_frames: int, max_gap: int) -> np.ndarray:
    """``(num_frames,)`` uint8 :class:`FrameState` of one track."""
    state = np.full(num_frames, FrameState.ABSENT, np.uint8)
    frames = np.asarray(track.frames)
    state[frames] = FrameState.DETECTED
    for a, b in zip(frames[:-1], frames[1:]):
        if 1 < b - a <= max_gap + 1:
            state[a + 1 : b] = FrameState.FILLED
    return state


def fill_gaps(values: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Interpolate ``values`` (``(T, ...)``) linearly in time at FILLED frames from the
    DETECTED frames around them; ABSENT frames become NaN. Returns a float32 copy."""
    out = np.array(values, dtype=np.float32, copy=True)
    detected = np.flatnonzero(state == FrameState.DETECTED)
    filled = np.flatnonzero(state == FrameState.FILLED)
    out[state == FrameState.ABSENT] = np.nan
    if filled.size and detected.size:
        flat = out.reshape(len(out), -1)
        for c in range(flat.shape[1]):
            flat[filled, c] = np.interp(filled, detected, flat[detected, c])
    return out


def dense_boxes(track: TrackLog, num_frames: int, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame arrays of one track: boxes ``(T, 4)``, scores ``(T,)`` (NaN where absent;
    scores 0 where filled) and states ``(T,)``."""
    state = frame_states(track, num_frames, max_gap)
    boxes = np.full((num_frames, 4), np.nan, np.float32)
    scores = np.full(num_frames, np.nan, np.float32)
    boxes[track.frames] = np.stack(track.boxes)
    scores[track.frames] = track.scores
    boxes = fill_gaps(boxes, state)
    scores[state == FrameState.FILLED] = 0.0
    return boxes, scores, state


__all__ = [
    "FrameState",
    "PersonTracker",
    "TrackLog",
    "TrackerConfig",
    "collect_tracks",
    "dense_boxes",
    "fill_gaps",
    "frame_states",
    "select_tracks",
]
