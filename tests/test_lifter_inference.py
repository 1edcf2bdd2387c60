"""Whole-clip lifting: the seeds' protocol to 1e-5, batching, seq2seq, missing 2D, world frame."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lifter.checkpoints import load_lifter
from lifter.errors import LiftError
from lifter.inference import (
    FLIP_PERMUTATION,
    LiftOptions,
    camera_to_world,
    centre_window_indices,
    fill_missing,
    flip_horizontal,
    lift_track,
    normalize_screen,
    seq2seq_windows,
    world_for_display,
)
from lifter.registry import create_lifter
from lifter.seed_protocol import lift_track_per_frame

from .conftest import fixture_path

TOL = 1e-5


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(fixture_path("lifting_ref.npz")) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {
        "stcformer": load_lifter(fixture_path("stcformer_ref.pth"), frames=27),
        "poseformerv2": load_lifter(fixture_path("poseformerv2_ref_f27_k3_c3.bin"), frames=27),
    }


def _track(length: int, seed: int = 0, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A smooth, plausible random 2D track in pixels."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([300, 200], [900, 500], size=(1, 17, 2))
    drift = np.cumsum(rng.normal(0, 2.0, size=(length, 17, 2)), axis=0)
    return (base + drift).astype(np.float32)


@pytest.mark.parametrize("family", ["stcformer", "poseformerv2"])
@pytest.mark.parametrize("suffix", ["", "_T1", "_T5"])
@pytest.mark.parametrize("batch_size", [None, 2, 6])
def test_reproduces_the_seeds_protocol(ref, models, family: str, suffix: str, batch_size: int | None) -> None:
    track = ref[f"track{suffix}"]
    result = lift_track(track, int(ref["width"]), int(ref["height"]), models[family], LiftOptions(batch_size=batch_size))
    expected = ref[f"{family}_f27_camera{suffix}"]
    assert result.camera.shape == expected.shape == (len(track), 17, 3)
    assert np.abs(result.camera - expected).max() <= TOL
    assert np.all(result.camera[:, 0] == 0)  # root joint
    assert result.complete.all() and result.mode == "centre" and result.window == 27


def test_world_frame_matches_the_seeds(ref, models) -> None:
    result = lift_track(ref["track"], int(ref["width"]), int(ref["height"]), models["poseformerv2"])
    assert np.abs(world_for_display(result.camera, ref["rot"]) - ref["poseformerv2_f27_world"]).max() <= TOL
    assert np.allclose(world_for_display(result.camera)[..., 2].min(axis=1), 0)


def test_camera_to_world_is_a_rotation() -> None:
    pts = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    world = camera_to_world(pts)
    assert np.allclose(np.linalg.norm(world, axis=1), np.linalg.norm(pts, axis=1), atol=1e-5)
    assert np.allclose(camera_to_world(pts, translation=np.array([1.0, 2.0, 3.0])) - world, [1, 2, 3], atol=1e-5)


@pytest.mark.parametrize("length", [1, 5, 30])
def test_243_frame_model_matches_the_per_frame_loop(length: int) -> None:
    """Clips shorter than PoseFormerV2's 243-frame window, against the seeds' loop (random weights)."""
    torch.manual_seed(0)
    model = create_lifter("poseformerv2-243-27-27")
    track = _track(length, seed=length)
    ours = lift_track(track, 1280, 720, model, LiftOptions(batch_size=8)).camera
    seeds = lift_track_per_frame(track, 1280, 720, model)
    assert np.abs(ours - seeds).max() <= TOL


def test_stcformer_81_matches_the_per_frame_loop() -> None:
    torch.manual_seed(0)
    model = create_lifter("stcformer-81")
    track = _track(6, seed=3)
    assert np.abs(lift_track(track, 1920, 1080, model).camera - lift_track_per_frame(track, 1920, 1080, model)).max() <= TOL


class _Recorder(torch.nn.Module):
    """Wraps a lifter and records the batch size of every forward call."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.batches: list[int] = []
        self.num_frames, self.seq2seq = inner.num_frames, inner.seq2seq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.inner(x)

    def forward_centre(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.inner.forward_centre(x)


def test_batches_bound_memory_and_hold_flip_copies(models) -> None:
    rec = _Recorder(models["stcformer"])
    result = lift_track(_track(50), 1280, 720, rec, LiftOptions(batch_size=8))
    assert max(rec.batches) <= 8 and sum(rec.batches) == 2 * 50  # every window once, plus its mirror, no repeats
    assert len(rec.batches) == 13
    rec.batches.clear()
    lift_track(_track(50), 1280, 720, rec, LiftOptions(batch_size=8, flip=False))
    assert sum(rec.batches) == 50 and max(rec.batches) <= 8
    assert result.camera.shape == (50, 17, 3)


def test_flip_is_an_involution_and_swaps_sides() -> None:
    x = torch.randn(4, 17, 3)
    assert torch.equal(flip_horizontal(flip_horizontal(x)), x)
    assert FLIP_PERMUTATION[1] == 4 and FLIP_PERMUTATION[14] == 11 and FLIP_PERMUTATION[0] == 0
    assert torch.equal(flip_horizontal(x)[:, 4, 0], -x[:, 1, 0])


def test_window_indices_are_edge_padded() -> None:
    idx = centre_window_indices(torch.tensor([0, 2, 4]), 5, 5)
    assert idx.tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [2, 3, 4, 4, 4]]


# --- missing 2D ---------------------------------------------------------------------------------


def test_missing_joints_are_interpolated_and_flagged() -> None:
    track = _track(10)
    gappy = track.copy()
    gappy[3:6, 7] = np.nan  # a joint missing for three frames
    gappy[0, :, 0] = np.nan  # a whole first frame (x only) missing
    filled, mask = fill_missing(gappy)
    assert np.isfinite(filled).all()
    assert mask[3:6, 7].all() and mask[0].all() and mask.sum() == 3 + 17
    # Linear in time between the neighbours, nearest value before the first observation.
    assert np.allclose(filled[4, 7], (track[2, 7] + track[6, 7]) / 2)
    assert np.allclose(filled[0, :, 0], track[1, :, 0])
    assert np.allclose(filled[0, :, 1], track[1, :, 1])  # a joint counts only with both coordinates


def test_nan_never_leaks_into_the_3d(models) -> None:
    track = _track(40)
    gappy = track.copy()
    gappy[10:14] = np.nan
    result = lift_track(gappy, 1280, 720, models["stcformer"])
    assert np.isfinite(result.camera).all()
    assert result.filled[10:14].all() and not result.filled[:10].any()
    assert result.complete.tolist() == [i not in range(10, 14) for i in range(40)]
    same = lift_track(fill_missing(gappy)[0], 1280, 720, models["stcformer"])
    assert np.array_equal(result.camera, same.camera)


def test_joint_never_seen_is_a_clear_error(models) -> None:
    track = _track(8)
    track[:, 13] = np.nan
    with pytest.raises(LiftError, match=r"joint\(s\) \[13\] are missing in all 8 frames"):
        lift_track(track, 1280, 720, models["stcformer"])


# --- seq2seq ------------------------------------------------------------------------------------


def test_seq2seq_windows_tile_the_clip() -> None:
    assert seq2seq_windows(5, 27, 9) == [(0, 11)]
    assert seq2seq_windows(27, 27, 9) == [(0, 0)]
    assert seq2seq_windows(60, 27, 9) == [(0, 0), (18, 0), (33, 0)]
    assert seq2seq_windows(54, 27, 0) == [(0, 0), (27, 0)]
    for length in (28, 100, 601):
        wins = seq2seq_windows(length, 27, 9)
        covered = np.zeros(length, bool)
        for start, _ in wins:
            covered[start : start + 27] = True
        assert covered.all() and wins[-1][0] == length - 27


def test_seq2seq_single_window_is_the_models_full_output(models) -> None:
    model = models["stcformer"]
    track = _track(27, seed=5)
    result = lift_track(track, 1280, 720, model, LiftOptions(mode="seq2seq"))
    x = torch.from_numpy(normalize_screen(track, 1280, 720))[None]
    with torch.inference_mode():
        expected = (model(x) + flip_horizontal(model(flip_horizontal(x)))) / 2
        expected[..., 0, :] = 0
    assert np.abs(result.camera - expected[0].numpy()).max() <= TOL
    assert result.mode == "seq2seq"


@pytest.mark.parametrize("length,overlap", [(5, None), (60, 0), (60, 9), (100, 20)])
def test_seq2seq_covers_every_frame(models, length: int, overlap: int | None) -> None:
    rec = _Recorder(models["stcformer"])
    result = lift_track(_track(length), 1280, 720, rec, LiftOptions(mode="seq2seq", overlap=overlap, batch_size=4))
    assert result.camera.shape == (length, 17, 3) and np.isfinite(result.camera).all()
    assert np.all(result.camera[:, 0] == 0)
    windows = len(seq2seq_windows(length, 27, 9 if overlap is None else overlap))
    assert sum(rec.batches) == 2 * windows and max(rec.batches) <= 4


def test_seq2seq_stays_close_to_centre_mode_in_overlap_regions(models) -> None:
    """Both are predictions of the same model; with random weights they differ, but by far
    less than the poses themselves (a sanity check that frames are not misaligned)."""
    track = _track(80, seed=7)
    centre = lift_track(track, 1280, 720, models["stcformer"]).camera
    s2s = lift_track(track, 1280, 720, models["stcformer"], LiftOptions(mode="seq2seq")).camera
    shifted = np.roll(s2s, 5, axis=0)
    assert np.abs(s2s - centre).mean() < np.abs(shifted - centre).mean()


# --- bad inputs and options ---------------------------------------------------------------------


def test_seq2seq_needs_stcformer(models) -> None:
    with pytest.raises(LiftError, match="seq2seq mode needs STCFormer"):
        lift_track(_track(30), 1280, 720, models["poseformerv2"], LiftOptions(mode="seq2seq"))


@pytest.mark.parametrize(
    "track,size,match",
    [
        (np.zeros((10, 16, 2)), (640, 480), r"must have shape \(T, 17, 2\)"),
        (np.zeros((0, 17, 2)), (640, 480), "has no frames"),
        (np.zeros((4, 17, 2)), (0, 480), "frame size must be positive"),
    ],
)
def test_bad_tracks(models, track: np.ndarray, size: tuple[int, int], match: str) -> None:
    with pytest.raises(LiftError, match=match):
        lift_track(track, size[0], size[1], models["stcformer"])


def test_bad_options(models) -> None:
    m = models["stcformer"]
    with pytest.raises(LiftError, match="overlap must be in 0..26"):
        lift_track(_track(4), 640, 480, m, LiftOptions(mode="seq2seq", overlap=27))
    with pytest.raises(LiftError, match="batch_size must hold at least one window and its flipped copy"):
        lift_track(_track(4), 640, 480, m, LiftOptions(batch_size=1))
    with pytest.raises(LiftError, match="unknown lifting mode"):
        lift_track(_track(4), 640, 480, m, LiftOptions(mode="middle"))  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_needs_cuda(models, precision: str) -> None:
    with pytest.raises(LiftError, match=f"{precision} autocast needs a CUDA device"):
        lift_track(_track(4), 640, 480, models["stcformer"], LiftOptions(precision=precision))  # type: ignore[arg-type]


def test_progress_bar_runs(models, capsys) -> None:
    lift_track(_track(12), 640, 480, models["stcformer"], LiftOptions(progress=True))
    assert "lifting" in capsys.readouterr().err
