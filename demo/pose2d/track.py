"""Following every person across frames: ByteTrack on our detections, then choosing which
tracks to keep and filling their short gaps.

Why this tracker: we used to drive Ultralytics' ByteTrack through its internals (its
tracker registry, its track lists, the column layout of its results), so any Ultralytics
release could change our ids without notice. The tracker is now Roboflow's ``trackers``
package (``trackers.ByteTrackTracker``), used only through its documented public API:
``update(supervision.Detections) -> supervision.Detections`` with ``tracker_id`` set.
It is the ByteTrack that supervision's own documentation points to: supervision 0.31 no
longer ships one (``supervision.ByteTrack`` was removed), and ``trackers`` builds on
supervision's ``Detections``. What it does, read from trackers 2.6.1 and pinned by
``tests/test_track.py``:

- a new track is born from a detection at least ``track_activation_threshold`` (and
  ``high_conf_det_threshold``) confident and gets an id when it is matched again in the
  next frame (``minimum_consecutive_frames=2``); in its birth frame the detection is
  reported with ``tracker_id == -1``. :class:`PersonTracker` gives that first detection
  back to the track (see :meth:`PersonTracker.update`);
- its ids count from 0 per tracker instance; we renumber them anyway, per
  :class:`PersonTracker`, 1, 2, ... in order of appearance, so nothing another tracker
  in the process does can change ours;
- every input detection comes back, reordered, with supervision's ``data`` arrays
  indexed alongside; an ``index`` array there maps the output to our detections.

Times are in seconds: :class:`TrackerConfig` says how long a lost track is kept and how
long a gap is interpolated in seconds, and each clip turns them into frames at its own
frame rate (:meth:`TrackerConfig.buffer_frames`, :meth:`TrackerConfig.max_gap_frames`),
so 10 and 60 fps videos behave alike.

A track's *lifetime* runs from its first to its last detection. Inside it, a frame is
``DETECTED`` (a detection was matched to the track), ``FILLED`` (missed for at most
``max_gap`` frames in a row: box and keypoints are interpolated linearly between the
neighbouring detections) or ``ABSENT`` (a longer miss). Outside it, every frame is
``ABSENT``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.frames import FrameState
from core.gaps import interpolate_gaps

from .detect import Detections

# ByteTrack's minimum_consecutive_frames: a track is given an id on its second detection
# in a row; an unconfirmed track that misses one frame is dropped.
_CONFIRM_FRAMES = 2
# trackers counts lost_track_buffer in frames of a 30 fps video and scales it by
# frame_rate / 30; we pass a buffer already in the clip's frames with this frame_rate.
_REFERENCE_FPS = 30.0


def _check_fps(fps: float) -> float:
    fps = float(fps)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
    return fps


@dataclass(frozen=True)
class TrackerConfig:
    """Tracking and track selection. Durations are in seconds (see :meth:`buffer_frames`).

    Attributes:
        track_activation_threshold: lowest confidence of a detection that starts a new
            track (ByteTrack's ``track_activation_threshold``).
        high_conf_det_threshold: ByteTrack's two stages: detections at least this
            confident are matched to tracks first, the less confident ones then only
            keep existing tracks alive (through occlusion, say). Must not exceed
            ``track_activation_threshold``: only first-stage detections start tracks.
        minimum_iou_threshold: a detection continues a track only if its box overlaps the
            track's predicted box by at least this IoU.
        track_buffer_s: how long a lost track is kept, in seconds, before its id is
            retired; a person back within it keeps the id, later on gets a new one.
        max_gap_s: longest run of missed frames inside a track, in seconds, that is filled
            by interpolation; longer runs are ``ABSENT``.
        min_frames: tracks detected in fewer frames are dropped (false positives are short).
        max_people: keep only this many tracks, the longest first; with 1, non-overlapping
            pieces of track are joined into one, so a single-person video gives one track
            even if the tracker lost the person for a while (as the seeds' demos do).
    """

    track_activation_threshold: float = 0.25
    high_conf_det_threshold: float = 0.25
    minimum_iou_threshold: float = 0.2
    track_buffer_s: float = 1.0
    max_gap_s: float = 1.0
    min_frames: int = 10
    max_people: int | None = None

    def __post_init__(self) -> None:
        for name in ("track_activation_threshold", "high_conf_det_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a detection confidence, between 0 and 1; got {value}")
        if self.track_activation_threshold < self.high_conf_det_threshold:
            raise ValueError(
                f"track_activation_threshold ({self.track_activation_threshold}) is below high_conf_det_threshold "
                f"({self.high_conf_det_threshold}): detections in between could never start a track; "
                "raise it to at least high_conf_det_threshold"
            )
        if not 0.0 < self.minimum_iou_threshold <= 1.0:
            raise ValueError(
                f"minimum_iou_threshold must be in (0, 1] (0 would match boxes that do not overlap), "
                f"got {self.minimum_iou_threshold}"
            )
        for name in ("track_buffer_s", "max_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} is a duration in seconds and must be positive, got {value}")
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be at least 1, got {self.min_frames}")
        if self.max_people is not None and self.max_people < 1:
            raise ValueError(f"max_people must be at least 1 (or None for everyone), got {self.max_people}")

    def buffer_frames(self, fps: float) -> int:
        """``track_buffer_s`` in frames of a ``fps`` video (at least 1): a track missed in
        at most this many frames in a row keeps its id."""
        return max(1, round(self.track_buffer_s * _check_fps(fps)))

    def max_gap_frames(self, fps: float) -> int:
        """``max_gap_s`` in frames of a ``fps`` video (at least 1): the ``max_gap`` of
        :func:`frame_states` and :func:`span_boxes`."""
        return max(1, round(self.max_gap_s * _check_fps(fps)))


class PersonTracker:
    """Assigns a stable id to each detection, frame after frame, for one video.

    Args:
        config: thresholds and durations.
        fps: the video's frame rate; turns ``config.track_buffer_s`` into frames.

    Each instance has its own ids (1, 2, ... in order of appearance): trackers running
    side by side in one process, in threads or interleaved, never affect each other.
    """

    def __init__(self, config: TrackerConfig, fps: float) -> None:
        from trackers import ByteTrackTracker

        self.config = config
        self.fps = _check_fps(fps)
        self._tracker = ByteTrackTracker(
            lost_track_buffer=config.buffer_frames(self.fps),
            frame_rate=_REFERENCE_FPS,
            track_activation_threshold=config.track_activation_threshold,
            minimum_consecutive_frames=_CONFIRM_FRAMES,
            minimum_iou_threshold=config.minimum_iou_threshold,
            high_conf_det_threshold=config.high_conf_det_threshold,
        )
        # A detection this confident and matched to no track starts a tentative one.
        self._start_conf = max(config.track_activation_threshold, config.high_conf_det_threshold)
        self._frame = -1
        self._ids: dict[int, int] = {}  # ByteTrack's id -> ours
        # The previous frame's detections that started tentative tracks: indices, boxes.
        self._born: tuple[np.ndarray, np.ndarray] = (np.zeros(0, int), np.zeros((0, 4), np.float32))

    def update(self, detections: Detections) -> list[tuple[int, int, int]]:
        """Feed the next frame's detections (frames are counted from 0, one per call).

        Returns:
            ``(frame index, track id, detection index)`` for each detection assigned to a
            track, sorted. ByteTrack names a track only on its second detection in a row;
            the first one, from the previous frame, is returned then too, with its own
            frame index: it is the previous frame's track-starting detection that
            overlaps the newly named track's box best (the pairing ByteTrack made, since
            a newborn track predicts no motion; ties between several new tracks are
            resolved by the best total overlap). A coasting track (no detection in this
            frame) is not reported.
        """
        import supervision as sv
        from scipy.optimize import linear_sum_assignment

        self._frame += 1
        n = len(detections.xyxy)
        result = self._tracker.update(
            sv.Detections(
                xyxy=np.asarray(detections.xyxy, np.float32).reshape(-1, 4),
                confidence=np.asarray(detections.conf, np.float32),
                class_id=np.zeros(n, int),
                data={"index": np.arange(n)},
            )
        )
        pairs = zip(result.data["index"], result.tracker_id) if len(result) else ()
        out: list[tuple[int, int, int]] = []
        born: list[int] = []
        new: list[tuple[int, int]] = []  # (our id, detection index) of tracks named now
        for det, tracker_id in pairs:
            det, tracker_id = int(det), int(tracker_id)
            if tracker_id < 0:
                if detections.conf[det] >= self._start_conf:
                    born.append(det)
                continue
            if tracker_id not in self._ids:
                self._ids[tracker_id] = len(self._ids) + 1
                new.append((self._ids[tracker_id], det))
            out.append((self._frame, self._ids[tracker_id], det))

        prev_indices, prev_boxes = self._born
        if new and len(prev_indices):
            iou = sv.box_iou_batch(np.stack([detections.xyxy[det] for _, det in new]).astype(np.float64),
                                   prev_boxes.astype(np.float64))
            for r, c in zip(*linear_sum_assignment(iou, maximize=True)):
                if iou[r, c] >= self.config.minimum_iou_threshold:
                    out.append((self._frame - 1, new[r][0], int(prev_indices[c])))
        self._born = (np.array(born, int), np.array(detections.xyxy[born], np.float32).reshape(-1, 4))
        return sorted(out)


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


def frame_states(track: TrackLog, max_gap: int) -> np.ndarray:
    """``(n,)`` uint8 :class:`FrameState` of one track over its lifetime (row 0 is frame
    ``track.first``, the last row ``track.last``); ``max_gap`` in frames
    (:meth:`TrackerConfig.max_gap_frames`)."""
    frames = np.asarray(track.frames) - track.first
    state = np.full(track.last - track.first + 1, FrameState.ABSENT, np.uint8)
    state[frames] = FrameState.DETECTED
    for a, b in zip(frames[:-1], frames[1:]):
        if 1 < b - a <= max_gap + 1:
            state[a + 1 : b] = FrameState.FILLED
    return state


def fill_gaps(values: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Interpolate ``values`` (``(n, ...)``) linearly in time at FILLED rows from the
    DETECTED rows around them; ABSENT rows become NaN. Returns a float32 copy."""
    out = interpolate_gaps(values, state == FrameState.DETECTED)
    out[state == FrameState.ABSENT] = np.nan
    return out


def span_boxes(track: TrackLog, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One track's arrays over its lifetime (row 0 is frame ``track.first``): boxes
    ``(n, 4)``, scores ``(n,)`` (NaN where absent; 0 where filled) and states ``(n,)``.
    ``max_gap`` is in frames (:meth:`TrackerConfig.max_gap_frames`)."""
    state = frame_states(track, max_gap)
    rows = np.asarray(track.frames) - track.first
    boxes = np.full((len(state), 4), np.nan, np.float32)
    scores = np.full(len(state), np.nan, np.float32)
    boxes[rows] = np.stack(track.boxes)
    scores[rows] = track.scores
    boxes = fill_gaps(boxes, state)
    scores[state == FrameState.FILLED] = 0.0
    return boxes, scores, state


__all__ = [
    "FrameState",
    "PersonTracker",
    "TrackLog",
    "TrackerConfig",
    "collect_tracks",
    "fill_gaps",
    "frame_states",
    "select_tracks",
    "span_boxes",
]
