"""Top-down 2D keypoints: person boxes -> crops -> COCO-17 keypoints in image pixels, for
both 2D families: :class:`TopDownEstimator` batches the crops of many frames through one
network on any backend; a codec holds each family's conventions (:class:`HeatmapCodec`
for HRNet, below; :class:`SimCCCodec` for RTMPose, whose geometry and decoding are
MMPose's, :mod:`demo.pose2d.simcc`).

HRNet's conventions:

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
from typing import Literal, Union

import cv2
import numpy as np
import torch
from torch import nn

from core.backends import Engine, ExportSpec, compile_module
from core.backends.engines import UNREPEATABLE
from core.errors import UserError

from . import simcc
from .hrnet import HRNet, HRNetConfig
from .rtmpose import RTMPose, RTMPoseConfig

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


# --- the two families' conventions -------------------------------------------------------


class NormalisedInput(nn.Module):
    """``(B, h, w, 3)`` uint8 crops -> the keypoint network's outputs.

    The normalisation is part of the module, so every backend converts it with the
    network and takes the crops' bytes (a quarter of float32's). Operation order is the
    PyTorch path's: float, ``/ divisor`` (skipped when 1), channel reversal, ``(x - mean) / std``.
    """

    def __init__(
        self,
        net: nn.Module,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        divisor: float,
        reverse_channels: bool,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.divisor, self.reverse_channels, self.channels_last = divisor, reverse_channels, channels_last

    def forward(self, crops: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = crops.permute(0, 3, 1, 2).float()
        if self.divisor != 1:
            x = x / self.divisor
        if self.reverse_channels:
            x = x.flip(1)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)


class HeatmapCodec:
    """HRNet: the seeds' crop geometry and heatmap decoding (see the module docstring)."""

    family = "hrnet"
    outputs = 1
    flip_supported = False

    def __init__(self, config: HRNetConfig, padding: float = BOX_PADDING) -> None:
        self.input_size, self.num_joints, self.padding = config.input_size, config.num_joints, padding

    def regions(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return box_to_center_scale(boxes, self.input_size, padding=self.padding)

    def crop(self, frame: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return crop_person(frame, center, scale, self.input_size)

    def decode(self, outputs: tuple[np.ndarray, ...], centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return decode_heatmaps(outputs[0], centers, scales)


class SimCCCodec:
    """RTMPose: MMPose's crop geometry, SimCC decoding and flip test (:mod:`demo.pose2d.simcc`)."""

    family = "rtmpose"
    outputs = 2
    flip_supported = True

    def __init__(self, config: RTMPoseConfig) -> None:
        self.input_size, self.num_joints, self.split_ratio = config.input_size, config.num_joints, config.split_ratio

    def regions(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return simcc.bbox_center_scale(check_boxes(boxes), self.input_size)

    def crop(self, frame: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return simcc.crop(frame, center, scale, self.input_size)

    def merge_flip(self, outputs: tuple[np.ndarray, ...], n: int) -> tuple[np.ndarray, ...]:
        """The logits of ``n`` crops followed by their mirror images -> the flip-test average."""
        sx, sy = outputs
        fx, fy = simcc.flip_back_simcc(sx[n:], sy[n:])
        return (sx[:n] + fx) * np.float32(0.5), (sy[:n] + fy) * np.float32(0.5)

    def decode(self, outputs: tuple[np.ndarray, ...], centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keypoints, scores = simcc.decode_simcc(outputs[0], outputs[1], self.split_ratio)
        return simcc.crop_to_image(keypoints, centers, scales, self.input_size), scores


KeypointModel = Union[HRNet, RTMPose]
KeypointConfig = Union[HRNetConfig, RTMPoseConfig]


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
        model: an HRNet or an RTMPose (moved to ``device`` and put in eval mode here).
        config: its config (:class:`HRNetConfig` or :class:`RTMPoseConfig`); its
            ``input_size`` is the crop size and decides the family's conventions.
        device: where the network runs (PyTorch backend).
        batch_size: people per forward pass, from any number of frames; bounds memory
            (with the flip test the pass holds twice as many crops).
            ``None``: 4 on the CPU (bigger batches only thrash its caches: HRNet-W48 ran at
            2.05 crops/s with 4, 1.8 with 32, ``bench/bench_pose2d.py``), 64 on CUDA.
        precision: ``fp32``, ``bf16`` (autocast, CPU or CUDA) or ``fp16`` (autocast, CUDA
            only), PyTorch backend only. Reduced precision also stores the network
            channels-last, the layout the convolution kernels are fastest with.
        normalization: HRNet's input statistics; default the seeds' (see the module
            docstring). RTMPose always uses MMPose's (:data:`demo.pose2d.simcc.RTMPOSE_MEAN`).
        channel_order: channel order of the frames given (``bgr`` as OpenCV reads them).
        padding: HRNet's box growth factor (1.25 as in the seeds; RTMPose's is MMPose's 1.25).
        backend: ``torch``, ``openvino`` or ``onnxruntime`` (resolved; see :mod:`core.backends`).
        threads: the threads the run owns (for OpenVINO / ONNX Runtime).
        weights: sha256 of the weights file (the converted model's cache key).
        flip_test: RTMPose only: also run the mirrored crops and average (MMPose's
            default); ``None``: off (see the README's measurement).
    """

    def __init__(
        self,
        model: KeypointModel,
        config: KeypointConfig,
        device: str | torch.device = "cpu",
        *,
        batch_size: int | None = None,
        precision: str = "fp32",
        normalization: Normalization = SEED_NORMALIZATION,
        channel_order: ChannelOrder = "bgr",
        padding: float = BOX_PADDING,
        backend: str = "torch",
        threads: int = 1,
        weights: str = UNREPEATABLE,
        flip_test: bool | None = None,
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
        self.codec: HeatmapCodec | SimCCCodec = (
            SimCCCodec(config) if isinstance(config, RTMPoseConfig) else HeatmapCodec(config, padding)
        )
        self.flip_test = bool(flip_test)
        if self.flip_test and not self.codec.flip_supported:
            raise UserError(f"the flip test is implemented for RTMPose, not for {config.name}")
        self.config = config
        self.batch_size = batch_size
        self.precision = precision
        self.crop_seconds = 0.0  # spent cutting crops out of frames (the rest is the network)
        self.channel_order = channel_order
        self.model = model.to(self.device).eval()
        reduced = precision != "fp32" and backend == "torch"
        if reduced:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.codec.family == "rtmpose":  # MMPose's statistics on 0..255 RGB
            mean, std, divisor = simcc.RTMPOSE_MEAN, simcc.RTMPOSE_STD, 1.0
        else:
            mean, std, divisor = normalization.mean, normalization.std, 255.0
        self.network = NormalisedInput(self.model, mean, std, divisor=divisor,
                                       reverse_channels=channel_order == "bgr", channels_last=reduced)  # fmt: skip
        h, w = config.input_size[1], config.input_size[0]
        spec = ExportSpec(f"{self.codec.family}-{w}x{h}", weights, (torch.zeros(2, h, w, 3, dtype=torch.uint8),),
                          outputs=self.codec.outputs)  # fmt: skip
        self.engine: Engine = compile_module(
            self.network, spec, backend, threads=threads, device=self.device, precision=precision
        )

    @property
    def backend(self) -> str:
        """Where the network runs (``torch`` where a conversion fell back)."""
        return self.engine.backend

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
            centers, scales = self.codec.regions(check_boxes(frame_boxes, f"boxes of frame {f}"))
            # Filled in when the batch holding each person's crop has run.
            keypoints.append(np.empty((len(centers), j, 2), np.float32))
            scores.append(np.empty((len(centers), j), np.float32))
            for p, (center, scale) in enumerate(zip(centers, scales)):
                start = time.perf_counter()
                pending.crops.append(self.codec.crop(frame, center, scale))
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
        outputs = self.outputs(np.stack(pending.crops))
        kpts, conf = self.codec.decode(outputs, np.stack(pending.centers), np.stack(pending.scales))
        for (f, p), k, s in zip(pending.slots, kpts, conf):
            keypoints[f][p] = k
            scores[f][p] = s
        for items in (pending.crops, pending.centers, pending.scales, pending.slots):
            items.clear()

    def outputs(self, crops: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(B, h, w, 3)`` uint8 crops in ``channel_order`` -> the network's float32 outputs
        (HRNet: ``(B, J, h/4, w/4)`` heatmaps; RTMPose: ``simcc_x (B, J, 2w)``,
        ``simcc_y (B, J, 2h)``, flip-test averaged when it is on)."""
        n = len(crops)
        if self.flip_test:  # mirror images in the same pass (normalisation is per pixel)
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        out = self.engine(np.ascontiguousarray(crops))
        return self.codec.merge_flip(out, n) if self.flip_test else out

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """HRNet: ``(B, h, w, 3)`` uint8 crops -> ``(B, J, h/4, w/4)`` float32 heatmaps."""
        return self.outputs(crops)[0]


__all__ = [
    "IMAGENET_NORMALIZATION",
    "SEED_NORMALIZATION",
    "HeatmapCodec",
    "KeypointConfig",
    "KeypointModel",
    "Normalization",
    "NormalisedInput",
    "Poses2D",
    "SimCCCodec",
    "TopDownEstimator",
    "box_to_center_scale",
    "check_boxes",
    "crop_person",
    "crop_transform",
    "decode_heatmaps",
]
