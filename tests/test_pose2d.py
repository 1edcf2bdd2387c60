"""The 2D stage end to end on the real clip, with the real detector, tracker and HRNet code
and random-weight models: one entry per frame, the saved files, the cache, bad inputs."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from core.runtime import configure_runtime
from demo.detect import DetectorConfig
from demo.pose2d import RESULT_JSON, RESULT_NPZ, SEEDS_KEYPOINTS, Pose2DConfig, Pose2DResult, Pose2DStage, estimate_2d
from demo.skeleton import coco_to_h36m
from demo.topdown import TopDownEstimator
from demo.track import FrameState, TrackerConfig
from demo.video import VideoError

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


def test_one_entry_per_frame_for_every_track(first_run) -> None:
    result, _, _ = first_run
    assert result.num_frames == FRAMES and result.video.width == 768 and result.video.fps == 10
    assert len(result.tracks) >= 1 and not result.reused
    for track in result.tracks:
        assert track.state.shape == (FRAMES,) and track.state.dtype == np.uint8
        assert track.boxes.shape == (FRAMES, 4) and track.coco.shape == (FRAMES, 17, 2)
        assert track.h36m.shape == (FRAMES, 17, 2) and track.h36m_scores.shape == (FRAMES, 17)
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
    with np.load(out / RESULT_NPZ) as data:
        assert data["coco"].shape == (len(result.tracks), FRAMES, 17, 2) and data["state"].dtype == np.uint8
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
