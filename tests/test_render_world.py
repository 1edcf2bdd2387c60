"""The 3D panel's world layout: people where they stand, a view fitted once per clip, fading
floor trails; and the slots layout left as it was (the rest of it: test_render.py)."""
from __future__ import annotations

import numpy as np
import pytest
from test_render import STANDING, background, front_view

from core.joints import H36M_BONES
from demo.render import (
    MPL_BOX_DIAGONAL,
    PersonPose,
    RenderConfig,
    SkeletonRenderer,
    WorldScene,
    world_to_panel,
)
from demo.render.world_panel import grid_step

H, W, PANEL_W = 720, 1280, 960  # input frame; the default panel is 4/3 of its height
AZURE, PANEL = (255, 170, 0), (30, 30, 30)  # track 0's colour, the panel colour
SPINE = H36M_BONES.index((0, 7))


def standing_at(x: float, z: float) -> np.ndarray:
    """``(17, 3)`` world metres: the standing pose facing the camera (+z), feet on the floor,
    pelvis above (x, z). From the display frame (z up, facing +y): world = (-x, z, y)."""
    pose = STANDING[:, [0, 2, 1]] * [-1.0, 1.0, 1.0]
    return pose + [x, 0.0, z]


def pole_at(x: float, z: float, height: float = 1.7) -> np.ndarray:
    """``(17, 3)`` world metres: all joints on a vertical line from the floor to ``height``."""
    return np.stack([np.full(17, x), np.linspace(0.0, height, 17), np.full(17, z)], axis=-1)


def scene_of(poses: dict[int, np.ndarray], fps: float = 30.0) -> WorldScene:
    """The scene of tracks given as ``(T, 17, 3)`` world joints (pelvis = joint 0)."""
    return WorldScene.from_tracks({k: v[:, 0] for k, v in poses.items()}, fps, poses.values())


def floor_pixel(renderer: SkeletonRenderer, scene: WorldScene, x: float, z: float) -> np.ndarray:
    """Output-frame pixel of the world floor point (x, 0, z)."""
    ws = renderer.world.stage(scene, H, PANEL_W)
    pixel = ws.stage.project(ws.view, world_to_panel(np.array([x, 0.0, z])))[0]
    return pixel + [W, 0.0]


def pixel_at(image: np.ndarray, xy: np.ndarray) -> tuple[int, ...]:
    x, y = np.round(xy).astype(int)
    return tuple(int(v) for v in image[y, x])


def test_world_to_panel_is_a_rotation_to_z_up() -> None:
    # World (x right, Y up, z toward the camera) -> panel (x, -z, y): away from the camera is +Y.
    np.testing.assert_array_equal(world_to_panel(np.array([1.0, 2.0, 3.0])), [1.0, -3.0, 2.0])
    basis = world_to_panel(np.eye(3))
    assert np.linalg.det(basis) == pytest.approx(1.0)


def test_grid_step_grows_in_1_2_5_steps() -> None:
    # At most 24 lines each way: 2 m / 0.25 = 8; 6 m / 0.25 = 24; 10 m / 0.25 = 40 -> 0.5 (20);
    # 40 m: 1 m gives 40, 2.5 m gives 16.
    assert [grid_step(e, 0.24) for e in (2.0, 6.0, 10.0, 40.0, 300.0)] == [0.25, 0.25, 0.5, 2.5, 25.0]


def test_people_land_left_right_near_and_far() -> None:
    renderer = SkeletonRenderer()
    # Track 1 on the camera's left, 2 on its right (both 4 m away), 3 near (2.5 m), 4 far (9 m).
    places = {1: (-2.0, -4.0), 2: (2.0, -4.0), 3: (0.0, -2.5), 4: (0.0, -9.0)}
    poses = {k: standing_at(x, z)[None] for k, (x, z) in places.items()}
    scene = scene_of(poses)
    people = [PersonPose(k, None, v[0]) for k, v in poses.items()]
    out = renderer.render(background(), people, scene=scene, frame_index=0)
    left, right, near, far = renderer.layout_3d(people, H, W, scene=scene)
    assert left[0, 0] < right[0, 0], "the camera's left is the panel's left"
    ankle, head = 3, 10
    assert near[ankle, 1] > far[ankle, 1], "nearer feet stand lower on the floor"
    assert near[ankle, 1] - near[head, 1] > far[ankle, 1] - far[head, 1], "nearer people look taller"
    for joints in (left, right, near, far):
        assert ((joints[:, 0] >= W) & (joints[:, 0] < W + PANEL_W) & (joints[:, 1] >= 0) & (joints[:, 1] < H)).all()
    # Each person is drawn where layout_3d says, in their colour (the spine is the base colour).
    for person, joints in zip(people, (left, right, near, far)):
        a, b = H36M_BONES[SPINE]
        assert pixel_at(out, (joints[a] + joints[b]) / 2) == renderer.colours(person.track_id).base


def test_perspective_matches_hand_computed_sizes() -> None:
    # Straight along the camera axis, level: elev 0, azim -90. Two poles, 3 m and 7 m away.
    renderer = SkeletonRenderer(RenderConfig(world_elev=0.0, world_azim=-90.0))
    poses = {1: pole_at(0.0, -3.0)[None], 2: pole_at(0.0, -7.0)[None]}
    scene = WorldScene.from_tracks({k: v[:, 0] for k, v in poses.items()}, 30.0)  # roots only: y = 0
    # The scene: roots +- 0.5 m -> x in [-0.5, 0.5], depth in [2.5, 7.5]; the floor is at least
    # 2 m each way -> x in [-1, 1]; its grid steps 0.25 m (5 m / 0.25 = 20 lines) so the ends
    # stay put. The view's box: 2 m x 5 m floor (radius 2.5), heights 0 .. headroom 1.9, centred
    # 5 m away. Scale: box diagonal over sqrt(5^2 + 5^2 + 1.9^2) per metre; the eye 10 box
    # units from the centre, so depth at distance d is 10 + (d - 5) * scale.
    scale = MPL_BOX_DIAGONAL / np.sqrt(5.0**2 + 5.0**2 + 1.9**2)
    near_depth, far_depth = 10.0 - 2.0 * scale, 10.0 + 2.0 * scale
    people = [PersonPose(k, None, v[0]) for k, v in poses.items()]
    near, far = renderer.layout_3d(people, H, W, scene=scene)
    near_px, far_px = near[0, 1] - near[16, 1], far[0, 1] - far[16, 1]
    assert near_px / far_px == pytest.approx(far_depth / near_depth, rel=1e-9)
    # The floor is symmetric about x = 0, so both poles stand on the panel's middle column.
    np.testing.assert_allclose(np.concatenate([near[:, 0], far[:, 0]]), W + PANEL_W / 2, atol=1e-9)


def test_view_stays_fixed_across_the_clip() -> None:
    renderer = SkeletonRenderer(RenderConfig(trail_seconds=0.0))
    frames = 40
    still = np.repeat(standing_at(-1.0, -4.0)[None], frames, axis=0)
    walker = np.stack([standing_at(-3.0 + 0.15 * t, -6.0) for t in range(frames)])
    late = np.full((frames, 17, 3), np.nan)
    late[20:] = standing_at(3.0, -3.0)  # comes in half way
    scene = scene_of({1: still, 2: walker, 3: late})
    stage = renderer.world.stage(scene, H, PANEL_W)
    empty = renderer.render(background(), [], scene=scene, frame_index=0)
    placed_still = []
    for t in range(0, frames, 7):
        people = [PersonPose(k, None, v[t]) for k, v in ((1, still), (2, walker), (3, late)) if np.isfinite(v[t]).all()]
        placed_still.append(renderer.layout_3d(people, H, W, scene=scene)[0])
        np.testing.assert_array_equal(renderer.render(background(), [], scene=scene, frame_index=t), empty)
    assert renderer.world.stage(scene, H, PANEL_W) is stage  # built once per clip
    for joints in placed_still[1:]:
        np.testing.assert_array_equal(joints, placed_still[0])  # no zoom as others come and go


def test_trail_fades_with_age_and_stops_after_trail_seconds() -> None:
    # 10 fps, a 2 s trail: 20 segments. Track 0 walks 0.1 m per frame along x, 4 m away, and
    # leaves after frame 50. A wide trail (6 px) so segment middles are drawn at full coverage.
    fps, config = 10.0, RenderConfig(trail_seconds=2.0, line_width_3d=7)
    renderer = SkeletonRenderer(config)
    roots = np.array([[-3.0 + 0.1 * k, 0.9, -4.0] for k in range(60)])
    roots[51:] = np.nan
    scene = WorldScene.from_tracks({0: roots}, fps)
    start = renderer.render(background(), [], scene=scene, frame_index=0)  # no trail yet

    def middle(k: int) -> np.ndarray:  # pixel of the middle of segment k -> k + 1
        return floor_pixel(renderer, scene, -3.0 + 0.1 * k + 0.05, -4.0)

    def expected(opacity: float) -> np.ndarray:
        return opacity * np.array(AZURE) + (1 - opacity) * np.array(PANEL)

    out = renderer.render(background(), [], scene=scene, frame_index=50)
    # Segment k's age is that of its older end, (50 - k) / 10 s; opacity 1 - age / 2 s.
    for k, opacity in ((49, 0.95), (45, 0.75), (40, 0.5), (34, 0.2)):
        got = np.array(pixel_at(out, middle(k)))
        assert np.abs(got - expected(opacity)).max() <= 1.0, f"segment {k}: {got} != {expected(opacity)}"
    for k in (30, 25, 5):  # 2 s old or more: nothing drawn, the grid shows as before
        assert pixel_at(out, middle(k)) == pixel_at(start, middle(k))
    # Five frames after the person left, the trail keeps fading: segment 49 is now 0.6 s old.
    gone = renderer.render(background(), [], scene=scene, frame_index=55)
    assert np.abs(np.array(pixel_at(gone, middle(49))) - expected(0.7)).max() <= 1.0
    assert pixel_at(gone, middle(34)) == pixel_at(start, middle(34))


def test_every_path_and_body_fits_in_the_panel() -> None:
    frames = 90
    tracks = {
        0: np.stack([standing_at(-1.0, -2.5) for _ in range(frames)]),  # near the camera
        1: np.stack([standing_at(3.0, -40.0 + 0.3 * k) for k in range(frames)]),  # far away, coming closer
        2: np.stack([standing_at(-8.0 + 0.2 * k, -12.0) for k in range(frames)]),  # crossing wide
    } | {10 + i: np.stack([standing_at(-4.0 + i, -5.0 - i) for _ in range(frames)]) for i in range(10)}
    scene = scene_of(tracks)
    renderer = SkeletonRenderer()
    ws = renderer.world.stage(scene, H, PANEL_W)

    def inside(xy: np.ndarray) -> bool:  # panel pixels
        return bool(((xy[..., 0] >= 0) & (xy[..., 0] < PANEL_W) & (xy[..., 1] >= 0) & (xy[..., 1] < H)).all())

    assert all(inside(trail) for trail in ws.trails.values())
    for k in range(0, frames, 10):
        people = [PersonPose(i, None, v[k]) for i, v in tracks.items()]
        for joints in renderer.layout_3d(people, H, W, scene=scene):
            assert inside(joints - [W, 0.0])
    assert ws.grid_step == 2.5  # 40 m deep: 2.5 m steps, 17 lines that way
    out = renderer.render(background(), people, scene=scene, frame_index=frames - 1)
    assert out.shape == (H, W + PANEL_W, 3)


def test_a_lone_person_standing_still_is_not_blown_up() -> None:
    poses = {0: np.repeat(standing_at(0.3, -3.0)[None], 10, axis=0)}
    scene = scene_of(poses)
    people = [PersonPose(0, None, poses[0][0])]

    def height_px(config: RenderConfig) -> float:
        joints = SkeletonRenderer(config).layout_3d(people, H, W, scene=scene)[0]
        return float(joints[3, 1] - joints[10, 1])

    # At least 2 m of floor each way: the person stays well within the panel's height.
    default, tight = height_px(RenderConfig()), height_px(RenderConfig(world_min_extent=0.5))
    assert 0.25 * H < default < 0.6 * H and tight > 1.2 * default


def test_joints_behind_the_eye_and_wild_values_are_skipped() -> None:
    scene = scene_of({0: standing_at(0.0, -4.0)[None]})
    pose = standing_at(0.0, -4.0)
    pose[16] = [0.0, 1.0, 500.0]  # far behind the camera, and behind the view's eye
    pose[13] = [1e9, -1e9, 1e9]
    pose[2] = np.nan
    renderer = SkeletonRenderer()
    joints = renderer.layout_3d([PersonPose(0, None, pose)], H, W, scene=scene)[0]
    assert np.isnan(joints[[16, 13, 2]]).all() and np.isfinite(np.delete(joints, [16, 13, 2], axis=0)).all()
    out = renderer.render(background(), [PersonPose(0, None, pose, filled=True)], scene=scene, frame_index=0)
    assert out.shape == (H, W + PANEL_W, 3)
    # A scene without any path still draws a floor.
    empty = WorldScene.from_tracks({}, 25.0)
    assert empty.num_frames == 0 and np.isnan(empty.lo).all()
    panel = renderer.render(background(), [], scene=empty, frame_index=3)[:, W:]
    assert (panel != PANEL).any(axis=2).sum() > 2000


def test_slots_layout_is_unchanged() -> None:
    # Pixels of the pelvis, right ankle and head top in the slots layout before the world
    # layout existed (recorded from the previous renderer; the view is the seeds' matplotlib one).
    display_pose = STANDING
    people = [PersonPose(1, front_view(display_pose, 300), display_pose),
              PersonPose(2, front_view(display_pose, 700), display_pose + [1.0, 2.0, 0.0])]
    slots = SkeletonRenderer(RenderConfig(layout="slots"))
    first, second = slots.layout_3d(people, H, W)
    np.testing.assert_allclose(first[[0, 3, 10]], [[1623.4356943152, 352.8157537494],
                                                   [1597.8153307099, 512.0623518498],
                                                   [1622.6037535006, 220.9629407347]], atol=1e-8)
    np.testing.assert_allclose(second[[0, 3, 10]], [[1896.5643056848, 352.8157537494],
                                                    [1866.9412340011, 512.0623518498],
                                                    [1900.0319697854, 220.9629407347]], atol=1e-8)
    plain = slots.render(background(), people)
    scene = WorldScene.from_tracks({1: np.zeros((5, 3))}, 30.0)
    np.testing.assert_array_equal(slots.render(background(), people, scene=scene, frame_index=2), plain)
    # The left half does not depend on the layout.
    world = SkeletonRenderer().render(background(), people, scene=scene, frame_index=2)
    np.testing.assert_array_equal(world[:, :W], plain[:, :W])


def test_bad_layout_and_missing_scene_are_errors() -> None:
    with pytest.raises(ValueError, match="layout must be one of world, slots, got 'orbit'"):
        RenderConfig(layout="orbit")
    with pytest.raises(ValueError, match="trail_seconds"):
        RenderConfig(trail_seconds=-1.0)
    renderer = SkeletonRenderer()
    scene = WorldScene.from_tracks({1: np.zeros((5, 3))}, 30.0)
    with pytest.raises(ValueError, match="world layout needs the clip's WorldScene"):
        renderer.render(background(), [])
    with pytest.raises(ValueError, match="world layout needs the clip's WorldScene"):
        renderer.render(background(), [], scene=scene)
    with pytest.raises(ValueError, match="world layout needs the clip's WorldScene"):
        renderer.layout_3d([], H, W)
    with pytest.raises(ValueError, match="frame_index 5 is outside the scene's 5 frames"):
        renderer.render(background(), [], scene=scene, frame_index=5)
    with pytest.raises(ValueError, match=r"roots must all be \(T, 3\) with one T"):
        WorldScene.from_tracks({1: np.zeros((5, 3)), 2: np.zeros((6, 3))}, 30.0)
    with pytest.raises(ValueError, match="fps must be > 0"):
        WorldScene.from_tracks({}, 0.0)
