"""Where each person stands in camera space: the root translation ``T`` per frame.

The lifter gives root-relative joints ``X_j`` (pelvis at 0). Placed at ``T``, joint ``j``
projects to ``x_j = (X_j + T)_xy / (X_j + T)_z`` in normalised image coordinates. Asking
that to equal the 2D keypoint ``x̂_j = (u_j - c) / f`` and multiplying out the depth gives
two equations per joint that are linear in ``T``::

    T_x - x̂_j T_z = x̂_j X_jz - X_jx
    T_y - ŷ_j T_z = ŷ_j X_jz - X_jy

Each joint's pair is weighted by its 2D score, and the 3 x 3 normal equations are solved
in closed form for every frame at once. The residual of these equations is the
reprojection error times the joint's depth (metres at the person), so a joint's weight
does not depend on how far away the person stands. Depth comes from the person's size in
the image: it scales with the focal length (see :mod:`demo.motion.camera`).
"""
from __future__ import annotations

import numpy as np

from .camera import PinholeCamera

#: Fewest joints with a positive score that determine ``T`` (3 unknowns, 2 equations each).
MIN_JOINTS = 2


def root_translation(
    relative: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, camera: PinholeCamera
) -> np.ndarray:
    """The camera-space pelvis position of every frame.

    Args:
        relative: ``(T, J, 3)`` root-relative joints, camera space (x right, y down, z
            forward), metres; NaN rows for absent frames.
        keypoints: ``(T, J, 2)`` the 2D keypoints in pixels, same joint order.
        scores: ``(T, J)`` their confidence (0..1); NaN or <= 0 leaves a joint out.
        camera: the clip's camera.

    Returns:
        ``(T, 3)`` float64 metres; NaN where fewer than :data:`MIN_JOINTS` joints are usable
        or the solution is behind the camera.
    """
    relative = np.asarray(relative, dtype=np.float64)
    x = camera.normalised(keypoints)  # (T, J, 2)
    weight = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0).clip(min=0.0)
    usable = np.isfinite(relative).all(axis=-1) & np.isfinite(x).all(axis=-1) & (weight > 0)
    weight = np.where(usable, weight, 0.0)
    relative = np.where(usable[..., None], relative, 0.0)
    x = np.where(usable[..., None], x, 0.0)

    # Rows a = (1, 0, -x̂) and (0, 1, -ŷ); right-hand sides b = x̂ X_z - X_x and ŷ X_z - X_y.
    rows = np.zeros((*x.shape[:2], 2, 3))
    rows[..., 0, 0] = 1.0
    rows[..., 1, 1] = 1.0
    rows[..., :, 2] = -x
    rhs = x * relative[..., 2:3] - relative[..., :2]  # (T, J, 2)
    w = weight[..., None, None]
    normal = np.einsum("tjki,tjkl->til", rows * w, rows)  # (T, 3, 3)
    target = np.einsum("tjki,tjk->ti", rows * w, rhs)  # (T, 3)

    out = np.full((x.shape[0], 3), np.nan)
    # Two joints at the same image point leave the depth undetermined: a singular system.
    scale = np.einsum("tii->t", normal) ** 3
    enough = (usable.sum(axis=1) >= MIN_JOINTS) & (np.abs(np.linalg.det(normal)) > 1e-12 * scale)
    if enough.any():
        out[enough] = np.linalg.solve(normal[enough], target[enough][..., None])[..., 0]
    out[out[:, 2] <= 0] = np.nan  # a person behind the camera is a failed fit, not a place
    return out
