"""COCO-17 -> Human3.6M-17 conversion, as the seeds' ``h36m_coco_format``."""
from __future__ import annotations

import numpy as np
import pytest

from core.joints import COCO_JOINTS, H36M_JOINTS
from core.coco_to_h36m import coco_to_h36m
from core.errors import UserError

from .conftest import fixture_path

H36M = {name: i for i, name in enumerate(H36M_JOINTS)}
COCO = {name: i for i, name in enumerate(COCO_JOINTS)}


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    return dict(np.load(fixture_path("keypoints_ref.npz")))


def test_matches_the_seeds_conversion(ref: dict[str, np.ndarray]) -> None:
    h36m, scores = coco_to_h36m(ref["coco"], ref["coco_scores"])
    assert h36m.shape == (1, 60, 17, 2) and scores.shape == (1, 60, 17)
    assert h36m.dtype == np.float32 and scores.dtype == np.float32
    # The seeds compute in float32 step by step; coordinates reach ~1000 px, where one
    # float32 step is 6e-5, so 1e-4 is about the closest two implementations can agree.
    assert np.abs(h36m - ref["h36m"]).max() <= 1e-4
    assert np.abs(scores - ref["h36m_scores"]).max() <= 1e-6


def test_limbs_are_copied_and_pelvis_is_mid_hips(ref: dict[str, np.ndarray]) -> None:
    coco, conf = ref["coco"][0], ref["coco_scores"][0]
    h36m, scores = coco_to_h36m(coco, conf)
    for side in ("left", "right"):
        for h36m_name, coco_name in (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("shoulder", "shoulder"),
                                      ("elbow", "elbow"), ("wrist", "wrist")):  # fmt: skip
            np.testing.assert_array_equal(h36m[:, H36M[f"{side}_{h36m_name}"]], coco[:, COCO[f"{side}_{coco_name}"]])
            np.testing.assert_array_equal(scores[:, H36M[f"{side}_{h36m_name}"]], conf[:, COCO[f"{side}_{coco_name}"]])
    hips = coco[:, [COCO["left_hip"], COCO["right_hip"]]]
    np.testing.assert_allclose(h36m[:, H36M["pelvis"]], hips.mean(axis=1), atol=1e-4)


def test_every_joint_moves_with_the_person() -> None:
    rng = np.random.default_rng(0)
    pose = rng.uniform(0, 500, (17, 2))
    scores = np.full(17, 0.7)
    h36m, h36m_scores = coco_to_h36m(pose, scores)
    shifted, _ = coco_to_h36m(pose + [30.0, -12.5], scores)
    # Each joint's weights sum to 1: a translated person gives translated joints.
    np.testing.assert_allclose(shifted - h36m, np.broadcast_to([30.0, -12.5], (17, 2)), atol=1e-3)
    np.testing.assert_allclose(h36m_scores, 0.7, atol=1e-6)


def test_missing_keypoints_spoil_only_the_joints_built_from_them(ref: dict[str, np.ndarray]) -> None:
    coco, conf = ref["coco"][0, :5].copy(), ref["coco_scores"][0, :5].copy()
    full, full_scores = coco_to_h36m(coco, conf)
    coco[2, COCO["left_ear"]] = np.nan
    conf[3, COCO["nose"]] = np.nan
    h36m, scores = coco_to_h36m(coco, conf)
    head = H36M["head"]
    # Head x is the mean of eyes and ears; head y uses eyes and nose only.
    assert np.isnan(h36m[2, head, 0]) and np.isfinite(h36m[2, head, 1])
    untouched = np.ones_like(h36m, dtype=bool)
    untouched[2, head, 0] = False
    np.testing.assert_array_equal(h36m[untouched], full[untouched])
    # The nose's score is the neck's; the other scores do not depend on it.
    assert np.isnan(scores[3, H36M["neck_nose"]])
    others = np.ones_like(scores, dtype=bool)
    others[3, H36M["neck_nose"]] = False
    np.testing.assert_array_equal(scores[others], full_scores[others])


def test_shapes_are_checked() -> None:
    with pytest.raises(UserError, match=r"COCO keypoints must have shape \(\.\.\., 17, 2\), got \(4, 16, 2\)"):
        coco_to_h36m(np.zeros((4, 16, 2)), np.zeros((4, 16)))
    with pytest.raises(UserError, match=r"COCO scores must have shape \(4, 17\)"):
        coco_to_h36m(np.zeros((4, 17, 2)), np.zeros((17,)))
