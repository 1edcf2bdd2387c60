"""Synthetic people with known 3D motion, seen by a known camera: the ground truth for the
trajectory, floor and smoothing tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.motion.camera import PinholeCamera

#: A standing person in world space (metres, Y up, facing +z), Human3.6M order; ankles 8 cm up.
STANDING = np.array([
    [0.00, 0.95, 0.0],   # pelvis
    [-0.13, 0.95, 0.0], [-0.13, 0.52, 0.02], [-0.13, 0.08, 0.0],  # right hip, knee, ankle
    [0.13, 0.95, 0.0], [0.13, 0.52, 0.02], [0.13, 0.08, 0.0],  # left hip, knee, ankle
    [0.00, 1.18, 0.0], [0.00, 1.45, 0.0], [0.00, 1.55, 0.06], [0.00, 1.68, 0.0],  # spine, thorax, nose, head
    [0.19, 1.42, 0.0], [0.22, 1.15, 0.02], [0.24, 0.90, 0.05],  # left shoulder, elbow, wrist
    [-0.19, 1.42, 0.0], [-0.22, 1.15, 0.02], [-0.24, 0.90, 0.05],  # right shoulder, elbow, wrist
])  # fmt: skip


@dataclass
class SyntheticScene:
    """World-space people seen by a camera.

    Attributes:
        world: per person ``(T, 17, 3)`` world space.
        camera_from_world: ``(3, 3)`` rows are the camera's x, y, z axes in world coordinates.
        camera_centre: ``(3,)`` world position of the camera.
        camera: intrinsics.
    """

    world: list[np.ndarray]
    camera_from_world: np.ndarray
    camera_centre: np.ndarray
    camera: PinholeCamera

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (points - self.camera_centre) @ self.camera_from_world.T

    @property
    def up_in_camera(self) -> np.ndarray:
        return self.camera_from_world @ np.array([0.0, 1.0, 0.0])


def look_rotation(pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Camera axes (x right, y down, z forward) in a Y-up world, for a camera looking along
    -z, pitched down by ``pitch_deg`` and rolled by ``roll_deg``."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    forward = np.array([0.0, -np.sin(p), -np.cos(p)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(forward, right)
    right, down = np.cos(r) * right + np.sin(r) * down, -np.sin(r) * right + np.cos(r) * down
    return np.stack([right, down, forward])


def walking_people(frames: int = 90, fps: float = 30.0, people: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``people`` persons walking straight lines on the floor (y = 0) at 1-1.4 m/s, 3-9 m
    in front of a camera at the world origin, arms and legs swinging at 1 Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    out = []
    for k in range(people):
        start = np.array([rng.uniform(-2.5, 2.5), 0.0, -rng.uniform(4.0, 8.0)])
        heading = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(1.0, 1.4)
        path = start + speed * t[:, None] * np.array([np.cos(heading), 0.0, np.sin(heading)])
        pose = np.repeat(STANDING[None], frames, axis=0).copy()
        swing = 0.12 * np.sin(2 * np.pi * 1.0 * t + k)
        pose[:, [12, 13], 2] += swing[:, None]  # left arm forward and back
        pose[:, [15, 16], 2] -= swing[:, None]
        pose[:, [2, 3], 2] -= swing[:, None]  # legs opposite to the arms
        pose[:, [5, 6], 2] += swing[:, None]
        out.append(pose + path[:, None, :])
    return out


def scene(frames: int = 90, people: int = 3, pitch: float = 15.0, roll: float = 3.0, height: float = 1.6,
          fov: float = 65.0, seed: int = 0) -> SyntheticScene:  # fmt: skip
    """A 1280 x 720 camera ``height`` metres above the floor watching walking people."""
    return SyntheticScene(walking_people(frames, people=people, seed=seed), look_rotation(pitch, roll),
                          np.array([0.0, height, 0.0]), PinholeCamera.for_image(1280, 720, fov=fov))  # fmt: skip
