"""Smoothing (demo/motion/smoothing.py) with hand-computed expectations: constants and
lines kept, white noise reduced by the filter's known factor, runs split at absences,
short runs reported, NaN joints contained, presets and ``--smooth`` strings."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from core.errors import UserError
from core.gaps import present_runs
from demo.motion.smoothing import (
    PRESETS,
    SmoothingConfig,
    parse_smoothing,
    smooth_series,
    smooth_track,
    smoothing_preset,
)

FPS = 30.0
SG = SmoothingConfig("savgol", window_s=0.3, polyorder=2)  # 9 frames at 30 fps
EURO = SmoothingConfig("one_euro", min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
ALL = [SG, SmoothingConfig("savgol", window_s=0.3, polyorder=3), EURO, SmoothingConfig("one_euro", beta=0.5, zero_phase=True)]


def _line(t: int, shape: tuple[int, ...] = (17, 2)) -> np.ndarray:
    """Every entry a different straight line in time: value = a + b * frame."""
    n = int(np.prod(shape))
    a, b = np.arange(n, dtype=np.float64) * 3.0, np.linspace(-2.0, 2.0, n)
    return (a + b * np.arange(t)[:, None]).reshape((t, *shape))


@pytest.mark.parametrize("config", ALL, ids=lambda c: c.describe())
def test_a_constant_stays_constant(config: SmoothingConfig) -> None:
    values = np.full((40, 17, 2), 123.5)
    out, notes = smooth_series(values, np.ones(40, bool), FPS, config)
    np.testing.assert_allclose(out, values, atol=1e-9)
    assert notes == []


@pytest.mark.parametrize("polyorder", [1, 2, 3])
def test_savgol_keeps_a_straight_line_to_the_edges(polyorder: int) -> None:
    values = _line(50)
    out, _ = smooth_series(values, np.ones(50, bool), FPS, SmoothingConfig("savgol", window_s=0.3, polyorder=polyorder))
    np.testing.assert_allclose(out, values, atol=1e-9)


def test_window_is_seconds_rounded_to_the_nearest_odd_frame_count() -> None:
    assert SG.window_frames(30) == 9  # 0.3 s * 30 = 9
    assert SG.window_frames(25) == 7  # 7.5 -> the odd numbers 7 and 9 are equally near: 7 ((7.5-1)/2 = 3.25 -> 3)
    assert SG.window_frames(60) == 19  # 18 -> 17 or 19, halves round up
    tiny = 0.01
    assert SmoothingConfig("savgol", window_s=tiny, polyorder=2).window_frames(30) == 5  # at least polyorder + 2, odd
    assert SmoothingConfig("savgol", window_s=tiny, polyorder=3).window_frames(30) == 5
    assert SmoothingConfig("savgol", window_s=tiny, polyorder=4).window_frames(30) == 7


def test_savgol_reduces_white_noise_variance_by_its_centre_coefficient() -> None:
    # SG is a least-squares projection: the output's noise variance is sigma^2 times the centre
    # weight. Quadratic, 9 frames (m = 4): 3 (3m^2 + 3m - 1) / ((2m - 1)(2m + 1)(2m + 3)) = 177/693.
    noise = np.random.default_rng(0).normal(0.0, 1.0, (20000, 4))
    out, _ = smooth_series(noise, np.ones(len(noise), bool), FPS, SG)
    ratio = out[10:-10].var() / noise[10:-10].var()
    assert ratio == pytest.approx(177 / 693, rel=0.03)
    # Degree 0 over 5 frames is a moving average: variance / 5.
    avg, _ = smooth_series(noise, np.ones(len(noise), bool), FPS, SmoothingConfig("savgol", window_s=5 / FPS, polyorder=0))
    assert avg[10:-10].var() / noise[10:-10].var() == pytest.approx(1 / 5, rel=0.03)


def test_one_euro_at_rest_is_a_first_order_low_pass() -> None:
    # beta = 0: y += a (x - y) with a = 1 / (1 + fps / (2 pi fc)); white noise variance * a / (2 - a).
    a = 1.0 / (1.0 + FPS / (2 * math.pi * 1.0))  # 0.17317
    noise = np.random.default_rng(1).normal(0.0, 1.0, (20000, 3))
    out, _ = smooth_series(noise, np.ones(len(noise), bool), FPS, EURO)
    assert out[100:].var() / noise[100:].var() == pytest.approx(a / (2 - a), rel=0.03)


def test_one_euro_opens_its_cutoff_with_speed() -> None:
    # A step of 1 at frame 1. Speed estimate: a_d * (1 * fps) = 0.17317 * 30 = 5.195 units/s;
    # beta 1: cutoff 1 + 5.195 Hz, a = 1 / (1 + 30 / (2 pi 6.195)) = 0.5647, the first output after the step.
    step = np.array([[0.0], [1.0], [1.0]])
    fast, _ = smooth_series(step, np.ones(3, bool), FPS, SmoothingConfig("one_euro", min_cutoff=1.0, beta=1.0, d_cutoff=1.0))
    slow, _ = smooth_series(step, np.ones(3, bool), FPS, EURO)
    assert fast[1, 0] == pytest.approx(0.5647, abs=1e-4)
    assert slow[1, 0] == pytest.approx(0.17317, abs=1e-4)


def test_runs_are_smoothed_apart_and_absent_rows_stay_nan() -> None:
    # Two runs on different lines (one rising, one falling): SG keeps each exactly, so any
    # bleeding across the absence would show.
    present = np.array([True] * 12 + [False] * 3 + [True] * 15)
    values = np.full((30, 17, 2), np.nan)
    values[:12] = _line(12)
    values[15:] = 500.0 - _line(15)
    out, notes = smooth_series(values, present, FPS, SG)
    assert notes == []
    np.testing.assert_allclose(out[:12], values[:12], atol=1e-9)
    np.testing.assert_allclose(out[15:], values[15:], atol=1e-9)
    assert np.isnan(out[12:15]).all()
    assert present_runs(present) == [(0, 12), (15, 30)]


def test_a_run_too_short_for_the_filter_is_left_raw_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(2)
    present = np.array([True] * 20 + [False] * 2 + [True] * 5 + [False] * 3)
    values = np.where(present[:, None, None], rng.normal(0.0, 1.0, (30, 17, 2)), np.nan)
    out, notes = smooth_series(values, present, FPS, SG)
    np.testing.assert_array_equal(out[22:27], values[22:27])  # 5 frames < 9: raw
    assert not np.allclose(out[:20], values[:20])  # the long run was smoothed
    assert notes == ["frames 22-26 (5 frames): shorter than the 9 frames savgol (0.3 s = 9 frames at 30 fps, degree 2) needs; left unsmoothed"]
    with caplog.at_level(logging.WARNING, logger="demo.motion.smoothing"):
        smooth_track(values, present, FPS, SG, track_id=7, what="2D keypoints")
    assert [r.getMessage() for r in caplog.records] == [f"track 7, 2D keypoints: {notes[0]}"]


def test_a_nan_joint_stays_nan_and_spares_its_neighbours() -> None:
    values = _line(30)
    values[10, 3] = np.nan  # one joint lost in one frame
    values[:, 5, 0] = np.nan  # one coordinate lost throughout
    out, _ = smooth_series(values, np.ones(30, bool), FPS, SG)
    assert np.isnan(out[10, 3]).all() and np.isnan(out[:, 5, 0]).all()
    finite = np.isfinite(values)
    # The lost entry is bridged linearly for its neighbours (in float32, core.gaps), and a line stays a line.
    np.testing.assert_allclose(out[finite], _line(30)[finite], atol=1e-5)
    euro, _ = smooth_series(values, np.ones(30, bool), FPS, EURO)
    assert np.isfinite(euro[finite]).all() and np.isnan(euro[~finite]).all()


@pytest.mark.parametrize("shape", [(17, 2), (17, 3), (3,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_and_dtype_are_kept(shape: tuple[int, ...], dtype: type) -> None:
    values = np.random.default_rng(3).normal(0.0, 1.0, (25, *shape)).astype(dtype)
    for config in ALL:
        out, _ = smooth_series(values, np.ones(25, bool), FPS, config)
        assert out.shape == values.shape and out.dtype == dtype


def test_none_returns_the_input_unchanged() -> None:
    values = np.random.default_rng(4).normal(0.0, 1.0, (12, 17, 2))
    values[3:5] = np.nan
    present = np.isfinite(values).all(axis=(1, 2))
    out, notes = smooth_series(values, present, FPS, PRESETS["none"])
    np.testing.assert_array_equal(out, values)
    assert notes == [] and out is not values


def test_presets_and_smooth_strings() -> None:
    assert smoothing_preset("light") is PRESETS["light"]
    assert set(PRESETS) == {"none", "light", "strong"}
    with pytest.raises(UserError, match="unknown smoothing preset 'medium'; choose one of none, light, strong"):
        smoothing_preset("medium")
    assert parse_smoothing("strong") == PRESETS["strong"]
    assert parse_smoothing("savgol:window_s=0.4, polyorder=2") == SmoothingConfig("savgol", window_s=0.4, polyorder=2)
    assert parse_smoothing("one_euro:min_cutoff=1.5,beta=0.01,zero_phase=yes") == SmoothingConfig(
        "one_euro", min_cutoff=1.5, beta=0.01, zero_phase=True
    )
    for bad, message in [
        ("medium", "unknown smoothing 'medium'"),
        ("savgol:window=0.3", "bad smoothing parameter 'window=0.3'"),
        ("savgol:polyorder=two", "smoothing parameter polyorder cannot be 'two'"),
        ("savgol:window_s=-1", "window must be a positive number of seconds"),
        ("one_euro:min_cutoff=0", "min_cutoff must be a positive frequency"),
        ("kalman:q=1", "unknown smoothing method 'kalman'"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_smoothing(bad)


def test_a_bad_present_mask_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="present must be"):
        smooth_series(np.zeros((5, 3)), np.ones(4, bool), FPS, SG)
