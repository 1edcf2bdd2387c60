"""What users must be able to trust: a replaced video or checkpoint is redone, unexpected
errors keep their traceback, the app owns torch's threads, stage timings are recorded,
custom person classes work."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

import demo.pipeline
from demo.cli import main
from demo.pose2d.hrnet import HRNet
from lifter.stcformer import STCFormer

from .conftest import fixture_path, make_random_yolo
from .test_app import model_args


def _run(video: Path, out: Path, yolo: Path, *extra: str) -> int:
    return main(["--video", str(video), *model_args(yolo, out, "--no-video", *extra)])


def test_a_replaced_video_is_redone_and_an_unchanged_one_skipped(short_clips: Path, confident_yolo: Path,
                                                                  tmp_path: Path, capsys) -> None:  # fmt: skip
    clip = tmp_path / "clip.mp4"
    shutil.copy(short_clips / "walk_a.mp4", clip)
    out = tmp_path / "out"
    assert _run(clip, out, confident_yolo) == 0
    first = json.loads((out / "clip" / "pose2d.json").read_text())["video"]["sha256"]
    capsys.readouterr()
    assert _run(clip, out, confident_yolo) == 0
    assert "already done" in capsys.readouterr().out

    shutil.copy(short_clips / "walk_b.mp4", clip)  # another recording under the same name
    assert _run(clip, out, confident_yolo) == 0
    captured = capsys.readouterr()
    assert "the video's content changed" in captured.err and "already done" not in captured.out
    second = json.loads((out / "clip" / "pose2d.json").read_text())["video"]["sha256"]
    assert second != first
    done = json.loads((out / "clip" / "done.json").read_text())
    assert done["key"]["video_sha256"] == second


def test_a_retrained_checkpoint_at_the_same_path_is_redone(short_clips: Path, confident_yolo: Path,
                                                           tmp_path: Path, capsys) -> None:  # fmt: skip
    lifter = tmp_path / "my_lifter.pth"
    shutil.copy(fixture_path("stcformer_ref.pth"), lifter)
    out = tmp_path / "out"
    args = model_args(confident_yolo, out, "--no-video")
    args[args.index("--checkpoint") + 1] = str(lifter)
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 0
    state = torch.load(lifter, weights_only=True)
    torch.save({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, lifter)  # "retrained"
    pose2d_written = (out / "walk_a" / "pose2d.npz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 0
    assert "the lifter weights changed" in capsys.readouterr().err
    # The 2D stage does not depend on the lifter: its result is reused, not rewritten.
    assert (out / "walk_a" / "pose2d.npz").stat().st_mtime_ns == pose2d_written


def test_an_unexpected_error_keeps_its_traceback(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                 monkeypatch, capsys) -> None:  # fmt: skip
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.setattr(demo.pipeline, "lift_people", broken)
    out = tmp_path / "out"
    assert _run(short_clips / "walk_a.mp4", out, confident_yolo) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: a bug" in err
    assert not (out / "walk_a" / "done.json").exists()
    # In a batch the summary names the exception type and the batch fails.
    rc = main(["--folder", str(short_clips), *model_args(confident_yolo, tmp_path / "batch", "--no-video")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "internal error: ZeroDivisionError" in captured.out and "Traceback" in captured.err


def test_user_errors_stay_one_line(short_clips: Path, confident_yolo: Path, tmp_path: Path, capsys) -> None:
    args = model_args(confident_yolo, tmp_path / "out", "--person-classes", "Fall")
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no class 'Fall'" in err[0] and "--person-classes" in err[0]


def test_threads_are_ours_inside_every_forward_pass(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                    monkeypatch) -> None:  # fmt: skip
    """Ultralytics sets torch's threads inside predict; the HRNet and lifter forward passes,
    which run after real detection calls, must still see the requested count."""
    seen: dict[str, set[int]] = {"hrnet": set(), "lifter": set()}
    original = HRNet.__init__

    def init(self, *a, **k):
        original(self, *a, **k)
        self.register_forward_pre_hook(lambda *_: seen["hrnet"].add(torch.get_num_threads()))

    monkeypatch.setattr(HRNet, "__init__", init)
    # The lifter runs through forward() (seq2seq) or forward_centre() (centre frames).
    for method in ("forward", "forward_centre"):
        def recording(self, *a, _original=getattr(STCFormer, method), **k):
            seen["lifter"].add(torch.get_num_threads())
            return _original(self, *a, **k)

        monkeypatch.setattr(STCFormer, method, recording)
    torch.set_num_threads(1)
    assert _run(short_clips / "walk_a.mp4", tmp_path / "out", confident_yolo, "--threads", "2") == 0
    assert seen == {"hrnet": {2}, "lifter": {2}}


def test_stage_timings_in_done_json_and_profile(short_clips: Path, confident_yolo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["--video", str(short_clips / "walk_a.mp4"), *model_args(confident_yolo, out, "--profile")]) == 0
    timings = json.loads((out / "walk_a" / "done.json").read_text())["timings"]
    for stage in ("setup", "decode", "detect", "track", "crop", "2d", "lift", "render", "encode", "idle", "wall"):
        assert stage in timings, stage
    assert timings["detect"] > 0 and timings["2d"] > 0 and timings["render"] > 0 and timings["encode"] > 0
    assert 0 < timings["detect"] < timings["wall"]
    printed = capsys.readouterr().out
    assert "outside model forward passes" in printed and "detect" in printed


def test_person_classes_by_name_and_id(tmp_path: Path, short_clips: Path) -> None:
    """A detector whose people are not called 'person' (a fall detector: Normal, Fall)."""
    from ultralytics import YOLO

    path = make_random_yolo(tmp_path / "fall_like.pt", person_bias=4.0)
    model = YOLO(path)
    model.model.names = {i: f"class{i}" for i in range(len(model.names))}
    model.model.names.update({0: "Normal", 1: "Fall"})
    model.save(path)
    out = tmp_path / "out"
    for classes in ("Normal,Fall", "0,1", "normal"):
        args = model_args(path, out, "--no-video", "--overwrite", "--person-classes", classes)
        assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 0, classes
    with np.load(out / "walk_a" / "pose2d.npz") as data:
        assert len(data["track_ids"]) >= 1  # random weights scored high for class 0: people found
