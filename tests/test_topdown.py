"""Top-down 2D stage: the seeds' geometry and decoding, and the batched estimator."""
from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch

from demo.pose2d.hrnet import HRNet, HRNetConfig
from demo.pose2d.topdown import (
    IMAGENET_NORMALIZATION,
    Poses2D,
    TopDownEstimator,
    box_to_center_scale,
    crop_person,
    crop_transform,
    decode_heatmaps,
)
from core.errors import UserError

from .conftest import fixture_path, media_path

SEED_INPUT = (288, 384)  # (w, h) of the seeds' HRNet-W48
# Three walkers in vtest_15s.mp4's first frames, and one box running off the frame's corner.
BOXES = np.array([[245, 212, 292, 315], [494, 150, 537, 240], [632, 232, 692, 328], [700, 500, 800, 620]], np.float32)


@pytest.fixture(scope="module")
def keypoints_ref() -> dict[str, np.ndarray]:
    return dict(np.load(fixture_path("keypoints_ref.npz")))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(media_path("vtest_15s.mp4")))
    try:
        out = []
        for _ in range(4):
            ok, frame = cap.read()
            assert ok, "could not decode vtest_15s.mp4"
            out.append(frame)
        return out
    finally:
        cap.release()


@pytest.fixture(scope="module")
def small_model() -> tuple[HRNet, HRNetConfig]:
    torch.manual_seed(0)
    config = HRNetConfig(width=8, input_size=(96, 128))
    model = HRNet(config).eval()
    # Non-trivial BN statistics so that every layer matters.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model, config


# --- parity with the seeds' numbers --------------------------------------------------------


def test_boxes_to_centers_and_scales(keypoints_ref: dict[str, np.ndarray]) -> None:
    centers, scales = box_to_center_scale(keypoints_ref["boxes"], SEED_INPUT)
    assert np.abs(centers - keypoints_ref["centers"]).max() <= 1e-4
    assert np.abs(scales - keypoints_ref["scales"]).max() <= 1e-4


def test_crop_transforms(keypoints_ref: dict[str, np.ndarray]) -> None:
    regions = zip(keypoints_ref["centers"], keypoints_ref["scales"])
    ours = np.stack([crop_transform(c, s, SEED_INPUT) for c, s in regions])
    assert np.abs(ours - keypoints_ref["affine_288x384"]).max() <= 1e-4


def test_heatmap_decoding(keypoints_ref: dict[str, np.ndarray]) -> None:
    preds, scores = decode_heatmaps(keypoints_ref["heatmaps"], keypoints_ref["centers"], keypoints_ref["scales"])
    assert preds.shape == (3, 17, 2) and scores.shape == (3, 17)
    assert np.abs(preds - keypoints_ref["preds"]).max() <= 1e-4
    assert np.abs(scores - keypoints_ref["maxvals"][..., 0]).max() <= 1e-4


# --- geometry and decoding by hand -----------------------------------------------------------


def test_region_grows_to_the_crop_aspect() -> None:
    centers, scales = box_to_center_scale(np.array([[0, 0, 100, 400], [0, 0, 400, 100]]), SEED_INPUT)
    np.testing.assert_allclose(centers, [[50, 200], [200, 50]])
    # Tall box: width grows to 0.75 * 400; wide box: height grows to 400 / 0.75; then x1.25 / 200.
    np.testing.assert_allclose(scales, [[1.875, 2.5], [2.5, 400 / 0.75 * 1.25 / 200]], rtol=1e-6)
    # The seeds' own call used the image's h / w as the aspect (0.5625 for 1280x720).
    _, seed_scales = box_to_center_scale(np.array([[0, 0, 100, 400]]), SEED_INPUT, aspect_ratio=720 / 1280)
    np.testing.assert_allclose(seed_scales, [[400 * 0.5625 * 1.25 / 200, 2.5]], rtol=1e-6)


def test_crop_maps_the_region_onto_the_crop() -> None:
    center, scale = np.array([300.0, 200.0], np.float32), np.array([1.5, 2.0], np.float32)
    forward = crop_transform(center, scale, SEED_INPUT)
    # The centre goes to the crop's middle; 300 image pixels span the 288-pixel crop width.
    np.testing.assert_allclose(forward @ [300, 200, 1], [144, 192], atol=1e-4)
    np.testing.assert_allclose(forward[:, :2], np.eye(2) * 288 / 300, atol=1e-6)
    inverse = crop_transform(center, scale, SEED_INPUT, inverse=True)
    np.testing.assert_allclose(inverse @ np.append(forward @ [17, 41, 1], 1), [17, 41], atol=1e-4)
    # The crop of an image holds the image's pixel at the region's centre in its middle.
    image = np.zeros((480, 640, 3), np.uint8)
    image[195:206, 295:306] = (10, 20, 30)
    crop = crop_person(image, center, scale, SEED_INPUT)
    assert crop.shape == (384, 288, 3) and crop.dtype == np.uint8
    assert tuple(crop[192, 144]) == (10, 20, 30) and tuple(crop[0, 0]) == (0, 0, 0)


def test_decoding_refines_a_quarter_pixel_inside_only() -> None:
    h, w = 8, 6
    hm = np.zeros((1, 4, h, w), np.float32)
    hm[0, 0, 4, 3], hm[0, 0, 4, 4], hm[0, 0, 3, 3] = 1.0, 0.5, 0.2  # right and up neighbours higher
    hm[0, 1, 4, 1], hm[0, 1, 4, 2] = 1.0, 0.5  # column 1: the seeds' strict bound leaves it as is
    hm[0, 2] = -1.0  # no positive peak -> (0, 0)
    hm[0, 3, 6, 2], hm[0, 3, 6, 1] = 0.8, 0.3  # left neighbour higher, equal vertically
    # Centre and scale chosen so that the crop map is the identity (200 * scale = heatmap width).
    center, scale = np.array([[w / 2, h / 2]], np.float32), np.array([[w / 200, h / 200]], np.float32)
    preds, scores = decode_heatmaps(hm, center, scale)
    np.testing.assert_allclose(preds[0], [[3.25, 3.75], [1, 4], [0, 0], [1.75, 6]], atol=1e-5)
    np.testing.assert_allclose(scores[0], [1.0, 1.0, -1.0, 0.8])


# --- the batched estimator -------------------------------------------------------------------


def _one_crop_at_a_time(
    model: HRNet, config: HRNetConfig, frame: np.ndarray, box: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The seeds' recipe for one person: BGR crop, ImageNet statistics in RGB order applied
    to the BGR channels, then channels reversed."""
    center, scale = box_to_center_scale(box[None], config.input_size)
    crop = crop_person(frame, center[0], scale[0], config.input_size)
    x = crop.astype(np.float32).transpose(2, 0, 1) / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    x = (x - mean) / std
    x = x[[2, 1, 0]]
    with torch.no_grad():
        heatmaps = model(torch.from_numpy(np.ascontiguousarray(x))[None]).numpy()
    preds, scores = decode_heatmaps(heatmaps, center, scale)
    return preds[0], scores[0]


def _count_batches(model: HRNet) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    sizes: list[int] = []
    handle = model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    return sizes, handle


def test_batched_equals_one_crop_at_a_time(frames: list[np.ndarray], small_model: tuple[HRNet, HRNetConfig]) -> None:
    model, config = small_model
    boxes = [BOXES, np.zeros((0, 4)), BOXES[1:3], BOXES[:1]]
    estimator = TopDownEstimator(model, config, "cpu", batch_size=4)
    sizes, handle = _count_batches(model)
    try:
        result = estimator.estimate(iter(frames), boxes)  # a generator works: frames stream through
    finally:
        handle.remove()
    # 7 crops from 4 frames: batches span frames and every crop runs exactly once.
    assert sizes == [4, 3]
    assert [len(r) for r in result] == [4, 0, 2, 1]
    assert result[1].keypoints.shape == (0, 17, 2) and result[1].scores.shape == (0, 17)
    for frame, frame_boxes, poses in zip(frames, boxes, result):
        for box, keypoints, scores in zip(frame_boxes, poses.keypoints, poses.scores):
            ref_k, ref_s = _one_crop_at_a_time(model, config, frame, box)
            np.testing.assert_allclose(keypoints, ref_k, atol=1e-3)
            np.testing.assert_allclose(scores, ref_s, atol=1e-5)
    # Keypoints lie in the padded region around their box (centre +- 100 * scale pixels).
    centers, scales = box_to_center_scale(BOXES, config.input_size)
    low, high = centers - 100 * scales, centers + 100 * scales
    k = result[0].keypoints
    assert ((k >= low[:, None] - 1e-3) & (k <= high[:, None] + 1e-3)).all()


def test_frames_without_people(frames: list[np.ndarray], small_model: tuple[HRNet, HRNetConfig]) -> None:
    model, config = small_model
    sizes, handle = _count_batches(model)
    try:
        result = TopDownEstimator(model, config).estimate(frames[:2], [np.zeros((0, 4)), []])
    finally:
        handle.remove()
    assert sizes == []
    assert [r.keypoints.shape for r in result] == [(0, 17, 2), (0, 17, 2)]


def test_rgb_frames_and_imagenet_statistics(frames: list[np.ndarray], small_model: tuple[HRNet, HRNetConfig]) -> None:
    model, config = small_model
    bgr = TopDownEstimator(model, config).estimate_frame(frames[0], BOXES[:2])
    rgb = TopDownEstimator(model, config, channel_order="rgb").estimate_frame(frames[0][..., ::-1].copy(), BOXES[:2])
    np.testing.assert_allclose(rgb.keypoints, bgr.keypoints, atol=1e-3)
    np.testing.assert_allclose(rgb.scores, bgr.scores, atol=1e-5)
    # The training statistics are a different input, hence different heatmaps.
    other = TopDownEstimator(model, config, normalization=IMAGENET_NORMALIZATION).estimate_frame(frames[0], BOXES[:2])
    assert np.abs(other.scores - bgr.scores).max() > 1e-4


def test_estimator_errors(frames: list[np.ndarray], small_model: tuple[HRNet, HRNetConfig]) -> None:
    model, config = small_model
    estimator = TopDownEstimator(model, config)
    with pytest.raises(UserError, match="boxes were given for 1 frames, but there are more frames"):
        estimator.estimate(frames[:2], [BOXES])
    with pytest.raises(UserError, match="boxes were given for more frames than the 1 frames"):
        estimator.estimate(frames[:1], [BOXES, BOXES])
    with pytest.raises(UserError, match=r"boxes of frame 0: box \[10.0, 10.0, 5.0, 50.0\] is not finite with x2 > x1"):
        estimator.estimate_frame(frames[0], np.array([[10, 10, 5, 50]]))
    with pytest.raises(UserError, match=r"boxes of frame 0 must have shape \(n, 4\)"):
        estimator.estimate_frame(frames[0], np.array([1, 2, 3, 4]))
    with pytest.raises(UserError, match=r"frame 0 must be an \(H, W, 3\) uint8 image"):
        estimator.estimate_frame(frames[0].astype(np.float32), BOXES)
    with pytest.raises(UserError, match="fp16 autocast needs a CUDA device"):
        TopDownEstimator(model, config, "cpu", precision="fp16")
    with pytest.raises(UserError, match="batch_size must be at least 1"):
        TopDownEstimator(model, config, batch_size=0)


def test_poses_validate_shapes() -> None:
    assert len(Poses2D.empty()) == 0
    with pytest.raises(UserError, match=r"scores must have shape \(2, 17\)"):
        Poses2D(np.zeros((2, 17, 2), np.float32), np.zeros((2, 16), np.float32))


def _frame_stream(frames: list[np.ndarray], repeats: int) -> Iterator[np.ndarray]:
    for _ in range(repeats):
        yield from frames


def test_batches_are_bounded(frames: list[np.ndarray], small_model: tuple[HRNet, HRNetConfig]) -> None:
    model, config = small_model
    n_frames = 12
    sizes, handle = _count_batches(model)
    try:
        estimator = TopDownEstimator(model, config, batch_size=5)
        result = estimator.estimate(_frame_stream(frames, 3), [BOXES[:3]] * n_frames)
    finally:
        handle.remove()
    assert len(result) == n_frames
    assert sizes == [5] * (math.ceil(3 * n_frames / 5) - 1) + [3 * n_frames % 5 or 5]
    assert all(np.isfinite(r.keypoints).all() for r in result)
