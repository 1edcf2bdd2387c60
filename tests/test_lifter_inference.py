"""Lifting tracks: the seeds' protocol to 1e-5, absences and missing joints, batching across
tracks, seq2seq, precision."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import LiftError
from lifter.checkpoints import load_lifter
from lifter.inference import (
    LiftOptions,
    fill_missing,
    flip_horizontal,
    lift_tracks,
    normalize_screen,
    seq2seq_windows,
    windows_per_batch,
)
from lifter.registry import create_lifter

from .conftest import fixture_path
from .seed_protocol import lift_track_per_frame

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


def _track(length: int, seed: int = 0) -> np.ndarray:
    """A smooth, plausible random 2D track in pixels (for a 1280x720 frame)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([300, 200], [900, 500], size=(1, 17, 2))
    drift = np.cumsum(rng.normal(0, 2.0, size=(length, 17, 2)), axis=0)
    return (base + drift).astype(np.float32)


def _lift(track: np.ndarray, model: torch.nn.Module, options: LiftOptions | None = None, size=(1280, 720)):
    """One track through :func:`lift_tracks`."""
    return lift_tracks([track], size[0], size[1], model, options)[0]


def _absent(track: np.ndarray, *frames: slice) -> np.ndarray:
    """A copy of ``track`` with the person absent (every joint NaN) in ``frames``."""
    out = track.copy()
    for f in frames:
        out[f] = np.nan
    return out


# --- the seeds' protocol ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["stcformer", "poseformerv2"])
@pytest.mark.parametrize("suffix", ["", "_T1", "_T5"])
@pytest.mark.parametrize("batch_size", [None, 2, 6])
def test_reproduces_the_seeds_protocol(ref, models, family: str, suffix: str, batch_size: int | None) -> None:
    track = ref[f"track{suffix}"]
    result = _lift(track, models[family], LiftOptions(batch_size=batch_size), (int(ref["width"]), int(ref["height"])))
    expected = ref[f"{family}_f27_camera{suffix}"]
    assert result.camera.shape == expected.shape == (len(track), 17, 3)
    assert np.abs(result.camera - expected).max() <= TOL
    assert np.all(result.camera[:, 0] == 0)  # root joint
    assert result.complete.all() and result.present.all() and result.mode == "centre" and result.window == 27


@pytest.mark.parametrize("family", ["stcformer", "poseformerv2"])
def test_several_tracks_in_shared_batches_reproduce_the_seeds(ref, models, family: str) -> None:
    """The three fixture clips (40, 1 and 5 frames) in one call: windows of different
    people share forward passes, each still edge-padded at its own clip's ends."""
    suffixes = ("", "_T1", "_T5")
    results = lift_tracks([ref[f"track{s}"] for s in suffixes], int(ref["width"]), int(ref["height"]),
                          models[family], LiftOptions(batch_size=6))  # fmt: skip
    for s, result in zip(suffixes, results):
        assert np.abs(result.camera - ref[f"{family}_f27_camera{s}"]).max() <= TOL


@pytest.mark.parametrize("length", [1, 5, 30])
def test_243_frame_model_matches_the_per_frame_loop(length: int) -> None:
    """Clips shorter than PoseFormerV2's 243-frame window, against the seeds' loop (random weights)."""
    torch.manual_seed(0)
    model = create_lifter("poseformerv2-243-27-27")
    track = _track(length, seed=length)
    ours = _lift(track, model, LiftOptions(batch_size=8)).camera
    assert np.abs(ours - lift_track_per_frame(track, 1280, 720, model)).max() <= TOL


def test_stcformer_81_matches_the_per_frame_loop() -> None:
    torch.manual_seed(0)
    model = create_lifter("stcformer-81")
    track = _track(6, seed=3)
    assert np.abs(_lift(track, model, size=(1920, 1080)).camera - lift_track_per_frame(track, 1920, 1080, model)).max() <= TOL


# --- absences and missing joints ----------------------------------------------------------------


@pytest.mark.parametrize("family", ["stcformer", "poseformerv2"])
def test_an_absence_splits_the_track_into_clips_lifted_as_the_seeds_would(models, family: str) -> None:
    """Each present run is lifted as its own clip: the seeds' loop on that run alone."""
    track = _track(45, seed=2)
    result = _lift(_absent(track, slice(0, 3), slice(20, 24), slice(44, 45)), models[family], LiftOptions(batch_size=6))
    assert result.present.tolist() == [not (i < 3 or 20 <= i < 24 or i == 44) for i in range(45)]
    assert np.isnan(result.camera[~result.present]).all() and np.isfinite(result.camera[result.present]).all()
    assert not result.filled.any() and result.complete.tolist() == result.present.tolist()
    for start, stop in ((3, 20), (24, 44)):
        seeds = lift_track_per_frame(track[start:stop], 1280, 720, models[family])
        assert np.abs(result.camera[start:stop] - seeds).max() <= TOL


def test_missing_joints_are_interpolated_and_flagged() -> None:
    track = np.zeros((5, 17, 2), np.float32)
    track[:, :, 0] = [[10], [20], [30], [40], [50]]  # x = 10, 20, ... in every joint
    track[:, :, 1] = 7
    gappy = track.copy()
    gappy[1:4, 7] = np.nan  # joint 7 missing for three frames: 10 .. 50 -> 20, 30, 40
    gappy[0, 3, 0] = np.nan  # joint 3's x missing in the first frame: holds frame 1's value
    filled, mask = fill_missing(gappy)
    assert filled[:, 7].tolist() == [[10, 7], [20, 7], [30, 7], [40, 7], [50, 7]]
    assert filled[0, 3].tolist() == [20, 7]  # a joint counts only with both coordinates
    assert mask.sum() == 4 and mask[1:4, 7].all() and mask[0, 3]


def test_missing_joints_are_filled_within_their_segment_only(models) -> None:
    """A joint missing next to an absence holds its value from its own segment, and the
    lifted 3D is that of the filled 2D."""
    track = _track(40)
    gappy = _absent(track, slice(20, 25))
    gappy[10:14, 5] = np.nan  # inside the first segment
    gappy[25:27, 9] = np.nan  # at the start of the second segment: nearest value is frame 27's
    result = _lift(gappy, models["stcformer"])
    assert np.isfinite(result.camera[result.present]).all()
    assert result.filled.sum() == 4 + 2 and result.filled[10:14, 5].all() and result.filled[25:27, 9].all()
    assert result.complete.tolist() == [i not in range(10, 14) and i not in range(20, 27) for i in range(40)]
    by_hand = track.copy()
    by_hand[10:14, 5] = track[9, 5] + (track[14, 5] - track[9, 5]) * np.arange(1, 5)[:, None] / 5
    by_hand[25:27, 9] = track[27, 9]
    expected = lift_tracks([by_hand[:20], by_hand[25:]], 1280, 720, models["stcformer"])
    assert np.abs(result.camera[:20] - expected[0].camera).max() <= TOL
    assert np.abs(result.camera[25:] - expected[1].camera).max() <= TOL


def test_joint_never_seen_in_a_segment_is_a_clear_error(models) -> None:
    track = _absent(_track(12), slice(6, 8))
    track[8:, 13] = np.nan  # seen in the first segment only: never bridged across the absence
    with pytest.raises(LiftError, match=r"track 0, frames 8\.\.11: .*joint\(s\) \[13\] are missing in all 4 frames"):
        _lift(track, models["stcformer"])


def test_a_track_never_present_is_all_nan(models) -> None:
    results = lift_tracks([np.full((6, 17, 2), np.nan, np.float32), _track(6)], 1280, 720, models["stcformer"])
    assert np.isnan(results[0].camera).all() and not results[0].present.any()
    assert np.isfinite(results[1].camera).all()
    assert lift_tracks([], 1280, 720, models["stcformer"]) == []


# --- batching across tracks ---------------------------------------------------------------------


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
    result = _lift(_track(50), rec, LiftOptions(batch_size=8))
    assert max(rec.batches) <= 8 and sum(rec.batches) == 2 * 50  # every window once, plus its mirror, no repeats
    assert len(rec.batches) == 13
    rec.batches.clear()
    _lift(_track(50), rec, LiftOptions(batch_size=8, flip=False))
    assert sum(rec.batches) == 50 and max(rec.batches) <= 8
    assert result.camera.shape == (50, 17, 3)


def test_windows_of_every_person_and_segment_share_batches(models) -> None:
    """Three people (one with an absence), 30 + 2 + 13 present frames: 45 windows in
    batches of 4 (with their mirrors, 8) make 12 forward passes, not 8 + 1 + 2 + 2 = 13."""
    rec = _Recorder(models["stcformer"])
    tracks = [_track(30, 1), _track(2, 2), _absent(_track(20, 3), slice(5, 12))]
    lift_tracks(tracks, 1280, 720, rec, LiftOptions(batch_size=8))
    assert sum(rec.batches) == 2 * 45 and len(rec.batches) == 12 and max(rec.batches) == 8


@pytest.mark.parametrize(
    "family,options",
    [
        ("stcformer", LiftOptions()),
        ("stcformer", LiftOptions(batch_size=6)),
        ("stcformer", LiftOptions(mode="seq2seq", batch_size=6)),
        ("stcformer", LiftOptions(mode="seq2seq", overlap=0, flip=False)),
        ("poseformerv2", LiftOptions()),
        ("poseformerv2", LiftOptions(batch_size=4, flip=False)),
    ],
)
def test_lifting_tracks_together_equals_lifting_each_alone(models, family: str, options: LiftOptions) -> None:
    tracks = [
        _track(40, 1),
        _absent(_track(36, 2), slice(0, 3), slice(30, 32)),
        _track(3, 3),
        _absent(_track(25, 4), slice(10, 11), slice(22, 25)),
    ]
    tracks[0][20:23, 4] = np.nan
    together = lift_tracks(tracks, 1280, 720, models[family], options)
    for track, result in zip(tracks, together):
        alone = _lift(track, models[family], options)
        assert np.array_equal(np.isnan(result.camera), np.isnan(alone.camera))
        assert np.nanmax(np.abs(result.camera - alone.camera)) <= TOL
        assert np.array_equal(result.filled, alone.filled) and np.array_equal(result.present, alone.present)


def test_default_batch_sizes() -> None:
    stc27 = create_lifter("stcformer-27")  # 27 frames x 17 joints = 459 tokens per window
    assert windows_per_batch(LiftOptions(), stc27) == 4  # 4096 // 459 = 8 sequences, 4 with their mirrors
    assert windows_per_batch(LiftOptions(flip=False), stc27) == 8
    assert windows_per_batch(LiftOptions(batch_size=7), stc27) == 3


# --- geometry, by hand --------------------------------------------------------------------------


def test_normalize_screen_by_hand() -> None:
    px = np.array([[0, 0], [640, 360], [1280, 720], [320, 0]], np.float32)
    expected = [[-1, -0.5625], [0, 0], [1, 0.5625], [-0.5, -0.5625]]  # h / w = 720 / 1280 = 0.5625
    assert np.allclose(normalize_screen(px, 1280, 720), expected, atol=1e-7)


def test_flip_mirrors_x_and_swaps_sides() -> None:
    x = torch.arange(17 * 2, dtype=torch.float32).view(17, 2)  # joint j = (2j, 2j + 1)
    flipped = flip_horizontal(x)
    assert flipped[0].tolist() == [-0.0, 1.0]  # pelvis stays, x negated
    assert flipped[1].tolist() == [-8.0, 9.0]  # right hip <- left hip (joint 4)
    assert flipped[14].tolist() == [-22.0, 23.0]  # right shoulder <- left shoulder (joint 11)
    assert flipped[7].tolist() == [-14.0, 15.0]  # spine stays
    assert torch.equal(flip_horizontal(flipped), x)


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
    """27 frames, one window: the model's 27 outputs averaged with the mirrored run (the
    seeds' flip written out here with index lists, not with the code under test)."""
    model = models["stcformer"]
    track = _track(27, seed=5)
    result = _lift(track, model, LiftOptions(mode="seq2seq"))
    lr, rl = [4, 5, 6, 11, 12, 13, 1, 2, 3, 14, 15, 16], [1, 2, 3, 14, 15, 16, 4, 5, 6, 11, 12, 13]
    x = (track / 1280 * 2 - np.array([1, 720 / 1280])).astype(np.float32)
    x_flip = x.copy()
    x_flip[..., 0] *= -1
    x_flip[:, lr] = x_flip[:, rl]
    with torch.inference_mode():
        pred, pred_flip = model(torch.from_numpy(x)[None])[0].numpy(), model(torch.from_numpy(x_flip)[None])[0].numpy()
    pred_flip[..., 0] *= -1
    pred_flip[:, lr] = pred_flip[:, rl]
    expected = (pred + pred_flip) / 2
    expected[:, 0] = 0
    assert np.abs(result.camera - expected).max() <= TOL
    assert result.mode == "seq2seq"


@pytest.mark.parametrize("length,overlap", [(5, None), (60, 0), (60, 9), (100, 20)])
def test_seq2seq_covers_every_frame(models, length: int, overlap: int | None) -> None:
    rec = _Recorder(models["stcformer"])
    result = _lift(_track(length), rec, LiftOptions(mode="seq2seq", overlap=overlap, batch_size=4))
    assert result.camera.shape == (length, 17, 3) and np.isfinite(result.camera).all()
    assert np.all(result.camera[:, 0] == 0)
    windows = len(seq2seq_windows(length, 27, 9 if overlap is None else overlap))
    assert sum(rec.batches) == 2 * windows and max(rec.batches) <= 4


def test_seq2seq_stays_close_to_centre_mode_in_overlap_regions(models) -> None:
    """Both are predictions of the same model; with random weights they differ, but by far
    less than the poses themselves (a sanity check that frames are not misaligned)."""
    track = _track(80, seed=7)
    centre = _lift(track, models["stcformer"]).camera
    s2s = _lift(track, models["stcformer"], LiftOptions(mode="seq2seq")).camera
    shifted = np.roll(s2s, 5, axis=0)
    assert np.abs(s2s - centre).mean() < np.abs(shifted - centre).mean()


# --- precision ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family,mode", [("stcformer", "centre"), ("stcformer", "seq2seq"), ("poseformerv2", "centre")])
def test_bf16_autocast_on_the_cpu_stays_close_to_fp32(ref, models, family: str, mode: str) -> None:
    """bf16 autocast on the CPU (fp32 weights), on the fixture checkpoints and clip.

    Measured (lifter units, metres for real checkpoints; the fixture poses span about
    0.2-0.7): STCFormer centre max 7.0e-3 / mean 1.6e-3, seq2seq max 6.9e-3 / mean 1.5e-3;
    PoseFormerV2 centre max 3.1e-3 / mean 5.7e-4. Bounds here: max 1.5e-2, mean 3e-3.
    """
    w, h = int(ref["width"]), int(ref["height"])
    fp32 = _lift(ref["track"], models[family], LiftOptions(mode=mode), (w, h)).camera
    bf16 = _lift(ref["track"], models[family], LiftOptions(mode=mode, precision="bf16"), (w, h)).camera
    err = np.abs(bf16 - fp32)
    assert bf16.dtype == np.float32 and np.all(bf16[:, 0] == 0)
    assert 1e-5 < err.max() < 1.5e-2  # it really ran in bf16, and stayed close
    assert err.mean() < 3e-3
    assert next(models[family].parameters()).dtype == torch.float32  # weights untouched


def test_fp16_needs_cuda(models) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(LiftError, match="fp16 autocast needs a CUDA device; on the CPU use bf16 or fp32"):
        _lift(_track(4), models["stcformer"], LiftOptions(precision="fp16"))


# --- bad inputs and options ---------------------------------------------------------------------


def test_seq2seq_needs_stcformer(models) -> None:
    with pytest.raises(LiftError, match="seq2seq mode needs STCFormer"):
        _lift(_track(30), models["poseformerv2"], LiftOptions(mode="seq2seq"))


@pytest.mark.parametrize(
    "track,size,match",
    [
        (np.zeros((10, 16, 2)), (640, 480), r"2D track 0 must have shape \(T, 17, 2\)"),
        (np.zeros((0, 17, 2)), (640, 480), "2D track 0 has no frames"),
        (np.zeros((4, 17, 2)), (0, 480), "frame size must be positive"),
    ],
)
def test_bad_tracks(models, track: np.ndarray, size: tuple[int, int], match: str) -> None:
    with pytest.raises(LiftError, match=match):
        _lift(track, models["stcformer"], size=size)


def test_bad_options(models) -> None:
    m = models["stcformer"]
    with pytest.raises(LiftError, match="overlap must be in 0..26"):
        _lift(_track(4), m, LiftOptions(mode="seq2seq", overlap=27))
    with pytest.raises(LiftError, match="batch_size must hold at least one window and its flipped copy"):
        _lift(_track(4), m, LiftOptions(batch_size=1))
    with pytest.raises(LiftError, match="unknown lifting mode"):
        _lift(_track(4), m, LiftOptions(mode="middle"))  # type: ignore[arg-type]
    with pytest.raises(LiftError, match="unknown precision 'auto'"):
        _lift(_track(4), m, LiftOptions(precision="auto"))  # type: ignore[arg-type]


def test_progress_bar_runs(models, capsys) -> None:
    _lift(_track(12), models["stcformer"], LiftOptions(progress=True))
    assert "lifting" in capsys.readouterr().err
