"""The pinhole camera assumed for a clip: principal point at the image centre, square
pixels, no distortion, and a focal length from ``--focal PX`` or ``--fov DEG``.

Unknown phone and web video: :data:`DEFAULT_FOV_DEG` is a field of view of 65 degrees
across the picture's *long* side, a little narrower than a phone's main camera (26 mm
equivalent: about 69 degrees across the long side), to allow for digital zoom and
stabilisation crops. Across the long side, the same camera gets the same focal length
held upright (a 1080x1920 portrait clip: f = 1507 px) or sideways (1920x1080: 1507 px);
the sizes are those of the displayed picture, so a clip with rotation metadata gets the
focal length of the orientation it is shown in. ``fov_side`` picks ``width`` or
``height`` instead. A wrong focal length scales the depth of every
person (too long: everyone is placed farther away and the floor looks tilted), but keeps
where they are in the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import UserError

DEFAULT_FOV_DEG = 65.0
#: Which side of the picture a field of view spans.
FOV_SIDES: tuple[str, ...] = ("long", "width", "height")


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of the clip's camera.

    Attributes:
        focal_px: focal length in pixels (the same for x and y).
        width, height: image size in pixels; the principal point is at its centre.
    """

    focal_px: float
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.width / 2, self.height / 2

    @property
    def fov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2 * math.atan(self.width / (2 * self.focal_px)))

    @classmethod
    def for_image(cls, width: int, height: int, *, focal: float | None = None, fov: float | None = None,
                  fov_side: str = "long") -> PinholeCamera:  # fmt: skip
        """The camera of a ``width`` x ``height`` (displayed) video: ``focal`` pixels, or a
        field of view of ``fov`` degrees across ``fov_side`` (``long``, ``width`` or
        ``height``), or :data:`DEFAULT_FOV_DEG` across the long side when both are None.

        Raises:
            UserError: both given, or not positive, or a field of view of 180 degrees or more.
        """
        check_camera_options(focal, fov)
        if focal is not None:
            return cls(float(focal), width, height)
        if fov_side not in FOV_SIDES:
            raise UserError(f"the field of view's side must be one of {', '.join(FOV_SIDES)}, got {fov_side!r}")
        span = {"long": max(width, height), "width": width, "height": height}[fov_side]
        fov = DEFAULT_FOV_DEG if fov is None else fov
        return cls(span / (2 * math.tan(math.radians(fov) / 2)), width, height)

    def normalised(self, pixels: np.ndarray) -> np.ndarray:
        """``(..., 2)`` pixels -> ``(..., 2)`` normalised image coordinates ``(u - cx) / f``."""
        return (np.asarray(pixels, dtype=np.float64) - np.array(self.centre)) / self.focal_px

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` camera space (x right, y down, z forward, metres) -> ``(..., 2)`` pixels."""
        points = np.asarray(points, dtype=np.float64)
        return points[..., :2] / points[..., 2:3] * self.focal_px + np.array(self.centre)

    def matrix(self) -> np.ndarray:
        """``(3, 3)`` the camera matrix K (pixels)."""
        cx, cy = self.centre
        return np.array([[self.focal_px, 0.0, cx], [0.0, self.focal_px, cy], [0.0, 0.0, 1.0]])

    def to_json(self) -> dict[str, float]:
        cx, cy = self.centre
        return {"focal_px": self.focal_px, "cx": cx, "cy": cy, "width": self.width, "height": self.height,
                "fov_deg": self.fov_deg}  # fmt: skip


def check_camera_options(focal: float | None, fov: float | None) -> None:
    """Raise :class:`UserError` (one line) unless ``focal`` / ``fov`` describe a camera."""
    if focal is not None and fov is not None:
        raise UserError("give --focal or --fov, not both")
    if focal is not None and not (math.isfinite(focal) and focal > 0):
        raise UserError(f"--focal must be a positive number of pixels, got {focal:g}")
    if fov is not None and not (math.isfinite(fov) and 0 < fov < 180):
        raise UserError(f"--fov must be between 0 and 180 degrees (exclusive), got {fov:g}")
