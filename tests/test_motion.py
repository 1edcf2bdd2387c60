"""Camera-space trajectories and the floor, on synthetic people with known 3D motion."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from demo.motion.camera import DEFAULT_FOV_DEG, PinholeCamera
from demo.motion.ground import GroundFrame, fit_ground
from demo.motion.placement import TrackMotion, place_people
from demo.motion.smoothing import smoothing_preset
from demo.motion.trajectory import root_translation
from tests.motion_synthetic import scene


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def _observed(s, noise_px: float = 0.0, seed: int = 1):
    """Per person: root-relative camera joints (the lifter's output), 2D keypoints, true root."""
    rng = np.random.default_rng(seed)
    out = []
    for world in s.world:
        cam = s.to_camera(world)
        pixels = s.camera.project(cam) + rng.normal(0, noise_px, (*cam.shape[:2], 2))
        out.append((cam - cam[:, :1], pixels, cam[:, 0]))
    return out


def test_camera_from_fov_and_focal():
    cam = PinholeCamera.for_image(1000, 500, fov=90)
    assert cam.focal_px == pytest.approx(500.0)  # tan(45 deg) = 1: half the width
    assert cam.fov_deg == pytest.approx(90.0)
    assert PinholeCamera.for_image(1000, 500, focal=1234).focal_px == 1234
    assert PinholeCamera.for_image(1000, 500).fov_deg == pytest.approx(DEFAULT_FOV_DEG)
    assert cam.project(np.array([1.0, -0.5, 2.0])) == pytest.approx([750.0, 125.0])


@pytest.mark.parametrize("kwargs", [{"focal": 0}, {"focal": -5}, {"fov": 0}, {"fov": 180}, {"fov": float("nan")},
                                    {"focal": 500, "fov": 60}])  # fmt: skip
def test_bad_camera_is_one_line_user_error(kwargs):
    with pytest.raises(UserError, match="--f") as e:
        PinholeCamera.for_image(640, 480, **kwargs)
    assert "\n" not in str(e.value)


def test_root_recovered_within_1cm_without_noise():
    s = scene()
    for relative, pixels, truth in _observed(s):
        root = root_translation(relative, pixels, np.ones(pixels.shape[:2]), s.camera)
        assert np.abs(root - truth).max() < 0.01


def test_root_with_2px_noise_within_stated_bound():
    """The README's bound: with 2 px noise on every joint at 720p and no smoothing, the
    per-frame error of T is under 3 % of the person's distance (95th percentile), for
    people 1-12 m away."""
    s = scene(frames=150, people=6)
    for relative, pixels, truth in _observed(s, noise_px=2.0):
        err = np.linalg.norm(root_translation(relative, pixels, np.ones(pixels.shape[:2]), s.camera) - truth, axis=1)
        assert np.percentile(err / truth[:, 2], 95) < 0.03


def test_low_scores_and_missing_joints_are_left_out():
    s = scene(people=1)
    relative, pixels, truth = _observed(s)[0]
    scores = np.ones(pixels.shape[:2])
    pixels[:, 13] += 300.0  # a wild left wrist...
    scores[:, 13] = 0.0  # ...that the 2D model did not trust
    relative[5, 16] = np.nan  # and a joint the lifter did not give
    root = root_translation(relative, pixels, scores, s.camera)
    assert np.abs(root - truth).max() < 0.01
    scores[7, :] = 0.0
    scores[7, 3] = 1.0  # one usable joint cannot fix three unknowns
    root = root_translation(relative, pixels, scores, s.camera)
    assert np.isnan(root[7]).all() and np.isfinite(root[8]).all()


@pytest.mark.parametrize("pitch,roll", [(15.0, 3.0), (0.0, 0.0), (30.0, -5.0)])
def test_floor_found_within_2_degrees(pitch, roll):
    s = scene(pitch=pitch, roll=roll, people=4, frames=120)
    tracks = []
    for k, (relative, pixels, _) in enumerate(_observed(s, noise_px=2.0)):
        n = len(relative)
        tracks.append(TrackMotion(k + 1, relative, pixels, np.ones((n, 17)), np.ones(n, bool), np.ones(n, bool)))
    placed = place_people(tracks, s.camera, 30.0, smoothing_preset("light"))
    assert placed.ground.method == "feet-plane"
    assert _angle_deg(placed.ground.up, s.up_in_camera) < 2.0
    # World frame: ankles at height ~0, the camera ~1.6 m up, people where they walked.
    ankles = np.concatenate([w[:, [3, 6], 1].ravel() for w in placed.world])
    assert abs(np.median(ankles)) < 0.05
    assert placed.ground.camera_height == pytest.approx(1.6 - 0.08, abs=0.1)
    for world, truth in zip(placed.world, s.world):
        assert np.median(np.abs(world[:, 0, 0] - truth[:, 0, 0])) < 0.15
        assert np.median(np.abs(world[:, 0, 2] - truth[:, 0, 2])) < 0.5


def test_world_axes_follow_the_camera():
    """A level camera: world x is the camera's right, y up, z toward the camera."""
    frame = GroundFrame.from_up(np.array([0.0, -1.0, 0.0]), -1.5, "test")
    assert frame.to_world(np.array([1.0, 0.0, 4.0])) == pytest.approx([1.0, 1.5, -4.0])
    assert frame.camera_height == 1.5
    assert frame.matrix() @ np.array([1.0, 0.0, 4.0, 1.0]) == pytest.approx([1.0, 1.5, -4.0, 1.0])


def test_one_person_standing_still_uses_body_up():
    s = scene(people=1, pitch=20.0, roll=0.0)
    world = s.world[0]
    still = np.repeat(world[:1], 60, axis=0)
    cam = s.to_camera(still)
    ground = fit_ground(cam[:, [3, 6]].reshape(-1, 3), (cam[:, 8] - cam[:, 0]).mean(axis=0))
    assert ground.method == "body-up"
    assert _angle_deg(ground.up, s.up_in_camera) < 1.0


def test_walking_in_a_line_keeps_the_line_on_the_floor():
    """Ankles on one line: the floor contains the line; its other tilt comes from the body.
    A body prior tilted 10 degrees across the line must not tilt the floor along it."""
    s = scene(people=1, pitch=10.0, roll=0.0, frames=150)
    cam = s.to_camera(s.world[0])
    ankles = cam[:, [3, 6]].reshape(-1, 3)
    prior = s.up_in_camera + 0.05 * np.array([1.0, 0.0, 0.0])
    ground = fit_ground(ankles, prior)
    assert ground.method in ("feet-line+body-up", "feet-plane")
    line = ankles[-1] - ankles[0]
    assert abs(_angle_deg(ground.up, line) - 90) < 2.0


def test_nobody_gives_a_level_camera():
    ground = fit_ground(np.zeros((0, 3)), None)
    assert ground.method == "camera-level" and ground.camera_height == 1.6
