"""The floor, and the gravity-aligned world frame built on it.

The floor is the plane through the people's ankles over the whole clip (Human3.6M has no
toes or soles, so height 0 is ankle height). The fit is a RANSAC over ankle triples whose
plane is within :data:`MAX_TILT_DEG` of the people's mean up direction (pelvis to thorax,
which rejects walls and the depth-noise planes), then a least-squares refit on the
inliers. Ankles that span a line only (one person walking straight) fix the floor's tilt
along that line; the tilt across it comes from the mean up direction. Ankles that barely
move (people standing still) leave the mean up direction alone. The method used is
recorded in :attr:`GroundFrame.method`.

World frame: metres, Y up, floor at y = 0, x the camera's right along the floor, z toward
the camera (right-handed), origin the floor point below the camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest angle between a candidate floor normal and the people's mean up direction.
MAX_TILT_DEG = 35.0
#: Ankles within this distance of a candidate plane are its inliers (metres); the depth of
#: a monocular estimate is noisier than its image position, hence a generous band.
INLIER_METRES = 0.08
#: Ankles spread less than this (standard deviation along an axis, metres) fix no tilt.
MIN_SPREAD_METRES = 0.25
RANSAC_ITERATIONS = 256
#: Ankle points a RANSAC hypothesis is scored on (a random subset of a long clip's).
RANSAC_POINTS = 4000
#: With nobody's ankles to fit: the camera assumed level at about eye height (metres).
DEFAULT_CAMERA_HEIGHT = 1.6


@dataclass(frozen=True)
class GroundFrame:
    """The floor and the world frame, in camera space.

    Attributes:
        rotation: ``(3, 3)`` rows are the world x, y (up), z axes in camera coordinates:
            ``world = (p_camera - origin) @ rotation.T``.
        origin: ``(3,)`` the world origin in camera space (metres): the floor point below
            the camera.
        camera_height: the camera's height above the floor in metres.
        method: ``feet-plane``, ``feet-line+body-up``, ``body-up`` or ``camera-level`` (no
            person: the camera assumed level, :data:`DEFAULT_CAMERA_HEIGHT` above the floor).
        inliers: fraction of the ankle points within :data:`INLIER_METRES` of the floor.
    """

    rotation: np.ndarray
    origin: np.ndarray
    camera_height: float
    method: str
    inliers: float = 0.0

    @property
    def up(self) -> np.ndarray:
        """``(3,)`` the floor normal (up) in camera coordinates."""
        return self.rotation[1]

    def to_world(self, camera_points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` camera space -> world space, float32."""
        return ((np.asarray(camera_points, dtype=np.float64) - self.origin) @ self.rotation.T).astype(np.float32)

    def to_camera(self, world_points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` world space -> camera space, float32 (the inverse of :meth:`to_world`)."""
        return (np.asarray(world_points, dtype=np.float64) @ self.rotation + self.origin).astype(np.float32)

    def matrix(self) -> np.ndarray:
        """``(4, 4)`` homogeneous world-from-camera transform."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = -self.rotation @ self.origin
        return m

    def tilt_deg(self) -> float:
        """The camera's pitch/roll relative to level: angle between up and camera -y."""
        return float(np.degrees(np.arccos(np.clip(-self.up[1], -1.0, 1.0))))

    def to_json(self) -> dict[str, object]:
        return {
            "world_from_camera": np.round(self.matrix(), 6).tolist(),
            "camera_height_m": round(self.camera_height, 4),
            "camera_tilt_deg": round(self.tilt_deg(), 2),
            "method": self.method,
            "inliers": round(self.inliers, 3),
        }

    @classmethod
    def from_up(cls, up: np.ndarray, floor_offset: float, method: str, inliers: float = 0.0) -> GroundFrame:
        """The frame for the floor ``{p : up . p = floor_offset}`` (camera space)."""
        up = _unit(np.asarray(up, dtype=np.float64))
        forward = np.array([0.0, 0.0, 1.0]) - up[2] * up  # the camera's view along the floor
        if np.linalg.norm(forward) < 1e-6:  # looking straight down: keep the image's up as far
            forward = np.array([0.0, -1.0, 0.0]) - up[1] * up
        z = -_unit(forward)
        x = np.cross(up, z)
        rotation = np.stack([x, up, z])
        return cls(rotation, floor_offset * up, float(-floor_offset), method, inliers)


def fit_ground(ankles: np.ndarray, up_prior: np.ndarray | None, *, seed: int = 0) -> GroundFrame:
    """Fit the floor to ankle positions.

    Args:
        ankles: ``(N, 3)`` camera-space ankle positions (metres) from every person and
            frame that can be trusted; NaN rows are ignored.
        up_prior: ``(3,)`` the people's mean up direction in camera space (need not be
            unit length), or None when nobody was seen.
        seed: RANSAC's random seed (the fit is deterministic for a given input).
    """
    ankles = np.asarray(ankles, dtype=np.float64).reshape(-1, 3)
    ankles = ankles[np.isfinite(ankles).all(axis=1)]
    if up_prior is None or not np.isfinite(up_prior).all() or np.linalg.norm(up_prior) < 1e-9:
        return GroundFrame.from_up(np.array([0.0, -1.0, 0.0]), -DEFAULT_CAMERA_HEIGHT, "camera-level")
    prior = _unit(np.asarray(up_prior, dtype=np.float64))
    if len(ankles) == 0:
        return GroundFrame.from_up(prior, -DEFAULT_CAMERA_HEIGHT, "camera-level")

    centre = ankles.mean(axis=0)
    _, spread, axes = np.linalg.svd(ankles - centre, full_matrices=False)
    spread = spread / np.sqrt(len(ankles))  # standard deviations along the principal axes
    if len(ankles) < 3 or spread[0] < MIN_SPREAD_METRES:
        up, method = prior, "body-up"
    elif spread[1] < MIN_SPREAD_METRES:
        line = axes[0]
        up, method = _unit(prior - (prior @ line) * line), "feet-line+body-up"
    else:
        up, method = _refit(ankles, _ransac_plane(ankles, prior, seed), prior), "feet-plane"
    offset = _plane_offset(ankles, up)
    inliers = float((np.abs(ankles @ up - offset) < INLIER_METRES).mean())
    return GroundFrame.from_up(up, offset, method, inliers)


def _refit(points: np.ndarray, up: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The least-squares normal (toward ``prior``) of the points within
    :data:`INLIER_METRES` of the plane with normal ``up``: their smallest principal axis;
    ``up`` if fewer than three are near or the refit tilts past :data:`MAX_TILT_DEG`."""
    near = points[np.abs(points @ up - _plane_offset(points, up)) < INLIER_METRES]
    if len(near) < 3:
        return up
    _, _, v = np.linalg.svd(near - near.mean(axis=0), full_matrices=False)
    refit = v[2] if v[2] @ prior > 0 else -v[2]
    return refit if refit @ prior >= np.cos(np.radians(MAX_TILT_DEG)) else up


def _plane_offset(points: np.ndarray, up: np.ndarray) -> float:
    """The floor's offset along ``up``: the median ankle height (robust to raised feet)."""
    return float(np.median(points @ up))


def _ransac_plane(points: np.ndarray, prior: np.ndarray, seed: int) -> np.ndarray:
    """The unit normal (toward ``prior``) of the plane with most inliers among planes
    through three points, within :data:`MAX_TILT_DEG` of ``prior``; ``prior`` if none."""
    rng = np.random.default_rng(seed)
    scored = points if len(points) <= RANSAC_POINTS else points[rng.choice(len(points), RANSAC_POINTS, replace=False)]
    triples = rng.integers(0, len(points), size=(RANSAC_ITERATIONS, 3))
    a, b, c = points[triples[:, 0]], points[triples[:, 1]], points[triples[:, 2]]
    normals = np.cross(b - a, c - a)
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-6
    normals[ok] /= length[ok, None]
    normals *= np.sign(normals @ prior)[:, None]
    ok &= normals @ prior >= np.cos(np.radians(MAX_TILT_DEG))
    if not ok.any():
        return prior
    normals, a = normals[ok], a[ok]
    distance = np.abs((scored[None, :, :] - a[:, None, :]) @ normals[..., None])[..., 0]  # (K, N)
    count = (distance < INLIER_METRES).sum(axis=1)
    return normals[int(np.argmax(count))]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
