"""The app's 3D stage (demo/pose3d/): every track lifted together, in chunks, absences,
scores in both exports, the row layout of the files, and the seeds' display frame."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from demo.render.display_frame import camera_to_world, world_for_display
from demo.motion.smoothing import smooth_series, smoothing_preset
from demo.io.video import VideoMeta
from demo.pose2d import Pose2DResult, Track2D
from demo.options import MotionOptions
from demo.pose3d import Pose3DResult, lift_people as lift_tracks
from demo.pose2d.track import FrameState
from lifter.checkpoints import load_lifter
from lifter.inference import LiftOptions
from lifter.inference import lift_tracks as lift_2d_tracks

from .conftest import fixture_path

TOL = 1e-5
T = 30


@pytest.fixture(scope="module")
def stcformer() -> torch.nn.Module:
    return load_lifter(fixture_path("stcformer_ref.pth"), frames=27)


def _track2d(track_id: int, state: np.ndarray, seed: int) -> Track2D:
    """A 2D track whose absent frames hold junk (not NaN): only ``state`` may decide presence."""
    rng = np.random.default_rng(seed)
    h36m = (rng.uniform([300, 200], [900, 500], (1, 17, 2)) + np.cumsum(rng.normal(0, 2, (T, 17, 2)), 0)).astype(np.float32)
    scores = rng.uniform(0.2, 1.0, (T, 17)).astype(np.float32)
    h36m[state == FrameState.ABSENT] = 12345.0
    scores[state == FrameState.ABSENT] = np.nan
    boxes = np.zeros((T, 4), np.float32)
    return Track2D(track_id, 0, state, boxes, np.ones(T, np.float32), h36m.copy(), scores.copy(), h36m, scores)


@pytest.fixture()
def pose2d() -> Pose2DResult:
    a = np.full(T, FrameState.DETECTED, np.uint8)
    a[8:10] = FrameState.FILLED  # a short gap the 2D stage filled: lifted
    a[15:19] = FrameState.ABSENT  # a long one: splits the track
    b = np.full(T, FrameState.ABSENT, np.uint8)
    b[4:25] = FrameState.DETECTED
    video = VideoMeta("clip.mp4", "0" * 64, 1280, 720, Fraction(25), T, 0)
    return Pose2DResult(video, [_track2d(3, a, 1), _track2d(7, b, 2)], {})


RAW = MotionOptions(smooth=smoothing_preset("none"))


def test_tracks_are_lifted_in_present_segments(pose2d, stcformer) -> None:
    result = lift_tracks(pose2d, stcformer, LiftOptions(batch_size=6), RAW, lifter_name="fixture", progress=False)
    a, b = result.tracks
    assert np.isnan(a.camera[15:19]).all() and np.isnan(b.camera[:4]).all() and np.isnan(b.camera[25:]).all()
    assert np.isfinite(a.camera[a.present]).all() and np.isfinite(b.camera[b.present]).all()
    # Each segment is its own clip: the lifter on that segment alone.
    segments = [pose2d.tracks[0].h36m[:15], pose2d.tracks[0].h36m[19:], pose2d.tracks[1].h36m[4:25]]
    alone = [r.camera for r in lift_2d_tracks(segments, 1280, 720, stcformer)]
    assert np.abs(a.camera[:15] - alone[0]).max() <= TOL and np.abs(a.camera[19:] - alone[1]).max() <= TOL
    assert np.abs(b.camera[4:25] - alone[2]).max() <= TOL
    assert np.isnan(a.world[~a.present]).all() and not hasattr(a, "display")  # display is the renderer's
    assert result.lifter == {"name": "fixture", "family": "stcformer", "window": 27, "mode": "centre", "flip": True,
                             "precision": "fp32"}  # fmt: skip


def test_2d_is_smoothed_per_segment_before_lifting(pose2d, stcformer) -> None:
    result = lift_tracks(pose2d, stcformer, progress=False)  # default: light smoothing
    a = result.tracks[0]
    raw = pose2d.tracks[0]
    expected, _ = smooth_series(np.where(raw.present[:, None, None], raw.h36m, np.nan), raw.present, 25.0,
                                smoothing_preset("light"))  # fmt: skip
    assert np.abs(a.keypoints_2d[a.present] - expected[a.present]).max() <= 1e-3
    assert not np.allclose(a.keypoints_2d[a.present], raw.h36m[a.present])  # it did smooth
    alone = lift_2d_tracks([a.keypoints_2d[:15], a.keypoints_2d[19:]], 1280, 720, stcformer)
    assert np.abs(a.camera[:15] - alone[0].camera).max() <= TOL
    assert result.smoothing["keypoints_2d"].startswith("savgol")


def test_people_are_placed_in_camera_and_world_space(pose2d, stcformer, tmp_path: Path) -> None:
    result = lift_tracks(pose2d, stcformer, progress=False)
    for tr in result.tracks:
        assert np.isfinite(tr.root[tr.present]).all() and np.isnan(tr.root[~tr.present]).all()
        assert (tr.root[tr.present, 2] > 0).all()  # in front of the camera
        assert np.allclose(tr.camera_joints, tr.camera + tr.root[:, None], equal_nan=True, atol=1e-5)  # float32
        assert np.allclose(tr.world, result.ground.to_world(tr.camera_joints), equal_nan=True, atol=1e-5)
    result.save(tmp_path)
    with np.load(tmp_path / "pose3d.npz") as npz:
        assert npz["root"].shape == (2 * T, 3) and npz["camera_joints"].shape == (2 * T, 17, 3)
        assert "display" not in npz.files
        k, m = npz["intrinsics"], npz["world_from_camera"]
        assert k[0, 0] == pytest.approx(result.camera.focal_px) and k[:2, 2] == pytest.approx([1280 / 2, 360])
        cam = npz["camera_joints"][0]
        assert np.allclose(cam @ m[:3, :3].T + m[:3, 3], npz["world"][0], atol=1e-4)
    data = json.loads((tmp_path / "pose3d.json").read_text())
    assert data["camera"]["fov_deg"] == pytest.approx(65.0) and "world_from_camera" in data["ground"]  # landscape: long side = width
    assert len(data["tracks"][0]["root"]) == T - 4


def test_bad_focal_is_a_user_error(pose2d, stcformer) -> None:
    from core.errors import UserError

    with pytest.raises(UserError, match="--focal"):
        lift_tracks(pose2d, stcformer, motion=MotionOptions(focal=-1.0), progress=False)


def test_scores_are_in_both_exports(pose2d, stcformer, tmp_path: Path) -> None:
    result = lift_tracks(pose2d, stcformer, progress=False)
    result.tracks[0].scores[2, 5] = np.nan  # a score the 2D stage did not have: null in JSON
    result.save(tmp_path)
    with np.load(tmp_path / "pose3d.npz") as npz:
        assert npz["scores"].shape == (2 * T, 17) and npz["scores"].dtype == np.float32
        second = npz["row_track"] == 7  # the documented way to read one track without our code
        assert np.array_equal(npz["frame"][second], np.arange(T))
        assert np.array_equal(npz["scores"][second][4:25], pose2d.tracks[1].h36m_scores[4:25])
        assert np.isnan(npz["scores"][~second][15:19]).all() and np.isnan(npz["scores"][second][:4]).all()
        assert npz["camera"].shape == npz["world"].shape == (2 * T, 17, 3)
    data = json.loads((tmp_path / "pose3d.json").read_text())
    first = data["tracks"][0]
    assert len(first["scores"]) == len(first["frames"]) == T - 4 and len(first["scores"][0]) == 17
    assert first["scores"][2][5] is None
    assert first["scores"][0][0] == round(float(pose2d.tracks[0].h36m_scores[0, 0]), 3)
    assert "scores" in data["units"]


def test_no_tracks(stcformer, tmp_path: Path) -> None:
    video = VideoMeta("clip.mp4", "0" * 64, 1280, 720, Fraction(25), T, 0)
    result = lift_tracks(Pose2DResult(video, [], {}), stcformer, progress=False)
    result.save(tmp_path)
    with np.load(tmp_path / "pose3d.npz") as npz:
        assert npz["scores"].shape == (0, 17) and npz["camera"].shape == (0, 17, 3) and int(npz["num_frames"]) == T
    assert Pose3DResult.load(tmp_path).tracks == []


def test_spans_chunks_and_reload(stcformer, tmp_path: Path) -> None:
    """Tracks hold only their span; lifting in chunks of a few frames gives the same
    numbers as one call; the saved result reads back as it was, with a dense view."""
    state = np.full(12, FrameState.DETECTED, np.uint8)
    late = _track2d(5, np.r_[state, np.zeros(T - 12, np.uint8)], 3)
    late = Track2D(5, 40, late.state[:12], late.boxes[:12], late.box_scores[:12], late.coco[:12], late.coco_scores[:12],
                   late.h36m[:12], late.h36m_scores[:12])  # fmt: skip
    early = _track2d(2, np.full(T, FrameState.DETECTED, np.uint8), 4)
    video = VideoMeta("clip.mp4", "0" * 64, 1280, 720, Fraction(25), 60, 0)
    pose2d = Pose2DResult(video, [early, late], {})
    whole = lift_tracks(pose2d, stcformer, progress=False)
    chunked = lift_tracks(pose2d, stcformer, progress=False, chunk_rows=5)
    for a, b in zip(whole.tracks, chunked.tracks):
        assert a.start == b.start and np.abs(a.world - b.world).max() <= TOL
    assert whole.tracks[1].start == 40 and whole.tracks[1].world.shape == (12, 17, 3)
    dense = whole.dense(5, "world")
    assert dense.shape == (60, 17, 3) and np.isnan(dense[:40]).all() and np.array_equal(dense[40:52], whole.tracks[1].world)
    whole.save(tmp_path)
    back = Pose3DResult.load(tmp_path)
    assert [t.start for t in back.tracks] == [0, 40] and back.video == video
    assert np.array_equal(back.tracks[1].world, whole.tracks[1].world, equal_nan=True)
    assert np.allclose(back.ground.matrix(), whole.ground.matrix()) and back.camera == whole.camera
    data = json.loads((tmp_path / "pose3d.json").read_text())
    assert data["tracks"][1]["frames"] == list(range(40, 52))


# --- the seeds' display frame -------------------------------------------------------------------


def test_world_frame_matches_the_seeds() -> None:
    with np.load(fixture_path("lifting_ref.npz")) as ref:
        model = load_lifter(fixture_path("poseformerv2_ref_f27_k3_c3.bin"), frames=27)
        camera = lift_2d_tracks([ref["track"]], int(ref["width"]), int(ref["height"]), model)[0].camera
        assert np.abs(world_for_display(camera, ref["rot"]) - ref["poseformerv2_f27_world"]).max() <= TOL
    assert np.allclose(world_for_display(camera)[..., 2].min(axis=1), 0)


def test_camera_to_world_is_a_rotation() -> None:
    pts = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    world = camera_to_world(pts)
    assert np.allclose(np.linalg.norm(world, axis=1), np.linalg.norm(pts, axis=1), atol=1e-5)
    assert np.allclose(camera_to_world(pts, translation=np.array([1.0, 2.0, 3.0])) - world, [1, 2, 3], atol=1e-5)
