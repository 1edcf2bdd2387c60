"""The tidy CSV table and the --export parsing."""
from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.joints import H36M_JOINTS
from demo.export.csv_table import HEADER, write_joints_csv
from demo.export.formats import parse_exports
from demo.motion.camera import PinholeCamera
from demo.motion.ground import GroundFrame
from demo.io.video import VideoMeta
from demo.pose3d import Pose3DResult, Track3D
from demo.pose2d.track import FrameState

T = 6


def _result() -> Pose3DResult:
    rng = np.random.default_rng(0)
    tracks = []
    ground = GroundFrame.from_up(np.array([0.0, -1.0, 0.0]), -1.6, "test")
    for track_id, absent in ((4, [2, 3]), (9, [0])):
        state = np.full(T, FrameState.DETECTED, np.uint8)
        state[absent] = FrameState.ABSENT
        world = rng.normal(size=(T, 17, 3)).astype(np.float32)
        kp = rng.uniform(0, 640, (T, 17, 2)).astype(np.float32)
        scores = rng.uniform(size=(T, 17)).astype(np.float32)
        for a in (world, kp, scores):
            a[absent] = np.nan
        world[1, 5] = np.nan  # a joint the 2D model lost
        nan3 = np.full((T, 17, 3), np.nan, np.float32)
        tracks.append(Track3D(track_id, 0, state, nan3[:, 0], world, scores, kp, ground))
    video = VideoMeta("clip.mp4", "0" * 64, 640, 480, Fraction(25), T, 0)
    ground = GroundFrame.from_up(np.array([0.0, -1.0, 0.0]), -1.6, "test")
    return Pose3DResult(video, tracks, {}, PinholeCamera.for_image(640, 480), ground)


def test_csv_is_one_row_per_present_frame_person_joint(tmp_path: Path) -> None:
    result = _result()
    path = write_joints_csv(tmp_path / "clip_joints.csv", result)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == HEADER
    assert len(rows) == (4 + 5) * 17  # person 4 present in 4 frames, person 9 in 5
    first = rows[0]
    assert first["frame"] == "0" and first["person"] == "4" and first["joint"] == H36M_JOINTS[0]
    assert float(first["x"]) == pytest.approx(float(result.tracks[0].world[0, 0, 0]), abs=1e-5)
    assert float(first["u"]) == pytest.approx(float(result.tracks[0].keypoints_2d[0, 0, 0]), abs=0.005)
    assert float(first["score"]) == pytest.approx(float(result.tracks[0].scores[0, 0]), abs=5e-4)
    frames_4 = sorted({int(r["frame"]) for r in rows if r["person"] == "4"})
    assert frames_4 == [0, 1, 4, 5]
    lost = next(r for r in rows if r["person"] == "4" and r["frame"] == "1" and r["joint"] == H36M_JOINTS[5])
    assert lost["x"] == lost["y"] == lost["z"] == ""  # unknown: an empty cell, not "nan"
    t = next(r for r in rows if r["person"] == "9" and r["frame"] == "5")
    assert float(t["time_s"]) == pytest.approx(5 / 25)
    # Loads as a numeric table as is.
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    assert table["x"].dtype.kind == "f" and len(table) == len(rows)


def test_export_formats_are_checked() -> None:
    assert parse_exports("bvh, CSV") == ("bvh", "csv")
    assert parse_exports("") == ()
    with pytest.raises(UserError, match="unknown export format 'obj'; choose from bvh, csv, fbx"):
        parse_exports("csv,obj")
