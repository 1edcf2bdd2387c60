"""Lifting people's 2D keypoint tracks to 3D: the one entry point is :func:`lift_tracks`.

The default protocol is the seeds' (STCFormer / PoseFormerV2 / MHFormer ``demo/vis.py``):
a window centred on every frame, edge-padded at the clip's ends; screen
normalisation ``x / w * 2 - [1, h / w]``; flip test (negate x, swap left and right
joints, run, un-flip, average); root joint set to 0; the CENTRE frame of each window.
Unlike the seeds, many windows and their flipped copies go through the model in one
batch, built on the fly so memory is bounded by the batch, not the clip; the windows of
every track and segment share those batches.

STCFormer also has a seq2seq mode: each window predicts all of its frames, windows
tile a clip with a configurable overlap and overlapping predictions are blended.

Absences and missing joints:

- a frame where every joint is missing (non-finite) is an ABSENCE: it splits its track
  into segments, each lifted as a clip of its own (edge-padded at its own ends), so an
  absence is never bridged by invented motion. Absent frames are NaN in the 3D.
- a joint missing in a frame where others are present is interpolated linearly in time
  within its segment (see :func:`fill_missing`) and flagged in ``filled``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from core.errors import LiftError
from core.gaps import interpolate_gaps, present_runs
from core.joints import H36M_FLIP_PERMUTATION, H36M_JOINTS, H36M_ROOT
from core.runtime import cpu_has_native_bf16

from .engines import LifterCalls
from .registry import LifterModel

log = logging.getLogger(__name__)

NUM_JOINTS = len(H36M_JOINTS)
ROOT_JOINT = H36M_ROOT
#: Tokens per forward pass on the CPU when no batch size is given (see LiftOptions.batch_size).
CPU_TOKENS_PER_BATCH = 4096

Mode = Literal["centre", "seq2seq"]
Precision = Literal["fp32", "bf16", "fp16"]
MODES: tuple[str, ...] = ("centre", "seq2seq")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class LiftOptions:
    """How to lift.

    Attributes:
        mode: ``centre`` (the seeds' protocol, every lifter) or ``seq2seq`` (STCFormer only).
        flip: average with the horizontally flipped input (the seeds do).
        batch_size: sequences per forward pass, flipped copies included; bounds memory.
            ``None`` picks about 4096 tokens per batch on the CPU (2 sequences of 81 frames,
            8 of 27: larger batches only thrash its caches, measured with
            ``bench/bench_lift.py``) and 256 sequences on CUDA.
        overlap: seq2seq only, frames shared by consecutive windows (default a third of the window).
        precision: ``fp32``; ``bf16`` autocast (CPU or CUDA; on CPUs without native bf16
            it is emulated, several times slower than fp32); ``fp16`` autocast (CUDA only). The
            weights stay fp32. ``auto`` is resolved by the command lines
            (:func:`core.runtime.resolve_precision`), not here.
        progress: show a progress bar over frames.
    """

    mode: Mode = "centre"
    flip: bool = True
    batch_size: int | None = None
    overlap: int | None = None
    precision: Precision = "fp32"
    progress: bool = False


@dataclass
class Lift3DResult:
    """One person's 3D track, one row per input frame.

    Attributes:
        camera: ``(T, 17, 3)`` float32 root-relative camera-space 3D in the lifter's units
            (metres for the official Human3.6M checkpoints), root joint at 0; NaN in
            absent frames.
        filled: ``(T, 17)`` True where the 2D joint was missing in a present frame and
            interpolated in time before lifting (False in absent frames).
        present: ``(T,)`` True where the frame had at least one 2D joint (was lifted).
        mode: the protocol used (``centre`` or ``seq2seq``).
        window: the lifter's window length in frames.
    """

    camera: np.ndarray
    filled: np.ndarray
    present: np.ndarray
    mode: str
    window: int

    @property
    def complete(self) -> np.ndarray:
        """``(T,)`` True for present frames whose 2D was complete (nothing interpolated)."""
        return self.present & ~self.filled.any(axis=1)


def normalize_screen(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels -> the lifters' input space: x in [-1, 1], y scaled by the same factor.

    ``(..., 2)`` pixels -> ``(..., 2)`` float32, ``x / w * 2 - [1, h / w]``.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    return (kp / width * 2 - np.array([1.0, height / width])).astype(np.float32)


def flip_horizontal(pose: torch.Tensor) -> torch.Tensor:
    """Mirror poses ``(..., 17, C)``: negate the x channel and swap left/right joints."""
    out = pose[..., H36M_FLIP_PERMUTATION, :].clone()
    out[..., 0] = -out[..., 0]
    return out


def fill_missing(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate missing (non-finite) 2D joints linearly in time.

    Before the first / after the last observation a joint holds its nearest value.
    :func:`lift_tracks` applies it to each present segment of a track.

    Args:
        track: ``(T, 17, 2)`` pixels, NaN where a joint is missing.

    Returns:
        ``(T, 17, 2)`` float32 without NaN, and the ``(T, 17)`` mask of filled joints.

    Raises:
        LiftError: if some joint is never observed.
    """
    track = np.asarray(track, dtype=np.float32)
    missing = ~np.isfinite(track).all(axis=-1)  # (T, J): a joint counts only with both coordinates
    if not missing.any():
        return track, missing
    never = np.flatnonzero(missing.all(axis=0))
    if never.size:
        raise LiftError(
            f"no 2D keypoints to lift: joint(s) {never.tolist()} are missing in all {track.shape[0]} frames"
        )
    return interpolate_gaps(track, ~missing), missing


def seq2seq_windows(length: int, frames: int, overlap: int) -> list[tuple[int, int]]:
    """Tile ``length`` frames with windows of ``frames``: ``(start, offset)`` pairs.

    ``start`` is the first clip frame of the window; ``offset`` the window position of
    the first real frame (non-zero only when the clip is shorter than the window, which
    is then centred and edge-padded). The last window is aligned to the clip's end.
    """
    if length <= frames:
        return [(0, (frames - length) // 2)]
    stride = frames - overlap
    starts = list(range(0, length - frames + 1, stride))
    if starts[-1] != length - frames:
        starts.append(length - frames)
    return [(s, 0) for s in starts]


def windows_per_batch(options: LiftOptions, model: LifterModel) -> int:
    """Windows per forward pass: the batch size (see :class:`LiftOptions`) less the flipped copies."""
    size = options.batch_size
    if size is None:
        cuda = _model_device(model).type == "cuda"
        size = 256 if cuda else min(64, max(2, CPU_TOKENS_PER_BATCH // model.tokens_per_window))
    return max(1, size // (2 if options.flip else 1))


def _tent(frames: int) -> np.ndarray:
    """Blending weight of each window position: highest at the centre, where context is widest."""
    k = np.arange(frames)
    return np.minimum(k + 1, frames - k).astype(np.float32)


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_options(model: LifterModel, options: LiftOptions) -> None:
    if options.mode not in MODES:
        raise LiftError(f"unknown lifting mode {options.mode!r}: use 'centre' or 'seq2seq'")
    if options.mode == "seq2seq" and not model.seq2seq:
        raise LiftError(f"{type(model).__name__} predicts only the centre frame: seq2seq mode needs STCFormer")
    if options.batch_size is not None and options.batch_size < (2 if options.flip else 1):
        raise LiftError(f"batch_size must hold at least one window and its flipped copy, got {options.batch_size}")
    if options.precision not in ("fp32", *_DTYPES):
        raise LiftError(f"unknown precision {options.precision!r}: use fp32, bf16 or fp16")
    if options.precision == "fp16" and _model_device(model).type != "cuda":
        raise LiftError("fp16 autocast needs a CUDA device; on the CPU use bf16 or fp32")
    if options.overlap is not None and not 0 <= options.overlap < model.num_frames:
        raise LiftError(f"overlap must be in 0..{model.num_frames - 1} frames, got {options.overlap}")
    if options.precision == "bf16" and _model_device(model).type == "cpu" and not cpu_has_native_bf16():
        log.warning("bf16 on a CPU without native bf16 (AVX512-BF16 or AMX) is emulated: lifting runs "
                    "several times slower than in fp32")  # fmt: skip


@dataclass(frozen=True)
class _Segment:
    """A run of present frames of one track, and where it lies in the concatenated input."""

    track: int
    start: int  # first frame in the track
    stop: int  # one past the last
    at: int  # its first frame's row in the concatenation of every segment

    @property
    def length(self) -> int:
        return self.stop - self.start


class _Clips:
    """Every present segment of every track, filled and normalised, in one ``(N, 17, 2)`` array."""

    def __init__(self, tracks: Sequence[np.ndarray], width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise LiftError(f"frame size must be positive, got {width}x{height}")
        self.lengths: list[int] = []
        self.filled: list[np.ndarray] = []
        self.segments: list[_Segment] = []
        parts: list[np.ndarray] = []
        at = 0
        for i, raw in enumerate(tracks):
            track = np.asarray(raw, dtype=np.float32)
            if track.ndim != 3 or track.shape[1:] != (NUM_JOINTS, 2):
                raise LiftError(
                    f"2D track {i} must have shape (T, {NUM_JOINTS}, 2) in Human3.6M order, got {track.shape}"
                )
            if track.shape[0] == 0:
                raise LiftError(f"2D track {i} has no frames")
            missing = ~np.isfinite(track).all(axis=-1)  # (T, J)
            filled = np.zeros_like(missing)
            for start, stop in present_runs(~missing.all(axis=1)):
                try:
                    part, filled[start:stop] = fill_missing(track[start:stop])
                except LiftError as e:
                    raise LiftError(f"track {i}, frames {start}..{stop - 1}: {e}") from None
                parts.append(normalize_screen(part, width, height))
                self.segments.append(_Segment(i, start, stop, at))
                at += stop - start
            self.lengths.append(track.shape[0])
            self.filled.append(filled)
        self.poses = np.concatenate(parts) if parts else np.zeros((0, NUM_JOINTS, 2), np.float32)

    def split(self, flat: np.ndarray, mode: str, window: int) -> list[Lift3DResult]:
        """``(N, 17, 3)`` predictions of the concatenation -> one result per track."""
        cameras = [np.full((n, NUM_JOINTS, 3), np.nan, np.float32) for n in self.lengths]
        present = [np.zeros(n, bool) for n in self.lengths]
        for s in self.segments:
            cameras[s.track][s.start : s.stop] = flat[s.at : s.at + s.length]
            present[s.track][s.start : s.stop] = True
        return [Lift3DResult(c, f, p, mode, window) for c, f, p in zip(cameras, self.filled, present)]


class _Runner:
    """Runs batches of windows through a model with the flip test and autocast.

    Windows are rows of ``index``: frame indices into ``poses``, the concatenation of every
    segment; each window stays inside its own segment.
    """

    def __init__(self, model: LifterModel, options: LiftOptions, poses: torch.Tensor, calls: LifterCalls) -> None:
        self.model, self.options, self.poses, self.calls = model, options, poses, calls
        self.autocast = torch.autocast(
            device_type=poses.device.type, dtype=_DTYPES.get(options.precision), enabled=options.precision != "fp32"
        )

    def _with_flip(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, flip_horizontal(x))) if self.options.flip else x

    def _merge_flip(self, out: torch.Tensor, n: int) -> torch.Tensor:
        out = out.float()
        if self.options.flip:
            out = (out[:n] + flip_horizontal(out[n:])) / 2
        out[..., ROOT_JOINT, :] = 0
        return out

    def _shared_spatial(self, index: torch.Tensor) -> torch.Tensor:
        """PoseFormerV2's per-frame spatial features for every window, each distinct frame
        (and its mirror image) embedded once instead of once per window containing it."""
        kept = index[:, self.model.kept]  # (n, frames_kept)
        first = int(kept.min())
        span = int(kept.max()) + 1 - first
        features = self.calls.embed(self._with_flip(self.poses[first : first + span]))
        rows = kept - first
        if self.options.flip:
            rows = torch.cat((rows, rows + span))
        return features[rows]

    def centre(self, index: torch.Tensor) -> torch.Tensor:
        """``(n, F)`` window frame indices -> ``(n, 17, 3)`` centre-frame predictions, root at 0."""
        with self.autocast:
            batch = self._with_flip(self.poses[index])
            if self.calls.shares_spatial:
                out = self.calls.centre_shared(batch, self._shared_spatial(index))
            else:
                out = self.calls.centre(batch)
        return self._merge_flip(out, index.shape[0])

    def all_frames(self, index: torch.Tensor) -> torch.Tensor:
        """``(n, F)`` window frame indices -> ``(n, F, 17, 3)`` seq2seq predictions, root at 0."""
        with self.autocast:
            out = self.calls.all_frames(self._with_flip(self.poses[index]))
        return self._merge_flip(out, index.shape[0])


@torch.inference_mode()
def lift_tracks(
    tracks: Sequence[np.ndarray],
    width: int,
    height: int,
    model: LifterModel,
    options: LiftOptions | None = None,
    *,
    calls: LifterCalls | None = None,
) -> list[Lift3DResult]:
    """Lift people's 2D tracks to camera-space 3D, one output row per input frame.

    Each track is split at its absences (frames with no finite joint) into segments that
    are lifted as separate clips; joints missing inside a present frame are interpolated
    in time within their segment and flagged (see the module docstring). The windows of
    every segment of every track go through the model together, in batches of
    :func:`windows_per_batch`; the numbers are those of lifting each segment on its own.

    Args:
        tracks: ``(T_i, 17, 2)`` pixels per person in Human3.6M joint order (lengths may
            differ); NaN marks missing joints, an all-NaN frame an absence.
        width, height: frame size in pixels (the normalisation depends on it).
        model: a lifter from :func:`lifter.checkpoints.load_lifter` (on any device).
        options: protocol, batching and precision, see :class:`LiftOptions`.
        calls: the model's entry points on an execution backend
            (:class:`lifter.engines.LifterCalls`); default PyTorch eager.

    Returns:
        One :class:`Lift3DResult` per track, in order; ``camera`` is NaN in absent frames.

    Raises:
        LiftError: a track of the wrong shape or with no frames, a joint never observed
            in one of the segments, or options the model cannot run with.
    """
    options = options or LiftOptions()
    _check_options(model, options)
    clips = _Clips(tracks, width, height)
    device = _model_device(model)
    runner = _Runner(model, options, torch.from_numpy(clips.poses).to(device), calls or LifterCalls(model))
    # Each frame's segment bounds in the concatenation: windows are edge-padded at them.
    bounds = torch.zeros(len(clips.poses), 2, dtype=torch.long)
    for s in clips.segments:
        bounds[s.at : s.at + s.length] = torch.tensor([s.at, s.at + s.length - 1])
    bounds = bounds.to(device)
    frames = model.num_frames
    per_batch = windows_per_batch(options, model)
    with tqdm(total=len(clips.poses), unit="frame", desc="lifting", disable=not options.progress, leave=False) as bar:
        if options.mode == "centre":
            flat = _lift_centre(runner, bounds, frames, per_batch, bar)
        else:
            flat = _lift_seq2seq(runner, clips.segments, bounds, frames, per_batch, options, bar)
    return clips.split(flat, options.mode, frames)


def _lift_centre(runner: _Runner, bounds: torch.Tensor, frames: int, per_batch: int, bar: tqdm) -> np.ndarray:
    """Every frame of the concatenation as the centre of a window edge-padded at its segment's ends."""
    length, device = runner.poses.shape[0], runner.poses.device
    pad = (frames - 1) // 2
    offsets = torch.arange(-pad, frames - pad, device=device)
    out = torch.empty(length, NUM_JOINTS, 3, device=device)
    for first in range(0, length, per_batch):
        centres = torch.arange(first, min(first + per_batch, length), device=device)
        lo, hi = bounds[centres, :1], bounds[centres, 1:]
        index = torch.minimum(torch.maximum(centres[:, None] + offsets[None, :], lo), hi)  # (n, F)
        out[centres] = runner.centre(index)
        bar.update(len(centres))
    return out.cpu().numpy()


def _lift_seq2seq(
    runner: _Runner,
    segments: list[_Segment],
    bounds: torch.Tensor,
    frames: int,
    per_batch: int,
    options: LiftOptions,
    bar: tqdm,
) -> np.ndarray:
    """Windows tiling every segment, blended where they overlap."""
    poses = runner.poses
    length, device = poses.shape[0], poses.device
    overlap = options.overlap if options.overlap is not None else frames // 3
    # The unclamped first row of every window in the concatenation (before a short clip's padding).
    windows = [(s, start - offset) for s in segments for start, offset in seq2seq_windows(s.length, frames, overlap)]
    firsts = [s.at + start for s, start in windows]
    anchors = [s.at for s, _ in windows]
    weights = torch.from_numpy(_tent(frames)).to(device)
    total = torch.zeros(length, NUM_JOINTS, 3, device=device)
    weight_sum = torch.zeros(length, device=device)
    positions = torch.arange(frames, device=device)
    done = 0
    for first in range(0, len(firsts), per_batch):
        rows = torch.tensor(firsts[first : first + per_batch], device=device)[:, None] + positions[None, :]  # (n, F)
        lo, hi = bounds[torch.tensor(anchors[first : first + per_batch], device=device)].unbind(1)
        index = torch.minimum(torch.maximum(rows, lo[:, None]), hi[:, None])
        pred = runner.all_frames(index)  # (n, F, 17, 3)
        # A position counts only if it holds its own frame, not an edge-padding copy.
        w = (weights[None, :] * (rows == index)).flatten()
        total.index_add_(0, index.flatten(), pred.flatten(0, 1) * w[:, None, None])
        weight_sum.index_add_(0, index.flatten(), w)
        last, start = windows[min(first + per_batch, len(windows)) - 1]
        covered = last.at + min(last.length, start + frames)
        bar.update(max(0, covered - done))
        done = max(done, covered)
    return (total / weight_sum[:, None, None]).cpu().numpy()
