"""Temporal smoothing of keypoint series: 2D keypoints before lifting, optionally the 3D
poses and the root trajectory after it.

Two filters, both applied to each run of consecutive present frames on its own (a filter
never reaches across an absence, and absent rows are left as they were, NaN by the
project's convention):

- ``savgol``: Savitzky–Golay (``scipy.signal.savgol_filter``): a least-squares polynomial
  of degree ``polyorder`` fitted in a sliding window, evaluated at the window's centre. It
  is zero-phase (no lag, the whole clip is known: this is an offline tool), linear, and
  leaves polynomials up to ``polyorder`` unchanged, so it removes noise without shrinking
  the motion the way an average does. Near a run's ends the polynomial of the first / last
  window is used (``mode="interp"``). The window is given in seconds, so a preset means the
  same at 25, 30 or 60 fps.
- ``one_euro``: the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a first-order
  low-pass whose cutoff rises with speed, ``cutoff = min_cutoff + beta * |speed|``. It is
  causal (lags); ``zero_phase=True`` runs it forward and then backward over the forward
  output, which cancels the lag.

The presets are Savitzky–Golay, chosen with ``bench/bench_smoothing.py`` (synthetic human
motion plus noise, numbers in the README). The causal One-Euro filter lags so much that its
position error exceeded the raw noise's at 2-5 px and 10 mm; run zero-phase it does well,
but where it distorts fast motion as little as an SG setting does, the SG setting had the
lower errors in nearly every case. SG is also linear and unit-free (one preset serves
pixels and metres), whereas One-Euro's ``beta`` depends on the values' unit.

Shapes: ``values`` is ``(T, ...)`` float, one row per video frame, e.g. ``(T, 17, 2)``
pixels, ``(T, 17, 3)`` or ``(T, 3)`` metres; ``present`` is ``(T,)`` bool. Each entry is
filtered on its own (SG is separable); the One-Euro filter's speed is the norm over the
last axis (a point's velocity), so its cutoff is the same for x, y (and z) of a joint.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np

from core.errors import UserError
from core.gaps import interpolate_gaps, present_runs

log = logging.getLogger(__name__)

Method = Literal["none", "one_euro", "savgol"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class SmoothingConfig:
    """What to smooth with. Durations and frequencies are in seconds and Hz (see
    :meth:`window_frames`), so a setting means the same at any frame rate.

    Attributes:
        method: ``"none"`` (values returned unchanged), ``"savgol"`` or ``"one_euro"``.
        window_s: Savitzky–Golay window in seconds; converted to the nearest odd number of
            frames, at least ``polyorder + 2`` (:meth:`window_frames`).
        polyorder: Savitzky–Golay polynomial degree (0 is a moving average).
        min_cutoff: One-Euro cutoff at rest, Hz.
        beta: One-Euro speed coefficient, Hz per (unit / s), i.e. ``1 / unit`` of the values
            (pixels for 2D, metres for 3D): ``cutoff = min_cutoff + beta * |speed|``.
        d_cutoff: One-Euro cutoff of the speed estimate, Hz.
        zero_phase: One-Euro run forward then backward (cancels its lag).
    """

    method: Method = "none"
    window_s: float = 0.3
    polyorder: int = 2
    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    zero_phase: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"unknown smoothing method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.method == "savgol":
            if not (isinstance(self.polyorder, int) and self.polyorder >= 0):
                raise UserError(f"smoothing polyorder must be a whole number >= 0, got {self.polyorder!r}")
            if not (math.isfinite(self.window_s) and self.window_s > 0):
                raise UserError(f"smoothing window must be a positive number of seconds, got {self.window_s!r}")
        if self.method == "one_euro":
            for name in ("min_cutoff", "d_cutoff"):
                value = getattr(self, name)
                if not (math.isfinite(value) and value > 0):
                    raise UserError(f"smoothing {name} must be a positive frequency in Hz, got {value!r}")
            if not (math.isfinite(self.beta) and self.beta >= 0):
                raise UserError(f"smoothing beta must be >= 0, got {self.beta!r}")

    def window_frames(self, fps: float) -> int:
        """The Savitzky–Golay window in frames at ``fps``: the odd number nearest to
        ``window_s * fps``, and at least ``polyorder + 2`` (a window of ``polyorder + 1``
        frames would fit the samples exactly, i.e. not smooth)."""
        nearest_odd = 2 * math.floor((self.window_s * fps - 1) / 2 + 0.5) + 1
        least = self.polyorder + 2 + (self.polyorder + 2 + 1) % 2  # smallest odd >= polyorder + 2
        return max(nearest_odd, least)

    def min_frames(self, fps: float) -> int:
        """Frames a run needs to be smoothed; shorter runs are left as they are."""
        if self.method == "savgol":
            return self.window_frames(fps)
        if self.method == "one_euro":
            return 2
        return 1

    def describe(self, fps: float | None = None) -> str:
        """One line for logs, e.g. ``savgol (0.2 s = 7 frames at 30 fps, degree 2)``."""
        if self.method == "savgol":
            frames = f" = {self.window_frames(fps)} frames at {fps:g} fps" if fps else ""
            return f"savgol ({self.window_s:g} s{frames}, degree {self.polyorder})"
        if self.method == "one_euro":
            phase = ", zero-phase" if self.zero_phase else ""
            return f"one_euro (min_cutoff {self.min_cutoff:g} Hz, beta {self.beta:g}, d_cutoff {self.d_cutoff:g} Hz{phase})"
        return "none"


#: The ``--smooth`` presets; ``light`` is the default. Chosen with bench/bench_smoothing.py
#: (README, "Smoothing"). At 30 fps ``light`` (9 frames) cuts the position error by about
#: 45 % and the acceleration error 5-6x at 2-5 px and 10-20 mm of noise, with 0.3 px of
#: distortion on a boxer's punches; ``strong`` (21 frames) cuts the acceleration error
#: 8-11x, at the price of rounding off the fastest movements (0.8 px there). An odd degree
#: smooths the interior exactly as the even one below it (a property of Savitzky–Golay) and
#: fits a run's first and last frames better, hence 3 rather than 2. (Degree 4 over 0.7 s
#: beat degree 3 over 0.5 s on acceleration error and lag, at about the same position error.)
PRESETS: dict[str, SmoothingConfig] = {
    "none": SmoothingConfig("none"),
    "light": SmoothingConfig("savgol", window_s=0.3, polyorder=3),
    "strong": SmoothingConfig("savgol", window_s=0.7, polyorder=4),
}
DEFAULT_PRESET = "light"


def smoothing_preset(name: str) -> SmoothingConfig:
    """The preset called ``name``; :class:`UserError` listing the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown smoothing preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def parse_smoothing(spec: str) -> SmoothingConfig:
    """A preset name, or a method with explicit parameters, as typed after ``--smooth``::

        light
        savgol:window_s=0.4,polyorder=2
        one_euro:min_cutoff=1.5,beta=0.01,zero_phase=1
    """
    name, _, params = spec.strip().partition(":")
    if not params:
        if name in PRESETS:
            return PRESETS[name]
        if name not in METHODS:
            raise UserError(f"unknown smoothing {spec!r}; choose one of {', '.join(PRESETS)}, or savgol:window_s=S,polyorder=N or one_euro:min_cutoff=HZ,beta=B")
    base = SmoothingConfig(name)  # an unknown method is reported before its parameters
    values: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, eq, text = (part.strip() for part in item.partition("="))
        if not eq or key not in _PARAMETERS:
            raise UserError(f"bad smoothing parameter {item!r} in {spec!r}; known: {', '.join(_PARAMETERS)}")
        try:
            values[key] = _PARAMETERS[key](text)
        except ValueError:
            raise UserError(f"smoothing parameter {key} cannot be {text!r}") from None
    return replace(base, **values)  # type: ignore[arg-type]


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


_PARAMETERS = {
    "window_s": float, "polyorder": int, "min_cutoff": float, "beta": float, "d_cutoff": float, "zero_phase": _flag,
}  # fmt: skip


def smooth_series(values: np.ndarray, present: np.ndarray, fps: float, config: SmoothingConfig) -> tuple[np.ndarray, list[str]]:
    """Smooth ``values`` in time, each run of present frames on its own.

    Args:
        values: ``(T, ...)`` float, one row per frame (``(T, 17, 2)`` pixels, ``(T, 17, 3)``
            or ``(T, 3)`` metres, ...).
        present: ``(T,)`` bool, the frames that hold values (detected or filled).
        fps: frames per second of the series.
        config: the filter.

    Returns:
        ``(smoothed, notes)``: ``smoothed`` has ``values``' shape and float dtype; absent rows
        are copied unchanged (NaN by convention). A NaN entry inside a present frame (a joint
        the keypointer lost) stays NaN, and is bridged linearly for its neighbours' sake so
        it poisons nothing. ``notes`` has one line per run too short for the filter, which is
        left unsmoothed (e.g. ``frames 10-14 (5 frames): shorter than the 9 frames ...``).
    """
    values = np.asarray(values)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    present = np.asarray(present, dtype=bool)
    if values.ndim < 1 or present.shape != values.shape[:1]:
        raise ValueError(f"present must be (T,) for values (T, ...); got {present.shape} for {values.shape}")
    out = values.astype(dtype, copy=True)
    if config.method == "none":
        return out, []
    fps = float(fps)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")

    need = config.min_frames(fps)
    notes: list[str] = []
    for start, stop in present_runs(present):
        if stop - start < need:
            notes.append(
                f"frames {start}-{stop - 1} ({stop - start} frame{'s' * (stop - start != 1)}): shorter than the "
                f"{need} frames {config.describe(fps)} needs; left unsmoothed"
            )
            continue
        block = values[start:stop].astype(np.float64).reshape(stop - start, -1)
        finite = np.isfinite(block)
        if not finite.all():
            # Bridge lost joints so the filter sees a plausible path, and zero a joint lost for the
            # whole run (scipy refuses NaN); both are put back to NaN below.
            block[~finite] = interpolate_gaps(block, finite)[~finite]  # (float32, but only where NaN goes back)
            block[:, ~finite.any(axis=0)] = 0.0
        smoothed = _filter(block.reshape((stop - start,) + values.shape[1:]), fps, config).reshape(block.shape)
        smoothed[~finite] = np.nan
        out[start:stop] = smoothed.reshape(out[start:stop].shape)
    return out, notes


def smooth_track(
    values: np.ndarray, present: np.ndarray, fps: float, config: SmoothingConfig, *, track_id: int, what: str = "keypoints"
) -> np.ndarray:
    """:func:`smooth_series` for one person, with each note logged as a warning naming the
    track and ``what`` was smoothed (e.g. ``"2D keypoints"``, ``"root trajectory"``)."""
    smoothed, notes = smooth_series(values, present, fps, config)
    for note in notes:
        log.warning("track %d, %s: %s", track_id, what, note)
    return smoothed


def _filter(block: np.ndarray, fps: float, config: SmoothingConfig) -> np.ndarray:
    """One run, ``(L, ...)`` float64 without NaN."""
    if config.method == "savgol":
        from scipy.signal import savgol_filter  # imported here: scipy.signal takes 1 s to import
        return savgol_filter(block, config.window_frames(fps), config.polyorder, axis=0, mode="interp")
    forward = one_euro(block, fps, config.min_cutoff, config.beta, config.d_cutoff)
    if config.zero_phase:
        return one_euro(forward[::-1], fps, config.min_cutoff, config.beta, config.d_cutoff)[::-1].copy()
    return forward


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled at ``fps``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau * fps)


def one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    """The One-Euro filter over time (axis 0) of ``x`` ``(L, ..., D)``, all points at once.

    The speed that opens the cutoff is the norm of each point's velocity over the last axis
    (units per second); a ``(L,)`` series is treated as one 1-D point.
    """
    pts = x.reshape(len(x), -1, x.shape[-1] if x.ndim > 1 else 1)
    out = np.empty_like(pts)
    out[0] = prev = pts[0]
    speed = np.zeros(pts.shape[1:])
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, len(pts)):
        speed = speed + a_d * ((pts[t] - prev) * fps - speed)
        a = _alpha(min_cutoff + beta * np.linalg.norm(speed, axis=-1, keepdims=True), fps)
        out[t] = prev = prev + a * (pts[t] - prev)
    return out.reshape(x.shape)
