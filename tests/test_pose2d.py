"""The 2D stage end to end on the real clip, with the real detector, tracker and HRNet code
and random-weight models: one entry per frame, the saved files, the cache, bad inputs."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from core.runtime import configure_runtime
from demo.pose2d.detect import DetectorConfig
from demo.pose2d import Pose2DConfig, Pose2DResult, Pose2DStage, estimate_2d
from demo.pose2d.result import RESULT_JSON, RESULT_NPZ, SEEDS_KEYPOINTS
from core.coco_to_h36m import coco_to_h36m
from demo.pose2d.topdown import TopDownEstimator
from demo.pose2d.track import FrameState, TrackerConfig
from core.files import file_fingerprint
from demo.io.video import VideoError
from demo.pose2d.stage import _load_if_current

from .conftest import fixture_path, media_path

FRAMES = 150


@pytest.fixture(scope="session")
def random_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YOLO26n with random weights saved as a file, as a user's weights file would be."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "yolo_random.pt"
    YOLO("yolo26n.yaml").save(path)
    return path


def test_config(random_yolo: Path, pose_model: str = "hrnet_ref.pth", **tracker: object) -> Pose2DConfig:
    """Fixture-size models; thresholds at 0 because random detectors are never confident."""
    return Pose2DConfig(
        detector=DetectorConfig(model=str(random_yolo), conf=0.0, max_det=3, imgsz=128),
        tracker=TrackerConfig(track_activation_threshold=0.0, high_conf_det_threshold=0.0, min_frames=5, **tracker),
        pose_model=str(fixture_path(pose_model)),
        pose_input_size=(96, 128),
    )


test_config.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def first_run(random_yolo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Pose2DResult, Path, Pose2DConfig]:
    out = tmp_path_factory.mktemp("vtest")
    config = test_config(random_yolo)
    return estimate_2d(media_path("vtest_15s.mp4"), config, out, progress=False), out, config


def test_one_entry_per_frame_of_each_tracks_span(first_run) -> None:
    result, _, _ = first_run
    assert result.num_frames == FRAMES and result.video.width == 768 and result.video.fps == 10
    assert len(result.tracks) >= 1 and not result.reused
    for track in result.tracks:
        n = len(track.state)
        assert 0 <= track.start and track.stop <= FRAMES and track.state.dtype == np.uint8
        assert track.state[0] == track.state[-1] == FrameState.DETECTED  # first to last detection
        assert track.boxes.shape == (n, 4) and track.coco.shape == (n, 17, 2)
        assert track.h36m.shape == (n, 17, 2) and track.h36m_scores.shape == (n, 17)
        dense = track.dense("coco", FRAMES)
        assert dense.shape == (FRAMES, 17, 2) and np.isnan(dense[: track.start]).all()
        assert all(a.dtype == np.float32 for a in (track.boxes, track.coco, track.coco_scores, track.h36m))
        present = track.present
        assert np.isfinite(track.coco[present]).all() and np.isnan(track.coco[~present]).all()
        h36m, scores = coco_to_h36m(track.coco[present], track.coco_scores[present])
        assert np.allclose(track.h36m[present], h36m, atol=1e-4) and np.allclose(track.h36m_scores[present], scores)
    lengths = [int(t.present.sum()) for t in result.tracks]
    assert lengths == sorted(lengths, reverse=True)  # longest first


def test_files_and_seeds_export(first_run) -> None:
    result, out, _ = first_run
    meta = json.loads((out / RESULT_JSON).read_text())
    assert meta["video"]["num_frames"] == FRAMES and meta["video"]["fps"] == "10/1"
    assert len(meta["video"]["sha256"]) == 64 and meta["models"]["pose2d"]["model"] == "hrnet_ref.pth"
    assert [t["track_id"] for t in meta["tracks"]] == [t.track_id for t in result.tracks]
    rows = sum(len(t.state) for t in result.tracks)
    with np.load(out / RESULT_NPZ) as data:
        assert data["coco"].shape == (rows, 17, 2) and data["state"].dtype == np.uint8
        first = data["row_track"] == result.tracks[0].track_id
        assert data["frame"][first][0] == result.tracks[0].start
        assert np.array_equal(data["coco"][first], result.tracks[0].coco, equal_nan=True)
    assert meta["npz_sha256"] == file_fingerprint(out / RESULT_NPZ) and meta["rows"] == rows
    with np.load(out / SEEDS_KEYPOINTS) as seeds:
        assert seeds["reconstruction"].shape == (1, FRAMES, 17, 2) and np.isfinite(seeds["reconstruction"]).all()
        assert np.allclose(seeds["reconstruction"][0][result.tracks[0].present], result.tracks[0].h36m[result.tracks[0].present])


def test_second_run_reuses_the_saved_result(first_run, monkeypatch) -> None:
    result, out, config = first_run

    def no_network(*args, **kwargs):  # a cache hit must not run any model
        raise AssertionError("a model ran on a cache hit")

    monkeypatch.setattr(TopDownEstimator, "estimate", no_network)
    again = estimate_2d(media_path("vtest_15s.mp4"), config, out, progress=False)
    assert again.reused and len(again.tracks) == len(result.tracks)
    for a, b in zip(result.tracks, again.tracks):
        assert a.track_id == b.track_id and np.array_equal(a.coco, b.coco, equal_nan=True)


def test_an_interrupted_save_never_leaves_another_settings_arrays(first_run, random_yolo: Path, tmp_path: Path,
                                                                  monkeypatch, caplog) -> None:  # fmt: skip
    """The record is removed before the arrays are replaced and written after them, and it
    names the arrays' sha256: a run that fails in between (a full disk) leaves nothing
    that the next run with the first settings would take for its own."""
    result, out, config = first_run
    for name in (RESULT_NPZ, RESULT_JSON):
        shutil.copy(out / name, tmp_path / name)
    video = media_path("vtest_15s.mp4")
    key_a = Pose2DStage(config, configure_runtime("cpu")).key(video)
    assert _load_if_current(tmp_path, key_a) is not None  # the first settings' result is reusable
    other = replace(result, tracks=result.tracks[:1], key={"other": "settings"})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Pose2DResult, "export_seeds_keypoints", full_disk)  # after the arrays, before the record
    with pytest.raises(OSError):
        other.save(tmp_path)
    assert not (tmp_path / RESULT_JSON).exists() and (tmp_path / RESULT_NPZ).exists()
    assert _load_if_current(tmp_path, key_a) is None  # recomputed, not another setting's arrays reused
    # and an old record beside new arrays is not trusted either: the hash does not match
    shutil.copy(out / RESULT_JSON, tmp_path / RESULT_JSON)
    with caplog.at_level("WARNING"):
        assert _load_if_current(tmp_path, key_a) is None
    assert "not the file pose2d.json describes" in caplog.text


def test_another_model_invalidates_the_cache(first_run, random_yolo: Path, caplog) -> None:
    result, out, _ = first_run
    # The same weights in MMPose's layout: a different file, so a different model identity.
    other = test_config(random_yolo, pose_model="hrnet_ref_mmpose.pth")
    with caplog.at_level("INFO"):
        rerun = estimate_2d(media_path("vtest_15s.mp4"), other, out, progress=False)
    assert not rerun.reused and "recomputing" in caplog.text
    assert np.allclose(rerun.tracks[0].coco, result.tracks[0].coco, equal_nan=True, atol=1e-3)
    assert json.loads((out / RESULT_JSON).read_text())["models"]["pose2d"]["model"] == "hrnet_ref_mmpose.pth"


def test_keypoints_only_for_kept_tracks(random_yolo: Path, monkeypatch) -> None:
    crops: list[int] = []
    original = TopDownEstimator.estimate

    def counting(self, frames, boxes):
        boxes = list(boxes)
        crops.append(sum(len(b) for b in boxes))
        return original(self, frames, boxes)

    monkeypatch.setattr(TopDownEstimator, "estimate", counting)
    result = estimate_2d(media_path("vtest_15s.mp4"), test_config(random_yolo, max_people=1), progress=False)
    assert len(result.tracks) == 1
    detected = int((result.tracks[0].state == FrameState.DETECTED).sum())
    assert sum(crops) == detected  # one crop per detected frame of the kept person, never twice


def test_video_with_nobody_gives_an_empty_result(random_yolo: Path, tmp_path: Path, caplog) -> None:
    config = test_config(random_yolo)
    config = Pose2DConfig(**{**config.__dict__, "detector": DetectorConfig(model=str(random_yolo), conf=0.5, imgsz=128)})
    with caplog.at_level("WARNING"):
        result = estimate_2d(media_path("vtest_15s.mp4"), config, tmp_path, progress=False)
    assert result.tracks == [] and result.num_frames == FRAMES
    assert "no person found" in caplog.text
    loaded = Pose2DResult.load(tmp_path)
    assert loaded.tracks == [] and loaded.num_frames == FRAMES
    assert not (tmp_path / SEEDS_KEYPOINTS).exists()


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "zero_frames"])
def test_bad_videos(random_yolo: Path, tmp_path: Path, case: str) -> None:
    video = tmp_path / "clip.mp4"
    if case == "text":
        video.write_text("not a video\n")
    elif case == "truncated":
        video.write_bytes(media_path("vtest_15s.mp4").read_bytes()[:50_000])
    elif case == "zero_frames":
        c = av.open(str(video), "w", format="mp4")
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
        c.close()
    out = tmp_path / "out"
    with pytest.raises(VideoError, match="clip.mp4"):
        estimate_2d(video, test_config(random_yolo), out, progress=False)
    assert not out.exists()


def test_estimator_keeps_models_between_videos(random_yolo: Path) -> None:
    est = Pose2DStage(test_config(random_yolo, max_people=1), configure_runtime("cpu"))
    est.run(media_path("vtest_15s.mp4"), progress=False)
    detector, topdown = est._detector, est._topdown
    est.run(media_path("vtest_15s.mp4"), progress=False)
    assert est._detector is detector and est._topdown is topdown
