"""Top-down 2D keypoints: person boxes -> HRNet crops -> COCO-17 keypoints in image pixels.

The geometry and decoding reproduce the seeds' demos (MHFormer / STCFormer / PoseFormerV2
``demo/lib/hrnet``), which follow the official HRNet test code:

- box ``xyxy`` -> centre and scale: the box is widened or heightened to the crop's aspect
  ratio ``input w / input h``, measured in units of ``pixel_std = 200`` pixels, and padded
  by x1.25 (:func:`box_to_center_scale`);
- crop: the affine map that sends the centre to the crop's centre and ``scale[0] * 200``
  image pixels to the crop's width (rotation 0), applied with ``cv2.warpAffine``,
  ``INTER_LINEAR``, black borders (:func:`crop_transform`, :func:`crop_person`);
- decoding: per heatmap the argmax, moved a quarter heatmap pixel toward the higher
  neighbour on each axis (only strictly inside the map, ``1 < x < W - 1``), a location
  whose maximum is not positive becomes (0, 0), then the inverse crop map at heatmap
  resolution back to image pixels; the score is the heatmap maximum (:func:`decode_heatmaps`).

Colour, as the seeds do it (reproduced by default, :data:`SEED_NORMALIZATION`): frames
are read with OpenCV, i.e. BGR; the BGR crop is scaled to [0, 1] and normalised with the
ImageNet mean/std listed in RGB order, so B gets R's statistics and R gets B's; only then
are channels reversed. The network therefore sees RGB with per-channel
mean (0.406, 0.456, 0.485) and std (0.225, 0.224, 0.229) for (R, G, B). The HRNet
weights were trained (official code with ``COLOR_RGB``, and MMPose) on RGB with the
ordinary ImageNet statistics, :data:`IMAGENET_NORMALIZATION`, which may be chosen instead.

One deliberate difference: the seeds call their box conversion with the *image's*
height and width where the crop's width and height belong, so their aspect ratio is
``image h / image w`` (0.5625 for 1280x720) and the crop covers only 94% of a standing
person's box height. Here the aspect ratio is the crop's (0.75), as in the official
HRNet code; ``box_to_center_scale(..., aspect_ratio=h / w)`` restores the seeds' crops.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

from core.errors import UserError

from .hrnet import HRNet, HRNetConfig

PIXEL_STD = 200.0
BOX_PADDING = 1.25
#: Heatmap maxima must exceed this for the location to count (else it is (0, 0)).
_MIN_PEAK = 0.0

ChannelOrder = Literal["bgr", "rgb"]
_AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``(x / 255 - mean) / std`` in the network's channel order (R, G, B)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: What the seeds' demos feed the network (see the module docstring).
SEED_NORMALIZATION = Normalization(mean=(0.406, 0.456, 0.485), std=(0.225, 0.224, 0.229))
#: What HRNet was trained with.
IMAGENET_NORMALIZATION = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@dataclass(frozen=True)
class Poses2D:
    """The 2D keypoints of the people in one frame.

    Attributes:
        keypoints: ``(n, J, 2)`` float32, (x, y) image pixels, J = 17 COCO keypoints.
        scores: ``(n, J)`` float32 heatmap maxima (about 0..1; higher is surer).
    """

    keypoints: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        k, s = self.keypoints, self.scores
        if k.ndim != 3 or k.shape[2] != 2:
            raise UserError(f"keypoints must have shape (n, joints, 2), got {k.shape}")
        if s.shape != k.shape[:2]:
            raise UserError(f"scores must have shape {k.shape[:2]} to match the keypoints, got {s.shape}")

    def __len__(self) -> int:
        return len(self.keypoints)

    @classmethod
    def empty(cls, num_joints: int = 17) -> Poses2D:
        return cls(np.zeros((0, num_joints, 2), np.float32), np.zeros((0, num_joints), np.float32))


# --- geometry -----------------------------------------------------------------------------


def check_boxes(boxes: np.ndarray, where: str = "boxes") -> np.ndarray:
    """``(n, 4)`` xyxy pixel boxes as float64; a clear error for other shapes or empty boxes."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise UserError(f"{where} must have shape (n, 4) as x1, y1, x2, y2 pixels, got {arr.shape}")
    arr = arr[:, :4]
    bad = ~np.isfinite(arr).all(axis=1) | (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        raise UserError(f"{where}: box {arr[bad][0].tolist()} is not finite with x2 > x1 and y2 > y1")
    return arr


def box_to_center_scale(
    boxes: np.ndarray,
    input_size: tuple[int, int],
    *,
    padding: float = BOX_PADDING,
    aspect_ratio: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes -> the crop regions the network sees.

    Args:
        boxes: ``(n, 4)`` x1, y1, x2, y2 in image pixels.
        input_size: crop size ``(w, h)`` in pixels.
        padding: growth factor of the region around the box.
        aspect_ratio: width / height of the region; default the crop's ``w / h``.

    Returns:
        ``centers (n, 2)`` pixels and ``scales (n, 2)`` region (width, height) in units of
        200 pixels, both float32.
    """
    boxes = check_boxes(boxes)
    aspect = input_size[0] / input_size[1] if aspect_ratio is None else aspect_ratio
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    centers = np.stack([boxes[:, 0] + w * 0.5, boxes[:, 1] + h * 0.5], axis=1)
    # Grow the short side so the region has the crop's aspect; never shrink the box.
    h_fit = np.where(w > aspect * h, w / aspect, h)
    w_fit = np.where(w < aspect * h, h * aspect, w)
    scales = np.stack([w_fit, h_fit], axis=1) / PIXEL_STD * padding
    return centers.astype(np.float32), scales.astype(np.float32)


def crop_transform(
    center: np.ndarray, scale: np.ndarray, output_size: tuple[int, int], *, inverse: bool = False
) -> np.ndarray:
    """``(2, 3)`` float64 affine map from image pixels to crop pixels (or back).

    ``center`` (2,) pixels maps to the middle of an ``output_size`` (w, h) crop and
    ``scale[0] * 200`` pixels to its width; the same factor applies vertically (the region
    already has the crop's aspect). Solved, as the seeds' ``get_affine_transform`` does,
    from three point pairs rounded to float32, so crops match theirs (identically on
    ``keypoints_ref.npz``) rather than differing in cv2's 1/32-pixel interpolation steps.
    """
    def triangle(middle: np.ndarray, half_width: np.float32) -> np.ndarray:
        # The middle, a point half a width above it, and one half a width left of that.
        offsets = np.array([[0, 0], [0, -half_width], [-half_width, -half_width]], np.float32)
        return (middle.astype(np.float32) + offsets).astype(np.float32)

    out_w, out_h = float(output_size[0]), float(output_size[1])
    region_w = np.float32(np.asarray(scale, dtype=np.float32)[0] * np.float32(PIXEL_STD))
    src = triangle(np.asarray(center, dtype=np.float32), region_w * np.float32(0.5))
    dst = triangle(np.array([out_w * 0.5, out_h * 0.5], np.float32), np.float32(out_w * 0.5))
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


def crop_person(frame: np.ndarray, center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The ``(h, w, C)`` crop of ``frame`` (H, W, C) around one person, same dtype and channel order."""
    matrix = crop_transform(center, scale, input_size)
    return cv2.warpAffine(frame, matrix, (int(input_size[0]), int(input_size[1])), flags=cv2.INTER_LINEAR)


# --- decoding -----------------------------------------------------------------------------


def decode_heatmaps(
    heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps -> keypoints in image pixels.

    Args:
        heatmaps: ``(n, J, h, w)`` network output.
        centers: ``(n, 2)`` crop centres, pixels.
        scales: ``(n, 2)`` crop scales, units of 200 pixels.

    Returns:
        ``keypoints (n, J, 2)`` float32 image pixels and ``scores (n, J)`` float32 heatmap maxima.
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, h * w)
    idx = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    px, py = idx % w, idx // w
    coords = np.stack([px, py], axis=-1).astype(np.float32)
    coords[scores <= _MIN_PEAK] = 0.0
    px, py = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
    # The seeds' bound is strict on both ends, so column/row 1 is never refined either.
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    pxc, pyc = np.clip(px, 1, w - 2), np.clip(py, 1, h - 2)
    n_idx, j_idx = np.ogrid[:n, :j]
    dx = heatmaps[n_idx, j_idx, pyc, pxc + 1] - heatmaps[n_idx, j_idx, pyc, pxc - 1]
    dy = heatmaps[n_idx, j_idx, pyc + 1, pxc] - heatmaps[n_idx, j_idx, pyc - 1, pxc]
    shift = np.stack([np.sign(dx), np.sign(dy)], axis=-1).astype(np.float32) * np.float32(0.25)
    coords = np.where(inside[..., None], coords + shift, coords)
    keypoints = np.empty((n, j, 2), np.float32)
    for i in range(n):
        inv = crop_transform(centers[i], scales[i], (w, h), inverse=True)
        keypoints[i] = coords[i].astype(np.float64) @ inv[:, :2].T + inv[:, 2]
    return keypoints, scores.astype(np.float32)


# --- batched estimation ---------------------------------------------------------------------


@dataclass
class _Pending:
    """Crops waiting for the network, with where their results go."""

    crops: list[np.ndarray]
    centers: list[np.ndarray]
    scales: list[np.ndarray]
    slots: list[tuple[int, int]]  # (frame index, person index)


class TopDownEstimator:
    """COCO-17 keypoints of boxed people in many frames, crops batched across frames.

    Args:
        model: an HRNet (moved to ``device`` and put in eval mode here).
        config: its config; ``config.input_size`` is the crop size.
        device: where the network runs.
        batch_size: crops per forward pass, from any number of frames; bounds memory.
            ``None``: 4 on the CPU (bigger batches only thrash its caches: HRNet-W48 ran at
            2.05 crops/s with 4, 1.8 with 32, ``bench/bench_pose2d.py``), 64 on CUDA.
        precision: ``fp32``, ``bf16`` (autocast, CPU or CUDA) or ``fp16`` (autocast, CUDA
            only). Reduced precision also stores the network channels-last, the layout
            the convolution kernels are fastest with.
        normalization: input statistics; default the seeds' (see the module docstring).
        channel_order: channel order of the frames given (``bgr`` as OpenCV reads them).
        padding: box growth factor (1.25 as in the seeds).
    """

    def __init__(
        self,
        model: HRNet,
        config: HRNetConfig,
        device: str | torch.device = "cpu",
        *,
        batch_size: int | None = None,
        precision: str = "fp32",
        normalization: Normalization = SEED_NORMALIZATION,
        channel_order: ChannelOrder = "bgr",
        padding: float = BOX_PADDING,
    ) -> None:
        self.device = torch.device(device)
        if batch_size is None:
            batch_size = 64 if self.device.type == "cuda" else 4
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1 crop, got {batch_size}")
        if precision not in _AUTOCAST:
            raise UserError(f"unknown precision {precision!r}: use fp32, bf16 or fp16")
        if precision == "fp16" and self.device.type != "cuda":
            raise UserError(f"fp16 autocast needs a CUDA device, not {self.device}; use bf16 or fp32 on the CPU")
        if channel_order not in ("bgr", "rgb"):
            raise UserError(f"unknown channel order {channel_order!r}: use 'bgr' or 'rgb'")
        self.model = model.to(self.device).eval()
        if precision != "fp32":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.config = config
        self.batch_size = batch_size
        self.precision = precision
        self.crop_seconds = 0.0  # spent cutting crops out of frames (the rest is the network)
        self.channel_order = channel_order
        self.padding = padding
        shape = (1, 3, 1, 1)
        self._mean = torch.tensor(normalization.mean, dtype=torch.float32, device=self.device).view(shape)
        self._std = torch.tensor(normalization.std, dtype=torch.float32, device=self.device).view(shape)

    def estimate_frame(self, frame: np.ndarray, boxes: np.ndarray) -> Poses2D:
        """Keypoints of the people in ``boxes`` ``(n, 4)`` xyxy pixels of one ``(H, W, 3)`` uint8 frame."""
        return self.estimate([frame], [boxes])[0]

    def estimate(self, frames: Iterable[np.ndarray], boxes: Iterable[np.ndarray]) -> list[Poses2D]:
        """Keypoints of every boxed person in every frame.

        Args:
            frames: ``(H, W, 3)`` uint8 images in ``channel_order``; may be a generator,
                only ``batch_size`` crops are held at a time.
            boxes: per frame, ``(n_i, 4)`` x1, y1, x2, y2 pixels; ``n_i`` may be 0.

        Returns:
            One :class:`Poses2D` per frame, people in box order.
        """
        keypoints: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        pending = _Pending([], [], [], [])
        j = self.config.num_joints
        box_lists = iter(boxes)
        for f, frame in enumerate(frames):
            frame_boxes = next(box_lists, None)
            if frame_boxes is None:
                raise UserError(f"boxes were given for {f} frames, but there are more frames")
            frame = self._check_frame(frame, f)
            centers, scales = box_to_center_scale(
                check_boxes(frame_boxes, f"boxes of frame {f}"), self.config.input_size, padding=self.padding
            )
            # Filled in when the batch holding each person's crop has run.
            keypoints.append(np.empty((len(centers), j, 2), np.float32))
            scores.append(np.empty((len(centers), j), np.float32))
            for p, (center, scale) in enumerate(zip(centers, scales)):
                start = time.perf_counter()
                pending.crops.append(crop_person(frame, center, scale, self.config.input_size))
                self.crop_seconds += time.perf_counter() - start
                pending.centers.append(center)
                pending.scales.append(scale)
                pending.slots.append((f, p))
                if len(pending.crops) == self.batch_size:
                    self._flush(pending, keypoints, scores)
        if next(box_lists, None) is not None:
            raise UserError(f"boxes were given for more frames than the {len(keypoints)} frames")
        self._flush(pending, keypoints, scores)
        return [Poses2D(k, s) for k, s in zip(keypoints, scores)]

    @staticmethod
    def _check_frame(frame: np.ndarray, index: int) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise UserError(f"frame {index} must be an (H, W, 3) uint8 image, got {frame.shape} {frame.dtype}")
        return frame

    def _flush(self, pending: _Pending, keypoints: list[np.ndarray], scores: list[np.ndarray]) -> None:
        """Run the waiting crops through the network once and file their results."""
        if not pending.crops:
            return
        heatmaps = self.heatmaps(np.stack(pending.crops))
        kpts, conf = decode_heatmaps(heatmaps, np.stack(pending.centers), np.stack(pending.scales))
        for (f, p), k, s in zip(pending.slots, kpts, conf):
            keypoints[f][p] = k
            scores[f][p] = s
        for items in (pending.crops, pending.centers, pending.scales, pending.slots):
            items.clear()

    @torch.inference_mode()
    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """``(B, h, w, 3)`` uint8 crops in ``channel_order`` -> ``(B, J, h/4, w/4)`` float32 heatmaps."""
        # uint8 crosses to the device: a quarter of the bytes of float32.
        x = torch.from_numpy(np.ascontiguousarray(crops))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if self.channel_order == "bgr":
            x = x.flip(1)
        x = (x - self._mean) / self._std
        dtype = _AUTOCAST[self.precision]
        if dtype is not None:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.model(x)
        return out.float().cpu().numpy()


__all__ = [
    "IMAGENET_NORMALIZATION",
    "SEED_NORMALIZATION",
    "Normalization",
    "Poses2D",
    "TopDownEstimator",
    "box_to_center_scale",
    "check_boxes",
    "crop_person",
    "crop_transform",
    "decode_heatmaps",
]
