"""Tracking with scripted detections: ids, gaps, people leaving and crossing, selection."""
from __future__ import annotations

import numpy as np
import pytest

from demo.detect import Detections
from demo.track import (
    FrameState,
    PersonTracker,
    TrackerConfig,
    TrackLog,
    collect_tracks,
    dense_boxes,
    fill_gaps,
    frame_states,
    select_tracks,
)

D, F, A = FrameState.DETECTED, FrameState.FILLED, FrameState.ABSENT


def _box(x: float, y: float = 100.0, w: float = 60.0, h: float = 160.0) -> list[float]:
    return [x, y, x + w, y + h]


def _run(script: list[list[list[float]]], config: TrackerConfig | None = None) -> list[TrackLog]:
    """Track a scripted video: per frame, a list of boxes (confidence 0.9)."""
    config = config or TrackerConfig(min_frames=1)
    tracker = PersonTracker(config)
    detections, matches = [], []
    for boxes in script:
        dets = Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9))
        detections.append(dets)
        matches += tracker.update(dets)
    return collect_tracks(detections, matches)


def test_first_frame_without_anyone_and_first_detection_kept() -> None:
    script = [[]] + [[_box(100 + 5 * t)] for t in range(1, 20)]
    (track,) = _run(script)
    # ByteTrack confirms a track one frame after its birth; the birth frame is not lost.
    assert track.frames == list(range(1, 20))
    assert np.allclose(track.boxes[0], _box(105))


def test_a_frame_without_anyone_in_the_middle_is_filled() -> None:
    script = [[_box(100 + 5 * t)] if t != 10 else [] for t in range(20)]
    (track,) = _run(script)
    boxes, scores, state = dense_boxes(track, 20, max_gap=30)
    assert state[10] == F and (state[:10] == D).all() and (state[11:] == D).all()
    assert np.allclose(boxes[10], _box(150))  # linear between frames 9 and 11
    assert scores[10] == 0 and scores[9] == pytest.approx(0.9)


def test_two_people_crossing_keep_their_ids() -> None:
    script = [[_box(100 + 10 * t, 100), _box(500 - 10 * t, 110)] for t in range(40)]
    tracks = {t.track_id: t for t in _run(script)}
    assert len(tracks) == 2
    for t in tracks.values():
        xs = [b[0] for b in t.boxes]
        assert len(t) == 40
        assert xs == sorted(xs) or xs == sorted(xs, reverse=True)  # each id keeps one direction


def test_leaving_and_coming_back() -> None:
    """Back within the track buffer: same id, gap filled; back later: a new id."""
    short = [[_box(100 + 2 * t)] if not 20 <= t < 28 else [] for t in range(50)]
    (track,) = _run(short)
    state = frame_states(track, 50, max_gap=30)
    assert (state[20:28] == F).all() and len(track) == 42

    long_gap = [[_box(100 + 2 * t)] if not 20 <= t < 70 else [] for t in range(90)]
    tracks = _run(long_gap)
    assert len(tracks) == 2 and {(t.first, t.last) for t in tracks} == {(0, 19), (70, 89)}
    # With one person asked for, the pieces become one track, the long gap stays absent.
    (joined,) = select_tracks(tracks, TrackerConfig(min_frames=1, max_people=1))
    state = frame_states(joined, 90, max_gap=30)
    assert (state[:20] == D).all() and (state[20:70] == A).all() and (state[70:] == D).all()


def test_selection_drops_short_tracks_and_keeps_the_longest() -> None:
    logs = [TrackLog(i, list(range(n)), [np.zeros(4)] * n, [0.9] * n) for i, n in ((1, 3), (2, 50), (3, 20), (4, 30))]
    kept = select_tracks(logs, TrackerConfig(min_frames=10))
    assert [t.track_id for t in kept] == [2, 4, 3]
    assert [t.track_id for t in select_tracks(logs, TrackerConfig(min_frames=10, max_people=2))] == [2, 4]


def test_max_people_one_joins_only_non_overlapping_pieces() -> None:
    def log(i: int, first: int, last: int) -> TrackLog:
        frames = list(range(first, last + 1))
        return TrackLog(i, frames, [np.full(4, i, np.float32)] * len(frames), [0.9] * len(frames))

    (joined,) = select_tracks([log(1, 0, 40), log(2, 30, 60), log(3, 45, 80)], TrackerConfig(min_frames=1, max_people=1))
    assert joined.frames == list(range(0, 41)) + list(range(45, 81))  # piece 2 overlaps piece 1: left out


def test_fill_gaps_marks_absent_frames_nan() -> None:
    state = np.array([A, D, F, F, D, A], np.uint8)
    values = np.array([0, 1, 0, 0, 4, 0], np.float32)
    out = fill_gaps(values, state)
    assert np.isnan(out[0]) and np.isnan(out[5]) and np.allclose(out[1:5], [1, 2, 3, 4])


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown tracker"):
        TrackerConfig(kind="sort")
    with pytest.raises(ValueError, match="max_people"):
        TrackerConfig(max_people=0)


def test_botsort_runs_with_frames() -> None:
    config = TrackerConfig(kind="botsort", min_frames=1)
    tracker = PersonTracker(config)
    frame = np.zeros((480, 640, 3), np.uint8)
    out = []
    for t in range(5):
        out += tracker.update(Detections(np.array([_box(100 + 3 * t)]), np.array([0.9])), frame)
    assert {m[1] for m in out} == {1} and len(out) == 5
