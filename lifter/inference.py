"""Lifting a whole clip of one person's 2D keypoints to 3D.

The default protocol is the seeds' (STCFormer / PoseFormerV2 / MHFormer ``demo/vis.py``):
a window centred on every frame, edge-padded at the clip's ends; screen
normalisation ``x / w * 2 - [1, h / w]``; flip test (negate x, swap left and right
joints, run, un-flip, average); root joint set to 0; the CENTRE frame of each window.
Unlike the seeds, many windows and their flipped copies go through the model in one
batch, built on the fly so memory is bounded by the batch, not the clip.

STCFormer also has a seq2seq mode: each window predicts all of its frames, windows
tile the clip with a configurable overlap and overlapping predictions are blended.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import LiftError
from .poseformerv2 import PoseFormerV2
from .registry import LifterModel

NUM_JOINTS = 17
ROOT_JOINT = 0
#: Human3.6M joints on the left / right side of the body.
H36M_LEFT = (4, 5, 6, 11, 12, 13)
H36M_RIGHT = (1, 2, 3, 14, 15, 16)
#: ``flipped[:, j] = pose[:, FLIP_PERMUTATION[j]]`` swaps every left joint with its right twin.
FLIP_PERMUTATION = tuple(
    dict(zip(H36M_LEFT + H36M_RIGHT, H36M_RIGHT + H36M_LEFT)).get(j, j) for j in range(NUM_JOINTS)
)
#: The seeds' display camera: a Human3.6M camera's orientation as a (w, x, y, z) quaternion.
SEED_CAMERA_ROTATION = np.array(
    [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088], dtype=np.float32
)

#: Tokens per forward pass on the CPU when no batch size is given (see LiftOptions.batch_size).
CPU_TOKENS_PER_BATCH = 4096

Mode = Literal["centre", "seq2seq"]
Precision = Literal["fp32", "fp16", "bf16"]
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class LiftOptions:
    """How to lift a clip.

    Attributes:
        mode: ``centre`` (the seeds' protocol, every lifter) or ``seq2seq`` (STCFormer only).
        flip: average with the horizontally flipped input (the seeds do).
        batch_size: sequences per forward pass, flipped copies included; bounds memory.
            ``None`` picks about 4096 tokens per batch on the CPU (2 sequences of 81 frames,
            8 of 27: larger batches only thrash its caches, measured with
            ``bench/bench_lift.py``) and 256 sequences on CUDA.
        overlap: seq2seq only, frames shared by consecutive windows (default a third of the window).
        precision: ``fp32``, or ``fp16`` / ``bf16`` autocast (CUDA only).
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
    """One person's 3D track.

    Attributes:
        camera: ``(T, 17, 3)`` root-relative camera-space 3D in the lifter's units
            (metres for the official Human3.6M checkpoints), root joint at 0.
        filled: ``(T, 17)`` True where the 2D joint was missing (NaN) and interpolated
            in time before lifting.
        mode: the protocol used (``centre`` or ``seq2seq``).
        window: the lifter's window length in frames.
    """

    camera: np.ndarray
    filled: np.ndarray
    mode: str
    window: int

    @property
    def complete(self) -> np.ndarray:
        """``(T,)`` True for frames whose 2D was complete (nothing interpolated)."""
        return ~self.filled.any(axis=1)


def normalize_screen(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels -> the lifters' input space: x in [-1, 1], y scaled by the same factor.

    ``(..., 2)`` pixels -> ``(..., 2)`` float32, ``x / w * 2 - [1, h / w]``.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    return (kp / width * 2 - np.array([1.0, height / width])).astype(np.float32)


def flip_horizontal(pose: torch.Tensor) -> torch.Tensor:
    """Mirror poses ``(..., 17, C)``: negate the x channel and swap left/right joints."""
    out = pose[..., FLIP_PERMUTATION, :].clone()
    out[..., 0] = -out[..., 0]
    return out


def fill_missing(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate missing (non-finite) 2D joints linearly in time.

    Before the first / after the last observation a joint holds its nearest value.

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
    out = track.copy()
    t = np.arange(track.shape[0])
    for j in np.flatnonzero(missing.any(axis=0)):
        seen = ~missing[:, j]
        for c in range(track.shape[-1]):
            out[missing[:, j], j, c] = np.interp(t[missing[:, j]], t[seen], track[seen, j, c])
    return out, missing


def centre_window_indices(centres: torch.Tensor, frames: int, length: int) -> torch.Tensor:
    """``(n,)`` centre frames -> ``(n, frames)`` frame indices, edge-padded (clamped) at the ends."""
    pad = (frames - 1) // 2
    offsets = torch.arange(-pad, frames - pad, device=centres.device)
    return (centres[:, None] + offsets[None, :]).clamp_(0, length - 1)


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


def _tent(frames: int) -> np.ndarray:
    """Blending weight of each window position: highest at the centre, where context is widest."""
    k = np.arange(frames)
    return np.minimum(k + 1, frames - k).astype(np.float32)


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_inputs(track: np.ndarray, width: int, height: int, model: LifterModel, options: LiftOptions) -> None:
    if track.ndim != 3 or track.shape[1:] != (NUM_JOINTS, 2):
        raise LiftError(f"2D track must have shape (T, {NUM_JOINTS}, 2) in Human3.6M order, got {track.shape}")
    if track.shape[0] == 0:
        raise LiftError("2D track has no frames")
    if width <= 0 or height <= 0:
        raise LiftError(f"frame size must be positive, got {width}x{height}")
    if options.mode not in ("centre", "seq2seq"):
        raise LiftError(f"unknown lifting mode {options.mode!r}: use 'centre' or 'seq2seq'")
    if options.mode == "seq2seq" and not model.seq2seq:
        raise LiftError(f"{type(model).__name__} predicts only the centre frame: seq2seq mode needs STCFormer")
    if options.batch_size is not None and options.batch_size < (2 if options.flip else 1):
        raise LiftError(f"batch_size must hold at least one window and its flipped copy, got {options.batch_size}")
    if options.precision != "fp32":
        if options.precision not in _DTYPES:
            raise LiftError(f"unknown precision {options.precision!r}: use fp32, fp16 or bf16")
        if _model_device(model).type != "cuda":
            raise LiftError(f"{options.precision} autocast needs a CUDA device; use fp32 on the CPU")
    if options.overlap is not None and not 0 <= options.overlap < model.num_frames:
        raise LiftError(f"overlap must be in 0..{model.num_frames - 1} frames, got {options.overlap}")


class _Runner:
    """Runs batches of windows through a model with the flip test and autocast."""

    def __init__(self, model: LifterModel, options: LiftOptions, poses: torch.Tensor) -> None:
        self.model, self.options, self.poses = model, options, poses
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
        features = self.model.embed_frames(self._with_flip(self.poses[first : first + span]))
        rows = kept - first
        if self.options.flip:
            rows = torch.cat((rows, rows + span))
        return features[rows]

    def centre(self, centres: torch.Tensor) -> torch.Tensor:
        """``(n,)`` centre frames -> ``(n, 17, 3)`` predictions, root at 0."""
        index = centre_window_indices(centres, self.model.num_frames, self.poses.shape[0])
        with self.autocast:
            batch = self._with_flip(self.poses[index])
            if isinstance(self.model, PoseFormerV2):
                out = self.model.forward_centre(batch, spatial=self._shared_spatial(index))
            else:
                out = self.model.forward_centre(batch)
        return self._merge_flip(out, len(centres))

    def all_frames(self, index: torch.Tensor) -> torch.Tensor:
        """``(n, F)`` window frame indices -> ``(n, F, 17, 3)`` seq2seq predictions, root at 0."""
        with self.autocast:
            out = self.model(self._with_flip(self.poses[index]))
        return self._merge_flip(out, index.shape[0])


@torch.inference_mode()
def lift_track(
    track: np.ndarray,
    width: int,
    height: int,
    model: LifterModel,
    options: LiftOptions | None = None,
) -> Lift3DResult:
    """Lift one person's 2D track to camera-space 3D, one output per input frame.

    Args:
        track: ``(T, 17, 2)`` pixels in Human3.6M joint order; NaN marks missing joints,
            which are interpolated in time first (see :func:`fill_missing`) and flagged.
        width, height: frame size in pixels (the normalisation depends on it).
        model: a lifter from :func:`lifter.checkpoints.load_lifter` (on any device).
        options: protocol and batching, see :class:`LiftOptions`.

    Returns:
        A :class:`Lift3DResult` whose ``camera`` is ``(T, 17, 3)``.
    """
    options = options or LiftOptions()
    track = np.asarray(track)
    _check_inputs(track, width, height, model, options)
    filled_track, filled = fill_missing(track)
    device = _model_device(model)
    poses = torch.from_numpy(normalize_screen(filled_track, width, height)).to(device)
    runner = _Runner(model, options, poses)
    length, frames = poses.shape[0], model.num_frames
    per_batch = windows_per_batch(options, model)
    bar = tqdm(total=length, unit="frame", desc="lifting", disable=not options.progress, leave=False)
    try:
        if options.mode == "centre":
            out = torch.empty(length, NUM_JOINTS, 3, device=device)
            for first in range(0, length, per_batch):
                centres = torch.arange(first, min(first + per_batch, length), device=device)
                out[centres] = runner.centre(centres)
                bar.update(len(centres))
            camera = out.cpu().numpy()
        else:
            camera = _lift_seq2seq(runner, frames, per_batch, options, bar)
    finally:
        bar.close()
    return Lift3DResult(camera=camera.astype(np.float32), filled=filled, mode=options.mode, window=frames)


def _lift_seq2seq(runner: _Runner, frames: int, per_batch: int, options: LiftOptions, bar: tqdm) -> np.ndarray:
    poses = runner.poses
    length = poses.shape[0]
    overlap = options.overlap if options.overlap is not None else frames // 3
    windows = seq2seq_windows(length, frames, overlap)
    weights = torch.from_numpy(_tent(frames)).to(poses.device)
    total = torch.zeros(length, NUM_JOINTS, 3, device=poses.device)
    weight_sum = torch.zeros(length, device=poses.device)
    positions = torch.arange(frames, device=poses.device)
    done = 0
    for first in range(0, len(windows), per_batch):
        chunk = windows[first : first + per_batch]
        starts = torch.tensor([s - o for s, o in chunk], device=poses.device)
        index = (starts[:, None] + positions[None, :]).clamp_(0, length - 1)  # (n, F)
        pred = runner.all_frames(index)  # (n, F, 17, 3)
        # A position counts only if it holds its own frame, not an edge-padding copy.
        real = (starts[:, None] + positions[None, :] >= 0) & (starts[:, None] + positions[None, :] < length)
        w = (weights[None, :] * real).flatten()
        total.index_add_(0, index.flatten(), pred.flatten(0, 1) * w[:, None, None])
        weight_sum.index_add_(0, index.flatten(), w)
        covered = min(length, int(chunk[-1][0]) + frames)
        bar.update(max(0, covered - done))
        done = max(done, covered)
    return (total / weight_sum[:, None, None]).cpu().numpy()


def quaternion_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``(..., 3)`` by the unit quaternion ``q = (w, x, y, z)``."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    qvec = np.broadcast_to(q[1:], v.shape)
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (q[0] * uv + uuv)


def camera_to_world(
    camera: np.ndarray, rotation: np.ndarray = SEED_CAMERA_ROTATION, translation: float | np.ndarray = 0.0
) -> np.ndarray:
    """Camera-space ``(..., 3)`` -> world space (z up for the seeds' camera), float32."""
    return (quaternion_rotate(rotation, camera) + translation).astype(np.float32)


def world_for_display(camera: np.ndarray, rotation: np.ndarray = SEED_CAMERA_ROTATION) -> np.ndarray:
    """The seeds' display pose: ``(T, 17, 3)`` camera space -> world space with each
    frame's lowest joint on the floor (z = 0)."""
    world = camera_to_world(camera, rotation)
    world[..., 2] -= world[..., 2].min(axis=-1, keepdims=True)
    return world


def windows_per_batch(options: LiftOptions, model: LifterModel) -> int:
    """Windows per forward pass: the batch size (see :class:`LiftOptions`) less the flipped copies."""
    size = options.batch_size
    if size is None:
        cuda = _model_device(model).type == "cuda"
        size = 256 if cuda else min(64, max(2, CPU_TOKENS_PER_BATCH // model.tokens_per_window))
    return max(1, size // (2 if options.flip else 1))
