"""COCO-17 -> Human3.6M-17 keypoints, exactly as the seeds' ``h36m_coco_format`` (the joint
tables themselves live in :mod:`core.joints`)."""
from __future__ import annotations

import numpy as np

from core.errors import UserError
from core.joints import COCO_JOINTS, H36M_JOINTS

# --- COCO-17 -> Human3.6M-17 ----------------------------------------------------------------
# The lifters were trained on Human3.6M joints, several of which COCO lacks. The seeds'
# ``h36m_coco_format`` copies the limbs and synthesises the rest from nearby keypoints; as
# its steps are all linear, each Human3.6M joint is a fixed weighted sum of COCO keypoints,
# with different weights for x and y where the seeds treat the axes differently.

#: Human3.6M joint -> the COCO keypoint it is copied from (coordinates and score).
H36M_COPIED_FROM_COCO: dict[int, int] = {
    1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10,
}  # fmt: skip

#: Synthesised Human3.6M joints: ``{coco index: weight}`` for x, for y, and for the score.
H36M_SYNTHESISED_FROM_COCO: dict[int, tuple[dict[int, float], dict[int, float], dict[int, float]]] = {
    # pelvis: between the hips.
    0: ({11: 1 / 2, 12: 1 / 2}, {11: 1 / 2, 12: 1 / 2}, {11: 1 / 2, 12: 1 / 2}),
    # spine: the mean of shoulders and hips, pushed sideways (x only) away from the
    # pelvis-thorax midpoint to three times its offset.
    7: (
        {5: 5 / 12, 6: 5 / 12, 11: 1 / 4, 12: 1 / 4, 0: -1 / 3},
        {5: 1 / 4, 6: 1 / 4, 11: 1 / 4, 12: 1 / 4},
        {5: 1 / 4, 6: 1 / 4, 11: 1 / 4, 12: 1 / 4},
    ),
    # thorax: a third of the way from mid-shoulders to the nose, then raised (y only) by
    # two thirds of the eyes' height above the nose.
    8: ({0: 1 / 3, 5: 1 / 3, 6: 1 / 3}, {0: 1, 5: 1 / 3, 6: 1 / 3, 1: -1 / 3, 2: -1 / 3}, {5: 1 / 2, 6: 1 / 2}),
    # neck/nose: a quarter of the way from the nose to mid-shoulders; scored as the nose.
    9: ({0: 3 / 4, 5: 1 / 8, 6: 1 / 8}, {0: 3 / 4, 5: 1 / 8, 6: 1 / 8}, {0: 1}),
    # head top: x the mean of eyes and ears, y the nose mirrored about the eyes.
    10: ({1: 1 / 4, 2: 1 / 4, 3: 1 / 4, 4: 1 / 4}, {1: 1, 2: 1, 0: -1}, {1: 1 / 4, 2: 1 / 4, 3: 1 / 4, 4: 1 / 4}),
}


def _conversion_matrices() -> np.ndarray:
    """``(3, 17, 17)`` weights, ``[axis or score, h36m joint, coco keypoint]``."""
    weights = np.zeros((3, len(H36M_JOINTS), len(COCO_JOINTS)))
    for h36m, coco in H36M_COPIED_FROM_COCO.items():
        weights[:, h36m, coco] = 1.0
    for h36m, per_channel in H36M_SYNTHESISED_FROM_COCO.items():
        for channel, table in enumerate(per_channel):
            for coco, w in table.items():
                weights[channel, h36m, coco] = w
    return weights


_COCO_TO_H36M = _conversion_matrices()


def _weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``values (..., 17) @ weights.T``; NaN wherever any keypoint with a non-zero weight is NaN."""
    known = np.isfinite(values)
    out = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) @ weights.T
    depends_on_unknown = (~known).astype(np.float64) @ (weights != 0).T > 0
    out[depends_on_unknown] = np.nan
    return out


def coco_to_h36m(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints and scores -> Human3.6M-17, as the seeds' ``h36m_coco_format``.

    Args:
        keypoints: ``(..., 17, 2)`` COCO keypoints, pixels (any units work: the map is linear).
            NaN marks a missing keypoint.
        scores: ``(..., 17)`` their confidences.

    Returns:
        ``(h36m (..., 17, 2), h36m_scores (..., 17))`` float32 in :data:`H36M_JOINTS` order.
        A joint built from a NaN keypoint or score is NaN; the others are unaffected.
        Unlike the seeds, an all-zero person is converted rather than dropped.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(COCO_JOINTS)
    if keypoints.ndim < 2 or keypoints.shape[-2:] != (n, 2):
        raise UserError(f"COCO keypoints must have shape (..., {n}, 2), got {keypoints.shape}")
    if scores.shape != keypoints.shape[:-1]:
        raise UserError(
            f"COCO scores must have shape {keypoints.shape[:-1]} to match the keypoints, got {scores.shape}"
        )
    x = _weighted(keypoints[..., 0], _COCO_TO_H36M[0])
    y = _weighted(keypoints[..., 1], _COCO_TO_H36M[1])
    h36m_scores = _weighted(scores, _COCO_TO_H36M[2])
    return np.stack([x, y], axis=-1).astype(np.float32), h36m_scores.astype(np.float32)
