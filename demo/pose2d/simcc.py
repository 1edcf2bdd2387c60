"""MMPose's top-down pipeline for SimCC models (RTMPose), reproducing MMPose 1.3.2's
``inference_topdown`` with the configs' defaults: person boxes -> crops -> one network
pass (plus the flipped pass) -> COCO-17 keypoints in image pixels.

Conventions, each as MMPose applies them:

- box -> centre and scale (``GetBBoxCenterScale`` then ``TopdownAffine``): centre = box
  midpoint; scale = box size * 1.25, in *pixels* (no ``pixel_std = 200``), then the
  short side is enlarged so that ``scale_w / scale_h`` = crop ``w / h``; float32 as
  MMPose's arrays are (:func:`bbox_center_scale`);
- crop: ``get_warp_matrix`` (rotation 0, shift 0, no UDP): three point pairs (centre ->
  crop centre, the point half a scale to the left -> the crop's left edge midpoint, a third
  at right angles) held in float32, solved by ``cv2.getAffineTransform``, applied with
  ``cv2.warpAffine`` bilinear, constant black border (:func:`warp_matrix`, :func:`crop`).
  OpenCV's fixed-point bilinear rounding is not the same in every release: against the
  reference crops (made with OpenCV 5.1.0) those of OpenCV 5.0.0 differ by one level at
  a handful of pixels whose exact value sits on a .5 tie (7 of 147456 values for a box
  with a non-round scale), and raw logits move accordingly;
- colour: frames are BGR as OpenCV reads them; the data preprocessor reverses channels to
  RGB, then ``(v - mean) / std`` in float32 with :data:`RTMPOSE_MEAN` / :data:`RTMPOSE_STD`
  (RGB, 0..255 scale) (:func:`normalize_crops`);
- decoding (``SimCCLabel``, no DARK): per keypoint the first argmax of each vector
  divided by the split ratio (2: a bin is half a crop pixel, bin i is at x = i / 2); the
  score is min(max simcc_x, max simcc_y) of the raw logits (no softmax, so scores are not
  probabilities and are not bounded by 1); where the score is <= 0 the bin index is set to
  -1 *before* the division, so such keypoints sit at -1 / split ratio = -0.5 crop pixels
  (then mapped to the image like any other) - use the score, not the location, to tell
  them (:func:`decode_simcc`);
- flip test (``test_cfg.flip_test=True`` in every official config): the horizontally
  flipped normalised crop is run too; its ``simcc_x`` gets the left/right pairs swapped and
  the bins reversed, ``simcc_y`` only the pairs swapped, and the two passes' logits are
  averaged before decoding. Reversing the bins maps x to (W - 1/2) - x: no half-pixel
  correction (:func:`flip_back_simcc`);
- back to the image: ``kp / input_size * scale + centre - scale / 2`` (:func:`crop_to_image`).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .rtmpose import RTMPose, RTMPoseConfig

#: The data preprocessor's statistics, RGB order, 0..255 scale.
RTMPOSE_MEAN = (123.675, 116.28, 103.53)
RTMPOSE_STD = (58.395, 57.12, 57.375)
#: Box enlargement of ``GetBBoxCenterScale``.
BOX_PADDING = 1.25
#: COCO-17 left/right partners (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def bbox_center_scale(
    boxes: np.ndarray, input_size: tuple[int, int], padding: float = BOX_PADDING
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 4)`` xyxy boxes -> ``centers (n, 2)``, ``scales (n, 2)`` float32 image pixels,
    the scale padded and fixed to the crop's aspect ratio ``w / h``."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    centers = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    sizes = (boxes[:, 2:] - boxes[:, :2]) * padding
    aspect = input_size[0] / input_size[1]
    w, h = sizes[:, :1], sizes[:, 1:]
    scales = np.where(w > h * aspect, np.hstack([w, w / aspect]), np.hstack([h * aspect, h]))
    return centers.astype(np.float32), scales.astype(np.float32)


def warp_matrix(
    center: Sequence[float], scale: Sequence[float], output_size: tuple[int, int], *, inverse: bool = False
) -> np.ndarray:
    """The ``(2, 3)`` affine map image -> crop (``inverse``: crop -> image) that sends
    ``center`` to the crop's centre and ``scale[0]`` image pixels to the crop's width."""
    center = np.asarray(center, dtype=np.float32)
    half_w = float(np.float32(scale[0])) * 0.5
    out_w, out_h = output_size
    # Held in float32 as MMPose's point arrays are: the third point is computed from the
    # rounded first two, which is what makes the matrix (and so the crop) bit-identical.
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center.astype(np.float64) + np.array([-half_w, 0.0])
    dst[0] = [out_w * 0.5, out_h * 0.5]
    dst[1] = [out_w * 0.5 - out_w * 0.5, out_h * 0.5]
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], dtype=np.float32)
    if inverse:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def crop(frame: np.ndarray, center: Sequence[float], scale: Sequence[float], input_size: tuple[int, int]) -> np.ndarray:
    """The ``(h, w, 3)`` crop of ``frame`` (same dtype and channel order), black outside."""
    w, h = input_size
    return cv2.warpAffine(frame, warp_matrix(center, scale, input_size), (int(w), int(h)), flags=cv2.INTER_LINEAR)


def normalize_crops(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(B, h, w, 3)`` uint8 BGR crops -> ``(B, 3, h, w)`` float32 normalised RGB."""
    t = torch.as_tensor(crops)
    if t.ndim == 3:
        t = t[None]
    t = t.permute(0, 3, 1, 2)[:, [2, 1, 0]].float()
    mean = torch.tensor(RTMPOSE_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(RTMPOSE_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return ((t - mean) / std).contiguous()


def _numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().cpu().float().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float32)


def decode_simcc(
    simcc_x: np.ndarray | torch.Tensor, simcc_y: np.ndarray | torch.Tensor, split_ratio: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, K, Wx)``, ``(n, K, Wy)`` logits -> ``keypoints (n, K, 2)`` float32 crop pixels
    and ``scores (n, K)`` float32 (see the module docstring for the conventions)."""
    sx, sy = _numpy(simcc_x), _numpy(simcc_y)
    locs = np.stack([sx.argmax(axis=-1), sy.argmax(axis=-1)], axis=-1).astype(np.float32)
    scores = np.minimum(sx.max(axis=-1), sy.max(axis=-1)).astype(np.float32)
    locs[scores <= 0.0] = -1.0
    return (locs / np.float32(split_ratio)).astype(np.float32), scores


def flip_back_simcc(
    simcc_x: torch.Tensor | np.ndarray,
    simcc_y: torch.Tensor | np.ndarray,
    flip_indices: Sequence[int] = COCO_FLIP_INDICES,
) -> tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]:
    """Logits of a horizontally flipped crop, expressed for the unflipped one: pairs
    swapped on both axes, x bins reversed."""
    idx = list(flip_indices)
    if isinstance(simcc_x, torch.Tensor):
        return simcc_x[:, idx].flip(-1), simcc_y[:, idx]
    return np.ascontiguousarray(np.asarray(simcc_x)[:, idx, ::-1]), np.asarray(simcc_y)[:, idx]


def crop_to_image(
    keypoints: np.ndarray, centers: np.ndarray, scales: np.ndarray, input_size: tuple[int, int]
) -> np.ndarray:
    """``(n, K, 2)`` crop pixels -> float32 image pixels (``centers``/``scales`` ``(n, 2)``)."""
    size = np.asarray(input_size, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)[:, None]
    scales = np.asarray(scales, dtype=np.float64)[:, None]
    out = np.asarray(keypoints, dtype=np.float64) / size * scales + centers - 0.5 * scales
    return out.astype(np.float32)


def crop_batch(
    image_bgr: np.ndarray, boxes: np.ndarray, config: RTMPoseConfig
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The network input for every box of one BGR image: ``(n, 3, h, w)`` normalised RGB,
    and the ``centers``, ``scales`` ``(n, 2)`` that map keypoints back to the image."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    w, h = config.input_size
    centers, scales = bbox_center_scale(boxes, config.input_size)
    if len(boxes) == 0:
        return torch.zeros((0, 3, h, w)), centers, scales
    crops = np.stack([crop(image_bgr, c, s, config.input_size) for c, s in zip(centers, scales)])
    return normalize_crops(crops), centers, scales


def estimate_crops(
    model: RTMPose,
    config: RTMPoseConfig,
    x: torch.Tensor,
    centers: np.ndarray,
    scales: np.ndarray,
    *,
    flip_test: bool = True,
    device: str | torch.device | None = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in image pixels from normalised crops ``x (n, 3, h, w)`` and the
    ``centers``/``scales`` they were cut with; with ``flip_test`` the mirrored crops go
    through the network in the same batch. ``device=None``: the model's."""
    n, k = len(x), config.num_joints
    if n == 0:
        return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
    if flip_test:
        x = torch.cat([x, x.flip(-1)])
    if device is None:
        device = next(model.parameters()).device
    with torch.inference_mode():
        simcc_x, simcc_y = model(x.to(device))
    simcc_x, simcc_y = simcc_x.float().cpu(), simcc_y.float().cpu()
    if flip_test:
        fx, fy = flip_back_simcc(simcc_x[n:], simcc_y[n:])
        simcc_x = (simcc_x[:n] + fx) * 0.5
        simcc_y = (simcc_y[:n] + fy) * 0.5
    keypoints, scores = decode_simcc(simcc_x, simcc_y, config.split_ratio)
    return crop_to_image(keypoints, centers, scales, config.input_size), scores


def estimate_image(
    model: RTMPose,
    config: RTMPoseConfig,
    image_bgr: np.ndarray,
    boxes: np.ndarray,
    *,
    flip_test: bool = True,
    device: str | torch.device | None = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-down keypoints of the people in one BGR image (:func:`crop_batch` then
    :func:`estimate_crops`: all crops, and with ``flip_test`` their mirror images, in one
    forward pass). Returns ``keypoints (n, K, 2)`` float32 image pixels and
    ``scores (n, K)`` float32 raw SimCC maxima (see :func:`decode_simcc`).
    """
    x, centers, scales = crop_batch(image_bgr, boxes, config)
    return estimate_crops(model, config, x, centers, scales, flip_test=flip_test, device=device)


__all__ = [
    "BOX_PADDING",
    "COCO_FLIP_INDICES",
    "RTMPOSE_MEAN",
    "RTMPOSE_STD",
    "bbox_center_scale",
    "crop",
    "crop_batch",
    "crop_to_image",
    "decode_simcc",
    "estimate_crops",
    "estimate_image",
    "flip_back_simcc",
    "normalize_crops",
    "warp_matrix",
]
