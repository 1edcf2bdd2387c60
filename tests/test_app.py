"""``vis.py`` end to end with fixture-size random-weight models passed as files: outputs,
cache, folder mode, bad inputs, downloads."""
from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

import core.download
import demo.pipeline
import demo.weights
from demo.cli import main
from demo.pose2d.detect import PersonDetector
from demo.io.video import H264Writer, VideoInfo, read_frames
from core.weights import Source, WeightsFile

from .conftest import fixture_path, media_path
from .local_server import Route

CLIP_FRAMES = 150


def model_args(yolo: Path, out: Path, *extra: str) -> list[str]:
    """Fixture-size models as files, small detector input: the real code, quickly."""
    return [
        "--detector", str(yolo), "--det-size", "160",
        "--pose2d", str(fixture_path("hrnet_ref.pth")), "--pose2d-size", "96", "128",
        "--checkpoint", str(fixture_path("stcformer_ref.pth")), "--frames", "27",
        "--max-people", "3", "--device", "cpu", "-q", "--out", str(out),
        "--preset", "seeds",  # every model is given; the preset sets the lifting mode (centre)
        *extra,
    ]  # fmt: skip


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def vtest_run(confident_yolo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    rc = main(["--video", str(media_path("vtest_15s.mp4")), *model_args(confident_yolo, out), "--gif", "--gif-frames", "0:40"])
    assert rc == 0
    return out / "vtest_15s"


def test_video_has_the_input_frame_rate_and_frame_count(vtest_run: Path) -> None:
    mp4 = vtest_run / "vtest_15s_pose.mp4"
    info = VideoInfo.probe(mp4)
    assert info.fps == Fraction(10) and info.codec == "h264"
    assert sum(1 for _ in read_frames(mp4)) == CLIP_FRAMES
    assert info.width % 2 == 0 and info.height == 576 and info.width > 768  # both panels
    with av.open(str(mp4)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_gif_covers_the_asked_frames(vtest_run: Path) -> None:
    with Image.open(vtest_run / "vtest_15s_pose.gif") as gif:
        assert gif.n_frames == 40 and gif.size[0] == 480
        assert gif.info.get("duration") == 100  # 10 fps


def test_keypoint_files(vtest_run: Path) -> None:
    with np.load(vtest_run / "pose3d.npz") as p3:
        n, rows = len(p3["track_ids"]), len(p3["row_track"])
        assert 1 <= n <= 3 and int(p3["num_frames"]) == CLIP_FRAMES
        assert p3["camera"].shape == p3["world"].shape == (rows, 17, 3)
        assert p3["state"].shape == p3["valid"].shape == p3["frame"].shape == (rows,)
        assert set(p3["row_track"].tolist()) == set(p3["track_ids"].tolist()) and p3["frame"].max() < CLIP_FRAMES
        present = p3["state"] > 0
        assert np.isfinite(p3["camera"][present]).all() and np.isnan(p3["camera"][~present]).all()
        assert np.all(p3["camera"][present][:, 0] == 0)  # root-relative
        assert "display" not in p3.files  # the renderer's own frame, not a result
        # Placed in the scene: camera joints = relative + root, world = the ground transform of them.
        cam_joints = p3["camera"] + p3["root"][..., None, :]
        assert np.allclose(p3["camera_joints"][present], cam_joints[present], atol=1e-5)
        m = p3["world_from_camera"]
        assert np.allclose(p3["world"][present], cam_joints[present] @ m[:3, :3].T + m[:3, 3], atol=1e-4)
        assert (p3["root"][present][:, 2] > 0).all() and np.isnan(p3["world"][~present]).all()
        ids = p3["track_ids"]
        first_rows = p3["row_track"] == ids[0]
        camera0, frames0 = p3["camera"][first_rows], p3["frame"][first_rows]
    data = json.loads((vtest_run / "pose3d.json").read_text())
    assert data["video"]["fps"] == "10/1" and len(data["joints"]) == 17 and "metres" in data["units"]
    assert [t["track_id"] for t in data["tracks"]] == ids.tolist()
    first = data["tracks"][0]
    assert np.allclose(np.array(first["camera"]), camera0[np.searchsorted(frames0, first["frames"])], atol=1e-5)
    with np.load(vtest_run / "pose2d.npz") as p2:
        assert p2["h36m"].shape == (rows, 17, 2)
    done = json.loads((vtest_run / "done.json").read_text())
    assert done["frames"] == CLIP_FRAMES and "vtest_15s_pose.mp4" in done["outputs"]
    assert done["source"] == str(media_path("vtest_15s.mp4").resolve()) and done["key"]["versions"]["pipeline"]


def test_second_run_reuses_2d_and_a_third_is_skipped(vtest_run: Path, confident_yolo: Path, monkeypatch, capsys) -> None:
    def no_detection(*args, **kwargs):
        raise AssertionError("the detector ran although the 2D result was cached")

    monkeypatch.setattr(PersonDetector, "__call__", no_detection)
    args = ["--video", str(media_path("vtest_15s.mp4")), *model_args(confident_yolo, vtest_run.parent),
            "--lift-mode", "seq2seq", "--no-video"]  # fmt: skip
    assert main(args) == 0  # other settings: lifted and written again, 2D reused
    assert json.loads((vtest_run / "pose3d.json").read_text())["lifter"]["mode"] == "seq2seq"
    capsys.readouterr()
    assert main(args) == 0
    assert "already done with this video, weights and settings" in capsys.readouterr().out


def test_folder_mode_reports_and_goes_on(short_clips: Path, confident_yolo: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for clip in short_clips.iterdir():
        (folder / clip.name).write_bytes(clip.read_bytes())
    (folder / "broken.mp4").write_text("this is not a video\n")
    (folder / "notes.txt").write_text("not a video either, and ignored\n")
    loads = []
    original = demo.pipeline.load_lifter
    monkeypatch.setattr(demo.pipeline, "load_lifter", lambda *a, **k: loads.append(a) or original(*a, **k))
    out = tmp_path / "out"
    assert main(["--folder", str(folder), *model_args(confident_yolo, out)]) == 1
    table = capsys.readouterr().out
    assert re.search(r"broken\.mp4\s+failed.*not a readable video file", table)
    assert "2 done, 1 failed" in table and "notes.txt" not in table
    assert (out / "walk_a" / "done.json").is_file() and (out / "walk_b" / "walk_b_pose.mp4").is_file()
    assert not (out / "broken" / "done.json").exists()
    assert len(loads) == 1  # models loaded once for the batch
    assert main(["--folder", str(folder), *model_args(confident_yolo, out)]) == 1
    assert "2 skipped, 1 failed" in capsys.readouterr().out
    # Results written inside the input folder are never taken for inputs.
    inside = folder / "results"
    assert main(["--folder", str(folder), "--recursive", *model_args(confident_yolo, inside)]) == 1
    assert main(["--folder", str(folder), "--recursive", *model_args(confident_yolo, inside)]) == 1
    assert "2 skipped, 1 failed" in capsys.readouterr().out.splitlines()[-1]


def _zero_frame_video(path: Path) -> None:
    c = av.open(str(path), "w", format="mp4")
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
    c.start_encoding()
    c.close()


@pytest.mark.parametrize(
    "case,expected",
    [
        ("missing_video", "does not exist"),
        ("text_as_video", "is not a readable video file"),
        ("zero_frames", "has no video stream"),
        ("hrnet_as_lifter", "is an HRNet 2D keypoint checkpoint, not a lifter"),
        ("truncated_lifter", "is truncated or corrupt"),
        ("unwritable_output", "cannot write to"),
    ],
)
def test_bad_inputs_fail_with_one_line_and_nothing_finished(
    short_clips: Path, confident_yolo: Path, tmp_path: Path, capsys, case: str, expected: str
) -> None:
    video = short_clips / "walk_a.mp4"
    out = tmp_path / "out"
    args = model_args(confident_yolo, out)
    if case == "missing_video":
        video = tmp_path / "nope.mp4"
    elif case == "text_as_video":
        video = tmp_path / "text.mp4"
        video.write_text("hello\n")
    elif case == "zero_frames":
        video = tmp_path / "empty.mp4"
        _zero_frame_video(video)
    elif case == "hrnet_as_lifter":
        args[args.index("--checkpoint") + 1] = str(fixture_path("hrnet_ref.pth"))
    elif case == "truncated_lifter":
        cut = tmp_path / "cut.pth"
        cut.write_bytes(fixture_path("stcformer_ref.pth").read_bytes()[:5000])
        args[args.index("--checkpoint") + 1] = str(cut)
    elif case == "unwritable_output":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        args[args.index("--out") + 1] = str(blocker / "out")
        out = blocker
    assert main(["--video", str(video), *args]) == 1
    assert expected in _one_error_line(capsys.readouterr().err)
    if out.is_dir():
        assert not list(out.rglob("done.json")) and not list(out.rglob("*.mp4"))
    if case in ("missing_video", "text_as_video", "zero_frames"):
        assert not out.exists()  # nothing is created for a video that cannot be read


def test_clip_shorter_than_the_window(short_clips: Path, confident_yolo: Path, tmp_path: Path) -> None:
    """5 frames through PoseFormerV2's 81-frame window (edge padding)."""
    clip = tmp_path / "five.mp4"
    with H264Writer(clip, Fraction(25), (384, 288)) as w:
        for _, f in zip(range(5), read_frames(short_clips / "walk_a.mp4")):
            w.write(f)
    args = model_args(confident_yolo, tmp_path / "out", "--min-track-frames", "2")
    args[args.index("--checkpoint") + 1] = str(fixture_path("poseformerv2_ref_f81_k9_c9.bin"))
    args[args.index("--frames") + 1] = "81"
    assert main(["--video", str(clip), *args]) == 0
    with np.load(tmp_path / "out" / "five" / "pose3d.npz") as p3:
        assert int(p3["num_frames"]) == 5 and p3["frame"].max() < 5 and len(p3["track_ids"]) >= 1
        assert np.isfinite(p3["camera"][p3["state"] > 0]).all()
    assert VideoInfo.probe(tmp_path / "out" / "five" / "five_pose.mp4").fps == 25


def test_video_with_nobody(short_clips: Path, confident_yolo: Path, tmp_path: Path, capsys) -> None:
    args = model_args(confident_yolo, tmp_path / "out", "--det-conf", "0.999")
    assert main(["--video", str(short_clips / "walk_b.mp4"), *args]) == 0
    assert "24 frames, 0 person(s)" in capsys.readouterr().out
    result = tmp_path / "out" / "walk_b"
    with np.load(result / "pose3d.npz") as p3:
        assert p3["camera"].shape == (0, 17, 3) and int(p3["num_frames"]) == 24
    assert sum(1 for _ in read_frames(result / "walk_b_pose.mp4")) == 24


# --- checkpoints on a fresh machine --------------------------------------------------------------


def test_offline_first_use_names_every_missing_file(short_clips: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSE3D_OFFLINE", "1")
    assert main(["--video", str(short_clips / "walk_a.mp4"), "--out", str(tmp_path), "-q"]) == 1
    err = capsys.readouterr().err
    # --preset auto on a CPU: the fast models.
    for name, where in (("stcformer-27", "https://drive.google.com/drive/folders/"),
                        ("rtmpose-m", "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"),
                        ("yolo26n.pt", "https://github.com/ultralytics/assets/releases/download/")):  # fmt: skip
        assert name in err and where in err
    assert str(demo.weights.all_entries()["stcformer-27"].path) in err
    assert "Traceback" not in err


def test_download_command_offline(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSE3D_OFFLINE", "1")
    assert main(["download", "hrnet-w32-256x192"]) == 1
    assert "td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth" in capsys.readouterr().err


def _served_entry(name: str, url: str, sha256: str | None = None) -> WeightsFile:
    return WeightsFile(name=name, file=f"{name}.pth", source=Source(url=url), sha256=sha256)


def test_download_command_against_a_local_server(server, monkeypatch, capsys) -> None:
    body = torch.randn(20_000).numpy().tobytes()
    good = _served_entry("good-model", server.add("/good.pth", Route(body)), hashlib.sha256(body).hexdigest()[:8])
    wrong_hash = _served_entry("bad-hash", server.add("/bad.pth", Route(body)), "00000000")
    cut = _served_entry("cut-model", server.add("/cut.pth", Route(body, plan=("cut",))))
    gone = _served_entry("gone-model", server.base + "/missing.pth")
    entries = {e.name: e for e in (good, wrong_hash, cut, gone)}
    monkeypatch.setattr(demo.weights, "all_entries", lambda: entries)
    monkeypatch.setattr(core.download, "RETRY_WAIT_S", 0.0)

    assert main(["download", "-q", "good-model"]) == 0
    assert good.path.read_bytes() == body and f"ok  {good.path}" in capsys.readouterr().out
    for name, message in (("bad-hash", "sha256"), ("cut-model", "cut"), ("gone-model", "404")):
        assert main(["download", "-q", name]) == 1
        err = capsys.readouterr().err
        assert message in err.lower() and entries[name].file in err
        assert not entries[name].path.exists()
        assert not [p for p in entries[name].path.parent.iterdir() if p.name.startswith(f".{entries[name].file}")]


def test_first_use_downloads_what_is_missing(short_clips: Path, tmp_path: Path, monkeypatch) -> None:
    fetched = []
    monkeypatch.setattr(demo.weights, "fetch", lambda entry, progress=True: fetched.append(entry.name) or entry.path)
    monkeypatch.setattr(demo.pipeline, "Pose2DStage", lambda *a, **k: None)  # stop after the downloads
    demo.pipeline.Pipeline(demo.pipeline.PipelineOptions(device="cpu", progress=False))
    assert fetched == ["stcformer-27", "hrnet-w48-384x288", "yolo26l.pt"]


def test_help_and_typos(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for group in ("input (one of):", "output:", "models:", "processing:", "logging:"):
        assert group in text
    with pytest.raises(SystemExit):
        main(["--video", "x.mp4", "--lifer", "stcformer-81"])
    assert "did you mean --lifter?" in capsys.readouterr().err


def test_list_command(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "stcformer-27" in out and "hrnet-w48-384x288" in out and "yolo26l.pt" in out and "missing" in out


def test_gif_without_the_video(short_clips: Path, confident_yolo: Path, tmp_path: Path) -> None:
    args = model_args(confident_yolo, tmp_path / "out", "--no-video", "--gif", "--gif-frames", "2:12", "--gif-fps", "20")
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 0
    result = tmp_path / "out" / "walk_a"
    assert not (result / "walk_a_pose.mp4").exists()
    with Image.open(result / "walk_a_pose.gif") as gif:
        assert gif.n_frames == 10  # frames 2..11; 20 fps asked, the clip has 10
        assert gif.info.get("duration") == 100
