"""The app's motion options end to end: --export bvh,csv on a real clip, the smoothing and
camera options, and bad input giving one line before any work."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from demo.pose3d import Pose3DResult

from demo.cli import main

from .test_app import _one_error_line, model_args


def test_exports_on_a_real_clip(short_clips: Path, confident_yolo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["--video", str(short_clips / "walk_a.mp4"), *model_args(confident_yolo, out), "--no-video",
            "--export", "csv,bvh", "--fov", "50", "--min-track-frames", "3"]  # fmt: skip
    assert main(args) == 0
    clip = out / "walk_a"
    result = Pose3DResult.load(clip)
    ids = [t.track_id for t in result.tracks]
    assert len(ids) >= 1
    bvh_files = sorted(clip.glob("walk_a_person*.bvh"))
    assert [int(p.stem.split("person")[1]) for p in bvh_files] == sorted(ids)
    for path in bvh_files:
        track = result.track(int(path.stem.split("person")[1]))
        first, last = np.flatnonzero(track.present)[[0, -1]] + track.start  # the person's lifetime
        text = path.read_text()
        assert "ROOT pelvis" in text and f"Frames: {last - first + 1}" in text and "Frame Time: 0.1" in text
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["frames"] == last - first + 1 and side["first_frame"] == first
    with open(clip / "walk_a_joints.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(int(t.present.sum()) for t in result.tracks) * 17
    row = rows[0]
    world = result.dense(int(row["person"]), "world")
    assert float(row["x"]) == pytest.approx(float(world[int(row["frame"]), 0, 0]), abs=1e-4)
    data = json.loads((clip / "pose3d.json").read_text())
    assert data["camera"]["fov_deg"] == pytest.approx(50.0)
    done = json.loads((clip / "done.json").read_text())
    assert "walk_a_joints.csv" in done["outputs"] and bvh_files[0].name in done["outputs"]
    assert done["key"]["settings"]["exports"] == ["bvh", "csv"]
    capsys.readouterr()
    assert main(args) == 0  # the same run again: the export list in the key compares as equal
    assert "already done with this video, weights and settings" in capsys.readouterr().out


def test_a_person_too_short_for_the_filter_is_left_raw_with_a_warning(short_clips: Path, confident_yolo: Path,
                                                                     tmp_path: Path, capsys) -> None:  # fmt: skip
    args = ["--video", str(short_clips / "walk_b.mp4"), *model_args(confident_yolo, tmp_path), "--no-video",
            "--smooth", "savgol:window_s=3,polyorder=2", "--min-track-frames", "3"]  # fmt: skip
    assert main(args) == 0  # 24 frames at 10 fps: every run is shorter than the 31-frame window
    err = capsys.readouterr().err
    assert "2D keypoints: frames" in err and "left unsmoothed" in err
    with np.load(tmp_path / "walk_b" / "pose3d.npz") as p3:
        assert np.isfinite(p3["world"][p3["state"] > 0]).all()


@pytest.mark.parametrize("extra,message", [
    (["--fov", "0"], "--fov must be between 0 and 180 degrees"),
    (["--focal", "-3"], "--focal must be a positive number of pixels"),
    (["--export", "bvh,obj"], "unknown export format 'obj'; choose from bvh, csv, fbx"),
    (["--smooth", "wobbly"], "unknown smoothing 'wobbly'"),
    (["--smooth-3d", "savgol:window=3"], "bad smoothing parameter"),
])  # fmt: skip
def test_bad_motion_options_fail_before_any_work(extra, message, short_clips: Path, confident_yolo: Path,
                                                  tmp_path: Path, capsys) -> None:  # fmt: skip
    args = ["--video", str(short_clips / "walk_a.mp4"), *model_args(confident_yolo, tmp_path / "out"), *extra]
    assert main(args) == 1
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_fbx_without_blender_says_how_to_get_it(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                monkeypatch, capsys) -> None:  # fmt: skip
    monkeypatch.setenv("POSE3D_BLENDER", str(tmp_path / "no-blender-here"))
    args = ["--video", str(short_clips / "walk_a.mp4"), *model_args(confident_yolo, tmp_path / "out"), "--export", "fbx"]
    assert main(args) == 1
    assert "FBX export needs Blender" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
