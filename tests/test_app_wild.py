"""Cases from the wild that used to give silently wrong or stale results (issue 17): each
test failed before the fix. Portrait focal length, versions in the keys, a finished folder
that matches its record, what the left panel draws, degenerate detector boxes, two inputs
with the same name, the GIF range, and nothing left behind by a failed clip."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

import demo.cache
import demo.pipeline
from core.errors import UserError
from demo.cli import main
from demo.io.background import BackgroundSink, Prefetch
from demo.io.video import VideoInfo
from demo.motion.camera import PinholeCamera
from demo.pose2d import Pose2DResult
from demo.pose2d.detect import Detections, PersonDetector
from demo.pose3d import Pose3DResult
from demo.render import gif as gif_module
from demo.render.side_by_side import people_by_frame
from lifter.stcformer import STCFormer

from .test_app import _one_error_line, model_args


def _run(video: Path, out: Path, yolo: Path, *extra: str) -> int:
    return main(["--video", str(video), *model_args(yolo, out, "--min-track-frames", "3", *extra)])


def _no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model running from here on fails the test."""

    def ran(*args, **kwargs):
        raise AssertionError("a model ran")

    monkeypatch.setattr(PersonDetector, "__call__", ran)
    monkeypatch.setattr(STCFormer, "forward", ran)


# --- portrait video ----------------------------------------------------------------------------


def test_the_default_field_of_view_spans_the_long_side() -> None:
    portrait, landscape = PinholeCamera.for_image(1080, 1920), PinholeCamera.for_image(1920, 1080)
    expected = 1920 / (2 * math.tan(math.radians(65) / 2))
    assert portrait.focal_px == pytest.approx(expected) == pytest.approx(landscape.focal_px)
    assert portrait.focal_px == pytest.approx(1507, abs=1)  # was 848: everyone 0.56x too near
    assert PinholeCamera.for_image(1080, 1920, fov=65, fov_side="width").focal_px == pytest.approx(848, abs=1)
    assert PinholeCamera.for_image(1080, 1920, fov=65, fov_side="height").focal_px == pytest.approx(expected)
    with pytest.raises(UserError, match="side"):
        PinholeCamera.for_image(640, 480, fov=60, fov_side="diagonal")


def test_a_rotated_clip_gets_the_focal_length_it_is_shown_with(short_clips: Path, confident_yolo: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    rotated = tmp_path / "phone.mp4"  # stored 384x288 landscape, shown 288x384 portrait
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", "90",
                    "-i", str(short_clips / "walk_a.mp4"), "-c", "copy", str(rotated)], check=True)  # fmt: skip
    assert _run(rotated, tmp_path / "out", confident_yolo, "--no-video", "--no-html") == 0
    camera = json.loads((tmp_path / "out" / "phone" / "pose3d.json").read_text())["camera"]
    assert (camera["width"], camera["height"]) == (288, 384)
    assert camera["focal_px"] == pytest.approx(PinholeCamera.for_image(384, 288).focal_px)  # the same camera


# --- keys carry versions -----------------------------------------------------------------------


def test_a_new_pipeline_or_library_version_redoes_the_clip(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                           monkeypatch, capsys) -> None:  # fmt: skip
    out = tmp_path / "out"
    assert _run(short_clips / "walk_a.mp4", out, confident_yolo, "--no-video") == 0
    key = json.loads((out / "walk_a" / "done.json").read_text())["key"]
    assert key["versions"]["pipeline"] == str(demo.cache.PIPELINE_VERSION) and "ultralytics" in key["versions"]
    assert json.loads((out / "walk_a" / "pose2d.json").read_text())["key"]["versions"] == key["versions"]
    try:
        with monkeypatch.context() as m:
            m.setattr(demo.cache, "PIPELINE_VERSION", demo.cache.PIPELINE_VERSION + 1)
            demo.cache.versions.cache_clear()
            capsys.readouterr()
            assert _run(short_clips / "walk_a.mp4", out, confident_yolo, "--no-video") == 0
            err = capsys.readouterr().err
            assert "redoing" in err and "(pipeline version changed)" in err
            new = str(demo.cache.PIPELINE_VERSION)
            assert json.loads((out / "walk_a" / "pose2d.json").read_text())["key"]["versions"]["pipeline"] == new  # 2D redone
            saved = dict(key, versions=dict(key["versions"], trackers="0.0.1"))
            reason = demo.cache.stale_reason(saved, demo.cache.ClipKey(key["video_sha256"], key["weights_sha256"],
                                                                       key["settings"]))  # fmt: skip
            assert reason == "pipeline version changed"
    finally:
        demo.cache.versions.cache_clear()  # the real version again for the tests after this one
    assert demo.cache.versions()["pipeline"] == str(demo.cache.PIPELINE_VERSION) == key["versions"]["pipeline"]
    now = demo.cache.versions()
    saved = {"video_sha256": "x", "versions": dict(now, trackers="0.0.1")}
    assert demo.cache.stale_reason(saved, demo.cache.ClipKey("x")) == f"trackers version changed (0.0.1 -> {now['trackers']})"


# --- a finished folder matches its record ------------------------------------------------------


def test_lost_outputs_come_back_without_models_and_stale_ones_go(short_clips: Path, confident_yolo: Path,
                                                                 tmp_path: Path, monkeypatch, capsys) -> None:  # fmt: skip
    out, clip = tmp_path / "out", tmp_path / "out" / "walk_a"
    video = short_clips / "walk_a.mp4"
    assert _run(video, out, confident_yolo, "--gif", "--export", "bvh") == 0
    done = json.loads((clip / "done.json").read_text())
    assert {"walk_a_pose.mp4", "walk_a_pose.gif", "walk_a_viewer.html"} <= set(done["outputs"])
    viewer_before = (clip / "walk_a_viewer.html").read_text()
    (clip / "walk_a_pose.gif").unlink()
    (clip / "walk_a_viewer.html").unlink()
    (clip / "walk_a_person99.bvh").write_text("an earlier run's person\n")
    mp4_written = (clip / "walk_a_pose.mp4").stat().st_mtime_ns
    with monkeypatch.context() as m:
        _no_models(m)
        capsys.readouterr()
        assert _run(video, out, confident_yolo, "--gif", "--export", "bvh") == 0
    err = capsys.readouterr().err
    assert "rebuilding walk_a_pose.gif, walk_a_viewer.html" in err
    assert (clip / "walk_a_pose.gif").is_file() and (clip / "walk_a_viewer.html").read_text() == viewer_before
    assert (clip / "walk_a_pose.mp4").stat().st_mtime_ns == mp4_written  # not re-encoded
    assert json.loads((clip / "done.json").read_text())["outputs"] == done["outputs"]
    # Other settings: what they do not produce is removed (the GIF, the BVH files, a stranger's BVH).
    assert _run(video, out, confident_yolo) == 0
    assert not list(clip.glob("*.gif")) and not list(clip.glob("*.bvh")) and not list(clip.glob("walk_a_person*.json"))
    done = json.loads((clip / "done.json").read_text())
    assert sorted(p.name for p in clip.iterdir() if p.is_file()) == sorted(done["outputs"] + ["done.json"])


def test_the_gallery_shows_a_failed_clip_as_failed(short_clips: Path, confident_yolo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(short_clips / "walk_a.mp4", folder / "walk_a.mp4")
    out = tmp_path / "out"
    assert main(["--folder", str(folder), *model_args(confident_yolo, out, "--min-track-frames", "3")]) == 0
    (folder / "walk_a.mp4").write_text("now broken\n")  # the same clip, replaced by a bad file
    assert main(["--folder", str(folder), *model_args(confident_yolo, out, "--min-track-frames", "3")]) == 1
    index = (out / "index.html").read_text()
    assert "failed" in index and "walk_a_viewer.html" not in index and "walk_a_pose.mp4" not in index


# --- what the left panel draws -----------------------------------------------------------------


def test_the_left_panel_draws_what_was_lifted(short_clips: Path, confident_yolo: Path, tmp_path: Path) -> None:
    assert _run(short_clips / "walk_a.mp4", tmp_path, confident_yolo, "--no-video", "--smooth", "strong") == 0
    pose2d, pose3d = Pose2DResult.load(tmp_path / "walk_a"), Pose3DResult.load(tmp_path / "walk_a")
    lifted = list(people_by_frame(pose3d, pose2d))
    raw = list(people_by_frame(pose3d, pose2d, "raw"))
    assert len(lifted) == pose3d.num_frames
    moved = 0.0
    for t, (a, b) in enumerate(zip(lifted, raw)):
        for p, q in zip(a, b):
            tr3, tr2 = pose3d.track(p.track_id), pose2d.track(p.track_id)
            np.testing.assert_array_equal(p.keypoints_2d, tr3.keypoints_2d[t - tr3.start])
            np.testing.assert_array_equal(q.keypoints_2d, tr2.h36m[t - tr2.start])
            moved = max(moved, float(np.nanmax(np.abs(p.keypoints_2d - q.keypoints_2d))))
    assert moved > 0.1  # smoothing moved them: the two really differ


# --- degenerate detector boxes -----------------------------------------------------------------


def test_degenerate_detector_boxes_are_dropped_with_one_warning(short_clips: Path, confident_yolo: Path,
                                                                tmp_path: Path, monkeypatch, capsys) -> None:  # fmt: skip
    original = PersonDetector.__call__

    def with_flat_boxes(self, frames):
        out = []
        for d in original(self, frames):
            flat = np.array([[10, 10, 10, 80], [50, 60, 90, 60]], np.float32)  # zero width, zero height
            out.append(Detections(np.r_[d.xyxy, flat], np.r_[d.conf, [0.99, 0.99]]))
        return out

    monkeypatch.setattr(PersonDetector, "__call__", with_flat_boxes)
    assert _run(short_clips / "walk_a.mp4", tmp_path, confident_yolo, "--no-video", "--no-html") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "zero width or height" in line]
    assert warnings == ["walk_a.mp4: dropped 48 detector box(es) of zero width or height"]
    assert (tmp_path / "walk_a" / "done.json").is_file()


# --- two inputs with the same name -------------------------------------------------------------


def test_a_second_clip_with_the_same_name_gets_its_own_folder(short_clips: Path, confident_yolo: Path,
                                                              tmp_path: Path, capsys) -> None:  # fmt: skip
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    shutil.copy(short_clips / "walk_a.mp4", tmp_path / "a" / "clip.mp4")
    shutil.copy(short_clips / "walk_b.mp4", tmp_path / "b" / "clip.mp4")
    out = tmp_path / "out"
    assert _run(tmp_path / "a" / "clip.mp4", out, confident_yolo, "--no-video") == 0
    first = (out / "clip" / "pose3d.npz").read_bytes()
    capsys.readouterr()
    assert _run(tmp_path / "b" / "clip.mp4", out, confident_yolo, "--no-video") == 0
    err = capsys.readouterr().err
    assert f"{out / 'clip'} holds the results of {(tmp_path / 'a' / 'clip.mp4').resolve()}" in err
    assert f"goes to {out / 'clip_2'}" in err
    assert (out / "clip" / "pose3d.npz").read_bytes() == first  # the first clip's results are untouched
    assert json.loads((out / "clip_2" / "done.json").read_text())["source"] == str((tmp_path / "b" / "clip.mp4").resolve())
    capsys.readouterr()
    assert _run(tmp_path / "a" / "clip.mp4", out, confident_yolo, "--no-video") == 0  # each finds its own again
    assert "already done" in capsys.readouterr().out


# --- the GIF range -----------------------------------------------------------------------------


def test_a_gif_range_past_the_end_fails_before_any_model(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                         monkeypatch, capsys) -> None:  # fmt: skip
    _no_models(monkeypatch)
    monkeypatch.setattr(demo.pipeline.Pose2DStage, "load", lambda self: (_ for _ in ()).throw(AssertionError("loaded")))
    assert _run(short_clips / "walk_a.mp4", tmp_path / "out", confident_yolo, "--gif", "--gif-frames", "30:40") == 1
    assert "outside the video's 24 frames" in _one_error_line(capsys.readouterr().err)
    assert not list((tmp_path / "out").rglob("*.npz"))


# --- nothing leaks from a failed clip ----------------------------------------------------------


def _children() -> set[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        return set()


def test_a_failed_render_leaves_no_file_process_or_thread(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                          monkeypatch) -> None:  # fmt: skip
    def broken(self, frame):
        raise OSError("the GIF encoder broke")

    monkeypatch.setattr(gif_module.GifWriter, "write", broken)
    children, threads = _children(), threading.active_count()
    out = tmp_path / "out"
    assert _run(short_clips / "walk_a.mp4", out, confident_yolo, "--gif") == 1
    assert _children() == children and threading.active_count() == threads
    names = sorted(p.name for p in (out / "walk_a").iterdir())
    assert not [n for n in names if n.startswith(".")], names  # no temporary file
    assert not (out / "walk_a" / "done.json").exists() and not (out / "walk_a" / "walk_a_pose.mp4").exists()


def test_prefetch_and_sink_refuse_misuse() -> None:
    with Prefetch(iter(range(5)), depth=2) as items:
        assert list(items) == [0, 1, 2, 3, 4]
        with pytest.raises(RuntimeError, match="iterated once"):
            iter(items)
    seen: list[int] = []
    with BackgroundSink(seen.append) as sink:
        sink.put(1)
    assert seen == [1]
    with pytest.raises(RuntimeError, match="closed"):
        sink.put(2)
    # Leaving the block early stops the producer thread (no thread is left waiting to put).
    before = threading.active_count()
    with Prefetch(iter(range(1000)), depth=2) as items:
        next(iter(items))
    assert threading.active_count() == before


_GIF_PEAK = """
import resource, sys
import numpy as np
from demo.render.gif import GifWriter
frames, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
base = rng.integers(0, 255, (120, 160, 3), np.uint8)
with GifWriter(out, 10, (320, 240), 320) as writer:
    for k in range(frames):
        writer.write(np.kron(np.roll(base, k, axis=1), np.ones((2, 2, 1), np.uint8)))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def test_gif_memory_does_not_grow_with_the_clip(tmp_path: Path) -> None:
    """The GIF goes through a temporary file and two FFmpeg passes: FFmpeg's peak memory
    stays flat whatever the number of frames (the one-pass palette held every frame,
    ~0.23 MB per 320x240 frame here). Measured in fresh processes: peak RSS of FFmpeg."""
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    peaks = {}
    for frames in (100, 1000):
        out = tmp_path / f"g{frames}.gif"
        done = subprocess.run([sys.executable, "-c", _GIF_PEAK, str(frames), str(out)], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        peaks[frames] = float(done.stdout.strip())
        assert out.stat().st_size > 0
    assert peaks[1000] < peaks[100] + 60, peaks  # 900 more frames held would be ~200 MB more
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g100.gif", "g1000.gif"]  # no temporary file left
