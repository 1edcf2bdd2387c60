"""Tracking with scripted detections: ids, first detections, gaps and buffers in seconds,
people leaving and crossing, independent trackers, selection, configuration."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from demo.pose2d.detect import Detections
from demo.pose2d.track import (
    FrameState,
    PersonTracker,
    TrackerConfig,
    TrackLog,
    collect_tracks,
    span_boxes,
    fill_gaps,
    frame_states,
    select_tracks,
)

D, F, A = FrameState.DETECTED, FrameState.FILLED, FrameState.ABSENT

Script = list[list[list[float]]]  # per frame, the boxes found there


def _box(x: float, y: float = 100.0, w: float = 60.0, h: float = 160.0) -> list[float]:
    return [x, y, x + w, y + h]


def _dets(boxes: list[list[float]], conf: float | list[float] = 0.9) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.broadcast_to(np.float32(conf), (len(boxes),)).copy())


def _matches(script: Script, fps: float = 30.0, config: TrackerConfig | None = None) -> tuple[list[Detections], list[tuple[int, int, int]]]:
    tracker = PersonTracker(config or TrackerConfig(min_frames=1), fps)
    detections = [_dets(boxes) for boxes in script]
    return detections, [m for d in detections for m in tracker.update(d)]


def _run(script: Script, fps: float = 30.0, config: TrackerConfig | None = None) -> list[TrackLog]:
    """Track a scripted video (confidence 0.9 everywhere)."""
    return collect_tracks(*_matches(script, fps, config))


def _walk(frames: range, gone: range = range(0), step: float = 2.0) -> Script:
    """One person walking right ``step`` px a frame, missing in the ``gone`` frames."""
    return [[] if t in gone else [_box(100 + step * t)] for t in frames]


# --- first detections -------------------------------------------------------------------


def test_first_frame_without_anyone_and_first_detection_kept() -> None:
    script = [[]] + [[_box(100 + 5 * t)] for t in range(1, 20)]
    tracker = PersonTracker(TrackerConfig(min_frames=1), 30)
    per_call = [tracker.update(_dets(boxes)) for boxes in script]
    # Pinned behaviour: ByteTrack names a track on its 2nd detection in a row, and the
    # wrapper then reports the 1st one too, with its own frame index.
    assert per_call[0] == [] and per_call[1] == []
    assert per_call[2] == [(1, 1, 0), (2, 1, 0)]
    assert all(out == [(t, 1, 0)] for t, out in enumerate(per_call) if t >= 3)
    (track,) = collect_tracks([_dets(b) for b in script], [m for out in per_call for m in out])
    assert track.track_id == 1 and track.frames == list(range(1, 20))
    assert np.allclose(track.boxes[0], [105, 100, 165, 260])


def test_two_people_appearing_together_keep_their_own_first_boxes() -> None:
    # From frame 3 on; in frame 3 the detector lists them in the other order.
    script: Script = [[] for _ in range(3)]
    script.append([_box(400), _box(100)])
    script += [[_box(100 + 3 * (t - 3)), _box(400 - 3 * (t - 3))] for t in range(4, 15)]
    tracks = _run(script)
    assert sorted(t.track_id for t in tracks) == [1, 2]
    by_start_x = {round(float(t.boxes[0][0])): t for t in tracks}
    assert set(by_start_x) == {100, 400}
    assert by_start_x[100].frames == by_start_x[400].frames == list(range(3, 15))
    assert np.allclose(by_start_x[100].boxes[-1], _box(133))  # 100 + 3 * 11
    assert np.allclose(by_start_x[400].boxes[-1], _box(367))


def test_unconfident_detections_do_not_start_a_track() -> None:
    # 0.1 < track_activation_threshold (0.25): frames 0-4 start nothing; frame 5 does.
    tracker = PersonTracker(TrackerConfig(min_frames=1), 30)
    dets = [_dets([_box(100 + 2 * t)], 0.1 if t < 5 else 0.9) for t in range(15)]
    (track,) = collect_tracks(dets, [m for d in dets for m in tracker.update(d)])
    assert track.frames == list(range(5, 15)) and track.scores[0] == pytest.approx(0.9)


def test_no_one_at_all() -> None:
    detections, matches = _matches([[] for _ in range(10)])
    assert matches == [] and collect_tracks(detections, matches) == []


# --- crossing, gaps, buffers ------------------------------------------------------------


def test_two_people_crossing_keep_their_ids() -> None:
    script = [[_box(100 + 10 * t, 100), _box(500 - 10 * t, 110)] for t in range(40)]
    tracks = {t.track_id: t for t in _run(script)}
    assert set(tracks) == {1, 2}
    directions = set()
    for t in tracks.values():
        xs = [float(b[0]) for b in t.boxes]
        assert t.frames == list(range(40))
        assert xs == sorted(xs) or xs == sorted(xs, reverse=True)  # each id keeps one direction
        directions.add(xs[0])
    assert directions == {100.0, 500.0}


def test_a_short_absence_keeps_the_id_and_is_filled_linearly() -> None:
    # 10 fps: the default 1 s buffer and 1 s gap are 10 frames. Missing in frames 10-14.
    script = [[] if 10 <= t < 15 else [_box(100 + 5 * t)] for t in range(25)]
    (track,) = _run(script, fps=10)
    config = TrackerConfig()
    boxes, scores, state = span_boxes(track, config.max_gap_frames(10))
    assert (state[:10] == D).all() and (state[10:15] == F).all() and (state[15:] == D).all()
    # Frame 9 has x1 = 145, frame 15 x1 = 175: frame 12 is halfway, x1 = 160.
    assert np.allclose(boxes[12], [160, 100, 220, 260])
    assert np.allclose(boxes[10], [150, 100, 210, 260])  # a sixth of the way: 145 + 5
    assert scores[12] == 0 and scores[9] == pytest.approx(0.9)


def test_absence_longer_than_the_buffer_gives_a_new_id() -> None:
    # 10 fps, 1 s buffer = 10 frames: 10 frames missing keep the id, 11 do not.
    (kept,) = _run(_walk(range(30), gone=range(10, 20)), fps=10)
    assert kept.track_id == 1 and kept.frames == list(range(10)) + list(range(20, 30))
    assert (frame_states(kept, max_gap=10)[10:20] == F).all()

    tracks = _run(_walk(range(30), gone=range(10, 21)), fps=10)
    assert {(t.track_id, t.first, t.last) for t in tracks} == {(1, 0, 9), (2, 21, 29)}
    # With one person asked for, the pieces become one track; the 11-frame gap is longer
    # than the 10-frame max gap, so it stays absent.
    (joined,) = select_tracks(tracks, TrackerConfig(min_frames=1, max_people=1))
    state = frame_states(joined, max_gap=TrackerConfig().max_gap_frames(10))
    assert (state[:10] == D).all() and (state[10:21] == A).all() and (state[21:] == D).all()
    boxes, _, _ = span_boxes(joined, 10)
    assert np.isnan(boxes[10:21]).all() and np.allclose(boxes[21], _box(142))


def test_seconds_scale_with_the_frame_rate() -> None:
    config = TrackerConfig(track_buffer_s=0.5, max_gap_s=0.2)
    assert (config.buffer_frames(10), config.buffer_frames(30)) == (5, 15)
    assert (config.max_gap_frames(10), config.max_gap_frames(30)) == (2, 6)
    assert TrackerConfig().buffer_frames(29.97) == 30 and TrackerConfig().max_gap_frames(60) == 60
    assert TrackerConfig(track_buffer_s=0.01, max_gap_s=0.01).buffer_frames(10) == 1  # never below 1
    assert TrackerConfig(max_gap_s=0.01).max_gap_frames(10) == 1

    # The same 11 missing frames: over 1 s at 10 fps (new id), a third of it at 30 fps.
    script = _walk(range(30), gone=range(10, 21))
    assert len(_run(script, fps=10)) == 2
    (track,) = _run(script, fps=30)
    assert (frame_states(track, TrackerConfig().max_gap_frames(30))[10:21] == F).all()
    # And a 0.5 s buffer at 30 fps is 15 frames: 11 missing frames keep the id.
    assert len(_run(script, fps=30, config=TrackerConfig(min_frames=1, track_buffer_s=0.5))) == 1
    assert len(_run(script, fps=30, config=TrackerConfig(min_frames=1, track_buffer_s=0.3))) == 2  # 9 frames


# --- independent trackers ---------------------------------------------------------------


def _script_a() -> Script:
    return [[_box(100 + 8 * t, 100), _box(500 - 8 * t, 110)] for t in range(50)]


def _script_b() -> Script:
    return _walk(range(50), gone=range(10, 45), step=3.0)  # 35 frames gone > 30: a new id


def test_interleaved_trackers_do_not_affect_each_other() -> None:
    alone_a, alone_b = _matches(_script_a())[1], _matches(_script_b())[1]
    assert {m[1] for m in alone_a} == {1, 2} and {m[1] for m in alone_b} == {1, 2}

    ta, tb = PersonTracker(TrackerConfig(min_frames=1), 30), PersonTracker(TrackerConfig(min_frames=1), 30)
    both_a: list[tuple[int, int, int]] = []
    both_b: list[tuple[int, int, int]] = []
    for boxes_a, boxes_b in zip(_script_a(), _script_b()):
        both_b += tb.update(_dets(boxes_b))
        both_a += ta.update(_dets(boxes_a))
    assert both_a == alone_a and both_b == alone_b

    results: dict[str, list[tuple[int, int, int]]] = {}
    barrier = threading.Barrier(2)

    def work(name: str, script: Script) -> None:
        tracker = PersonTracker(TrackerConfig(min_frames=1), 30)
        out = []
        for boxes in script:
            barrier.wait(timeout=10)  # step the two trackers in lockstep
            out += tracker.update(_dets(boxes))
        results[name] = out

    threads = [threading.Thread(target=work, args=("a", _script_a())), threading.Thread(target=work, args=("b", _script_b()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": alone_a, "b": alone_b}


# --- selection and filling --------------------------------------------------------------


def test_selection_drops_short_tracks_and_keeps_the_longest() -> None:
    logs = [TrackLog(i, list(range(n)), [np.zeros(4)] * n, [0.9] * n) for i, n in ((1, 3), (2, 50), (3, 20), (4, 30))]
    kept = select_tracks(logs, TrackerConfig(min_frames=10))
    assert [t.track_id for t in kept] == [2, 4, 3]
    assert [t.track_id for t in select_tracks(logs, TrackerConfig(min_frames=10, max_people=2))] == [2, 4]
    assert [t.track_id for t in select_tracks(logs, TrackerConfig(min_frames=31))] == [2]


def test_max_people_one_joins_only_non_overlapping_pieces() -> None:
    def log(i: int, first: int, last: int) -> TrackLog:
        frames = list(range(first, last + 1))
        return TrackLog(i, frames, [np.full(4, i, np.float32)] * len(frames), [0.9] * len(frames))

    (joined,) = select_tracks([log(1, 0, 40), log(2, 30, 60), log(3, 45, 80)], TrackerConfig(min_frames=1, max_people=1))
    assert joined.track_id == 1
    assert joined.frames == list(range(0, 41)) + list(range(45, 81))  # piece 2 overlaps piece 1: left out
    assert select_tracks([log(1, 0, 4)], TrackerConfig(min_frames=10, max_people=1)) == []


def test_fill_gaps_marks_absent_frames_nan() -> None:
    state = np.array([A, D, F, F, D, A], np.uint8)
    values = np.array([0, 1, 0, 0, 4, 0], np.float32)
    out = fill_gaps(values, state)
    assert np.isnan(out[0]) and np.isnan(out[5]) and np.allclose(out[1:5], [1, 2, 3, 4])


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"track_activation_threshold": 1.5}, "track_activation_threshold is a detection confidence"),
        ({"high_conf_det_threshold": -0.1}, "high_conf_det_threshold is a detection confidence"),
        ({"track_activation_threshold": 0.2, "high_conf_det_threshold": 0.5}, "could never start a track"),
        ({"minimum_iou_threshold": 0.0}, "minimum_iou_threshold must be in"),
        ({"track_buffer_s": 0.0}, "track_buffer_s is a duration in seconds"),
        ({"max_gap_s": -1.0}, "max_gap_s is a duration in seconds"),
        ({"max_gap_s": float("nan")}, "max_gap_s is a duration in seconds"),
        ({"min_frames": 0}, "min_frames must be at least 1"),
        ({"max_people": 0}, "max_people must be at least 1"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**kwargs)


def test_frame_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fps must be a positive"):
        PersonTracker(TrackerConfig(), 0)
    with pytest.raises(ValueError, match="fps must be a positive"):
        TrackerConfig().buffer_frames(float("nan"))
    with pytest.raises(TypeError):
        TrackerConfig(kind="botsort")  # type: ignore[call-arg]  # ByteTrack only now
