"""The seeds' display frame for drawing 3D poses: their camera rotation (a Human3.6M
camera's orientation), z up, each frame's lowest joint on the floor. Display only: the
exported camera-space poses never pass through it.
"""
from __future__ import annotations

import numpy as np

#: The seeds' display camera: a Human3.6M camera's orientation as a (w, x, y, z) quaternion.
SEED_CAMERA_ROTATION = np.array(
    [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088], dtype=np.float32
)


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
