"""The side-by-side renderer in the slots layout (the world layout: test_render_world.py):
sizes, colours, the 3D view's projection, robustness, faded low-score joints and
interpolated poses (speed: bench/bench_render.py)."""
from __future__ import annotations

import numpy as np
import pytest

from core.joints import COCO_BONES, H36M_BONE_SIDES, H36M_BONES, Side
from demo.render import (
    MPL_BOX_DIAGONAL,
    MPL_EYE_DISTANCE,
    PersonPose,
    RenderConfig,
    SeedView,
    Skeleton2D,
    SkeletonRenderer,
    person_colours,
)

#: A standing Human3.6M skeleton, (17, 3) metres, z up, facing +y (its right is +x),
#: arms held away from the body so no bone hides another in either panel.
STANDING = np.array([
    [0.00, 0.00, 0.95], [0.13, 0.00, 0.93], [0.14, 0.01, 0.50], [0.15, -0.02, 0.08],
    [-0.13, 0.00, 0.93], [-0.14, 0.01, 0.50], [-0.15, -0.02, 0.08],
    [0.00, -0.01, 1.18], [0.00, 0.00, 1.42], [0.00, 0.07, 1.52], [0.00, 0.02, 1.66],
    [-0.18, 0.00, 1.41], [-0.40, 0.00, 1.20], [-0.55, 0.04, 1.05],
    [0.18, 0.00, 1.41], [0.40, 0.00, 1.20], [0.55, 0.04, 1.05],
])  # fmt: skip
#: The seeds' side-by-side slots, whose 3D keypoints are in the display frame (z up).
SLOTS = RenderConfig(layout="slots")
SPINE, RIGHT_THIGH, LEFT_THIGH = H36M_BONES.index((0, 7)), H36M_BONES.index((1, 2)), H36M_BONES.index((4, 5))


def front_view(pose: np.ndarray, centre_x: float, feet_y: float = 650.0, height_px: float = 330.0) -> np.ndarray:
    """``(17, 2)`` pixels of ``pose`` seen front-on (its right on the image's left)."""
    scale = height_px / 1.7
    return np.stack([centre_x - scale * pose[:, 0], feet_y - scale * pose[:, 2]], axis=-1)


def background(height: int = 720, width: int = 1280) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def person(track_id: int, centre_x: float, pose: np.ndarray = STANDING, **kwargs: object) -> PersonPose:
    return PersonPose(track_id, front_view(pose, centre_x), pose.copy(), **kwargs)


def pixel_at(image: np.ndarray, xy: np.ndarray) -> tuple[int, ...]:
    x, y = np.round(xy).astype(int)
    return tuple(int(v) for v in image[y, x])


def bone_midpoint_2d(p: PersonPose, bone: int) -> np.ndarray:
    a, b = H36M_BONES[bone]
    return (p.keypoints_2d[a] + p.keypoints_2d[b]) / 2


def bone_midpoint_3d(joints: np.ndarray, bone: int) -> np.ndarray:
    a, b = H36M_BONES[bone]
    return (joints[a] + joints[b]) / 2


def test_output_size_is_even_and_left_panel_is_the_input() -> None:
    for height, width, panel in ((720, 1280, None), (481, 641, None), (101, 33, 51), (64, 64, 17)):
        frame = background(height, width)
        renderer = SkeletonRenderer(RenderConfig(layout="slots", panel_width=panel))
        out = renderer.render(frame, [])
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0
        assert out.shape[0] == height + height % 2 and out.shape[1] > width
        assert out.shape[:2] == renderer.output_size(height, width)
        np.testing.assert_array_equal(out[:height, :width], frame)
    assert SkeletonRenderer(SLOTS).render(background(), []).shape == (720, 1280 + 960, 3)


def test_empty_panel_still_has_the_grid() -> None:
    config = SLOTS
    out = SkeletonRenderer(config).render(background(), [])
    panel = out[:, 1280:]
    off_background = (panel != config.panel_colour).any(axis=2)
    assert off_background.sum() > 2000, "ground grid missing"
    # Grid lines are grey: no saturated (person) colours in an empty panel.
    drawn = panel[off_background].astype(int)
    assert (drawn.max(axis=1) - drawn.min(axis=1)).max() <= 2


def test_3d_panel_draws_the_skeleton() -> None:
    renderer = SkeletonRenderer(SLOTS)
    frame = background()
    empty = renderer.render(frame, [])
    people = [person(4, 640)]
    out = renderer.render(frame, people)
    joints = renderer.layout_3d(people, 720, 1280)[0]
    assert joints is not None and (joints[:, 0] >= 1280).all() and (joints[:, 0] < out.shape[1]).all()
    assert ((joints[:, 1] >= 0) & (joints[:, 1] < 720)).all()
    for bone in range(len(H36M_BONES)):
        assert pixel_at(out, bone_midpoint_3d(joints, bone)) != pixel_at(empty, bone_midpoint_3d(joints, bone))
    changed = (out[:, 1280:] != empty[:, 1280:]).any(axis=2)
    assert 500 < changed.sum() < 0.2 * changed.size


def test_track_colours_match_across_frames_and_panels() -> None:
    renderer = SkeletonRenderer(SLOTS)
    walking = STANDING.copy()
    walking[[2, 3], 1] += 0.2  # a different pose in the second frame
    frames = [
        [person(7, 400)],
        [person(2, 300), person(7, 900, walking), person(11, 1100)],  # other people move 7's slot
    ]
    for people in frames:
        out = renderer.render(background(), people)
        target = next(p for p in people if p.track_id == 7)
        joints = renderer.layout_3d(people, 720, 1280)[people.index(target)]
        for bone in (SPINE, RIGHT_THIGH, LEFT_THIGH):
            expected = renderer.colours(7).by_side[H36M_BONE_SIDES[bone]]
            assert pixel_at(out, bone_midpoint_2d(target, bone)) == expected, f"2D bone {bone}"
            assert pixel_at(out, bone_midpoint_3d(joints, bone)) == expected, f"3D bone {bone}"


def test_left_right_and_people_get_different_colours() -> None:
    renderer = SkeletonRenderer(SLOTS)
    people = [person(0, 640)]
    out = renderer.render(background(), people)
    joints = renderer.layout_3d(people, 720, 1280)[0]
    left_2d = pixel_at(out, bone_midpoint_2d(people[0], LEFT_THIGH))
    right_2d = pixel_at(out, bone_midpoint_2d(people[0], RIGHT_THIGH))
    left_3d = pixel_at(out, bone_midpoint_3d(joints, LEFT_THIGH))
    right_3d = pixel_at(out, bone_midpoint_3d(joints, RIGHT_THIGH))
    assert left_2d != right_2d and left_3d != right_3d
    assert H36M_BONE_SIDES[LEFT_THIGH] is Side.LEFT and H36M_BONE_SIDES[RIGHT_THIGH] is Side.RIGHT
    config = RenderConfig()
    bases = {person_colours(i, config).base for i in range(len(config.palette))}
    assert len(bases) == len(config.palette)
    assert person_colours(3, config) == person_colours(3 + len(config.palette), config)


def test_missing_and_outside_joints_are_skipped_without_crashing() -> None:
    renderer = SkeletonRenderer(SLOTS)
    frame = background()
    reference = person(1, 640)
    nan_knee = person(1, 640)
    nan_knee.keypoints_2d[2] = np.nan
    nan_knee.keypoints_3d[2] = np.nan
    out = renderer.render(frame, [nan_knee])
    joints = renderer.layout_3d([reference], 720, 1280)[0]
    empty = renderer.render(frame, [])
    # The right thigh (hip -> NaN knee) is gone from both panels.
    at_2d, at_3d = bone_midpoint_2d(reference, RIGHT_THIGH), bone_midpoint_3d(joints, RIGHT_THIGH)
    assert pixel_at(out, at_2d) == pixel_at(frame, at_2d)
    assert pixel_at(out, at_3d) == pixel_at(empty, at_3d)

    wild_2d = front_view(STANDING, 640)
    wild_2d[:4] = [[-300.0, 100.0], [1e12, -1e12], [np.inf, 5.0], [5000.0, 5000.0]]
    wild_3d = STANDING.copy()
    wild_3d[0] = np.nan  # no pelvis: anchored on the other joints
    wild_3d[16] = [20.0, 60.0, 5.0]  # far toward the eye, behind it
    wild_3d[13] = [1e9, -1e9, 1e9]
    crowd = [
        PersonPose(5, wild_2d, wild_3d, scores_2d=np.arange(17) % 2 == 0, filled=True),
        PersonPose(6, None, np.full((17, 3), np.nan)),
        PersonPose(7, front_view(STANDING, -2000), None),  # entirely left of the frame
        PersonPose(8, front_view(STANDING, 100)[[0] * 17], STANDING, skeleton_2d=Skeleton2D.COCO),
    ] + [person(20 + i, 100 * i) for i in range(6)]  # more people than slots
    out = renderer.render(frame, crowd)
    assert out.shape == renderer.output_size(720, 1280) + (3,)
    assert len(renderer.layout_3d(crowd, 720, 1280)) == len(crowd)


def test_coco_keypoints_draw_coco_bones() -> None:
    renderer = SkeletonRenderer(SLOTS)
    frame = background()
    # COCO joints taken from the standing H36M pose; eyes and ears spread around the head.
    from_h36m = [9, 10, 10, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
    xy = front_view(STANDING, 640)[from_h36m]
    xy[1:5] += [[8.0, 0.0], [-8.0, 0.0], [16.0, 6.0], [-16.0, 6.0]]
    out = renderer.render(frame, [PersonPose(3, xy, None, skeleton_2d="coco")])
    a, b = COCO_BONES.index((11, 13)), COCO_BONES.index((12, 14))  # left / right thigh in COCO
    for bone, side in ((a, Side.LEFT), (b, Side.RIGHT)):
        i, j = COCO_BONES[bone]
        mid = (xy[i] + xy[j]) / 2
        assert pixel_at(out, mid) == renderer.colours(3).by_side[side]


def test_render_is_deterministic() -> None:
    people = [person(1, 300), person(2, 700), person(9, 1000)]
    first = SkeletonRenderer(SLOTS).render(background(), people)
    renderer = SkeletonRenderer(SLOTS)
    renderer.render(background(), [person(4, 500)])  # caches from another frame must not leak in
    np.testing.assert_array_equal(renderer.render(background(), people), first)
    np.testing.assert_array_equal(renderer.render(background(), people), first)


def test_people_are_placed_left_to_right_and_zoom_only_beyond_the_slots() -> None:
    renderer = SkeletonRenderer(RenderConfig(layout="slots", slots=3))

    def placed(people: list[PersonPose]) -> list[np.ndarray]:
        return [j for j in renderer.layout_3d(people, 720, 1280) if j is not None]

    right_first = [person(1, 1000), person(2, 200)]
    pelvis_x = [joints[0, 0] for joints in placed(right_first)]
    assert pelvis_x[0] > pelvis_x[1], "the person on the image's right stands on the right"

    def height_px(people: list[PersonPose]) -> float:
        joints = placed(people)[0]
        return float(joints[3, 1] - joints[10, 1])  # ankle below the head

    one, three = height_px([person(1, 640)]), height_px([person(i, 100 * i) for i in range(1, 4)])
    five = height_px([person(i, 100 * i) for i in range(1, 6)])
    assert one > 0 and one == pytest.approx(three, rel=0.02) and five < 0.8 * three


def test_straight_up_projects_upward() -> None:
    view = SeedView(15.0, 70.0, 0.72, (0.0, 1.44))
    plane, depth = view.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert plane[1, 1] > plane[0, 1] and abs(plane[1, 0] - plane[0, 0]) < 1e-12
    assert (depth > 0).all()
    joints = SkeletonRenderer(SLOTS).layout_3d([person(1, 640)], 720, 1280)[0]
    assert joints[10, 1] < joints[0, 1] < joints[3, 1]  # head above pelvis above ankle, in pixels


def test_azim_70_matches_hand_computed_projection() -> None:
    elev, azim, delta = np.deg2rad(15.0), np.deg2rad(70.0), 0.5
    view = SeedView(15.0, 70.0, 0.72, (0.0, 1.44))
    # Equal axes: the box diagonal is split evenly over a 1.44 m cube.
    k = MPL_BOX_DIAGONAL / np.sqrt(3) / 1.44
    centre = np.array([0.0, 0.0, 0.72])
    ce, se, ca, sa = np.cos(elev), np.sin(elev), np.cos(azim), np.sin(azim)
    # Offsets along world x, y, z from the box centre. The eye looks from (ce ca, ce sa, se);
    # screen right is (-sa, ca, 0), screen up (-se ca, -se sa, ce).
    expected = {
        (1, 0, 0): (-sa, -se * ca, ce * ca),
        (0, 1, 0): (ca, -se * sa, ce * sa),
        (0, 0, 1): (0.0, ce, se),
    }
    for axis, (right, up, toward_eye) in expected.items():
        plane, depth = view.project(centre + delta * np.array(axis, dtype=float))
        distance = MPL_EYE_DISTANCE - toward_eye * delta * k
        np.testing.assert_allclose(plane, [right * delta * k / distance, up * delta * k / distance], atol=1e-12)
        assert depth == pytest.approx(distance)
    # At azim 70 world +x points mostly to the screen's left, +y to its right.
    plane, _ = view.project(np.array([[0.5, 0.0, 0.72], [0.0, 0.5, 0.72]]))
    assert plane[0, 0] < -0.02 and plane[1, 0] > 0.01


@pytest.mark.parametrize("box_aspect", [None, (4.0, 4.0, 3.0)])
def test_projection_equals_matplotlib(box_aspect: tuple[float, float, float] | None) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d import proj3d

    fig = plt.figure()
    try:
        ax = fig.add_subplot(projection="3d")
        ax.view_init(elev=15.0, azim=70.0)
        ax.set_xlim3d([-0.72, 0.72])
        ax.set_ylim3d([-0.72, 0.72])
        ax.set_zlim3d([0.0, 1.44])
        ax.set_box_aspect((1.0, 1.0, 1.0) if box_aspect is None else box_aspect)
        points = np.random.default_rng(1).uniform([-0.8, -0.8, -0.1], [0.8, 0.8, 1.8], size=(50, 3))
        xs, ys, _ = proj3d.proj_transform(points[:, 0], points[:, 1], points[:, 2], ax.get_proj())
    finally:
        plt.close(fig)
    plane, _ = SeedView(15.0, 70.0, 0.72, (0.0, 1.44), box_aspect).project(points)
    np.testing.assert_allclose(plane, np.stack([xs, ys], axis=-1), atol=1e-12)


def test_person_pose_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"keypoints_2d must have shape \(17, 2\)"):
        PersonPose(1, np.zeros((16, 2)))
    with pytest.raises(ValueError, match="keypoints_3d"):
        PersonPose(1, None, np.zeros((17, 2)))
    with pytest.raises(ValueError, match="uint8"):
        SkeletonRenderer(SLOTS).render(np.zeros((10, 10, 3), np.float32), [])


# ---- confidence and interpolated poses ----------------------------------------------------

GREY = (100, 100, 100)
HEAD, NECK, THORAX, PELVIS_J, LEFT_ELBOW, LEFT_WRIST = 10, 9, 8, 0, 12, 13
HEAD_BONE, NECK_BONE = H36M_BONES.index((9, 10)), H36M_BONES.index((8, 9))
RIGHT_SHIN, LEFT_SHIN = H36M_BONES.index((2, 3)), H36M_BONES.index((5, 6))


def grey_frame() -> np.ndarray:
    return np.full((720, 1280, 3), GREY, dtype=np.uint8)


def assert_colour(actual: tuple[int, ...], expected: tuple[float, float, float], tol: float = 1.0) -> None:
    assert np.abs(np.subtract(actual, expected)).max() <= tol, f"{actual} != {expected}"


def test_low_score_joint_is_faded_in_both_panels() -> None:
    # Track 0 is azure (255, 170, 0) BGR; its left limbs are tinted 55 % toward white:
    # (255, 170 + 0.55 * 85, 0 + 0.55 * 255) = (255, 216.75, 140.25) -> (255, 217, 140).
    azure, azure_tint = (255, 170, 0), (255, 217, 140)
    # Faded = 35 % of the colour over the background:
    #   over the grey frame: 0.35 * (255, 170, 0) + 0.65 * 100 = (154.25, 124.5, 65)
    #   tint over grey:      0.35 * (255, 217, 140) + 65 = (154.25, 140.95, 114)
    #   over the 3D panel:   0.35 * (255, 170, 0) + 0.65 * 30 = (108.75, 79, 19.5)
    faded_2d, faded_tint_2d, faded_3d = (154.25, 124.5, 65.0), (154.25, 140.95, 114.0), (108.75, 79.0, 19.5)
    scores = np.full(17, 0.9)
    scores[HEAD] = 0.1  # below the default min_score 0.3
    scores[LEFT_WRIST] = np.nan  # unknown counts as low
    low = person(0, 640, scores_2d=scores)
    renderer = SkeletonRenderer(SLOTS)
    out = renderer.render(grey_frame(), [low])

    # front_view: 330 px for 1.7 m, feet at y = 650, x = 640 - 194.1 * X.
    # Head top (0, 0.02, 1.66) -> (640, 650 - 194.12 * 1.66) = (640, 327.8); its dot is faded.
    head = (640, 328)
    assert np.allclose(low.keypoints_2d[HEAD], (640.0, 327.8), atol=0.05)
    assert_colour(pixel_at(out, np.array(head, float)), faded_2d)
    # The neck -> head bone touches it: faded too; mid at (640, (354.9 + 327.8) / 2 = 341.3).
    assert_colour(pixel_at(out, np.array([640.0, 341.3])), faded_2d)
    # Thorax -> neck (y 374.3 .. 354.9) and the pelvis dot (y 465.6) stay at full colour.
    assert pixel_at(out, np.array([640.0, 364.6])) == azure
    assert pixel_at(out, np.array([640.0, 465.6])) == azure
    # Left wrist (-0.55, 0.04, 1.05) -> (746.8, 446.2), NaN score: a faded tint dot; the left
    # elbow (-0.40, 0, 1.20) -> (717.6, 417.1) stays solid.
    assert_colour(pixel_at(out, np.array([746.8, 446.2])), faded_tint_2d)
    assert pixel_at(out, np.array([717.6, 417.1])) == azure_tint
    # Between full colour and background in every channel.
    got = pixel_at(out, np.array(head, float))
    assert all(min(c, g) < v < max(c, g) for v, c, g in zip(got, azure, GREY) if c != g)

    # 3D: the bone to the head inherits the 2D head's low score; the next bone down does not.
    joints = renderer.layout_3d([low], 720, 1280)[0]
    assert_colour(pixel_at(out, bone_midpoint_3d(joints, HEAD_BONE)), faded_3d)
    assert pixel_at(out, bone_midpoint_3d(joints, NECK_BONE)) == azure
    assert pixel_at(out, bone_midpoint_3d(joints, SPINE)) == azure


def test_coco_scores_fade_the_matching_3d_joint() -> None:
    from_h36m = [9, 10, 10, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
    xy = front_view(STANDING, 640)[from_h36m]
    scores = np.full(17, 0.95)
    scores[13] = 0.05  # COCO left knee = Human3.6M left knee (5)
    pose = PersonPose(0, xy, STANDING.copy(), scores_2d=scores, skeleton_2d="coco")
    renderer = SkeletonRenderer(SLOTS)
    out = renderer.render(grey_frame(), [pose])
    joints = renderer.layout_3d([pose], 720, 1280)[0]
    # Left tint (255, 217, 140) at 35 % over the panel's (30, 30, 30): (108.75, 95.45, 68.5).
    for bone in (LEFT_THIGH, LEFT_SHIN):
        assert_colour(pixel_at(out, bone_midpoint_3d(joints, bone)), (108.75, 95.45, 68.5))
    # Right shade: 0.55 * (255, 170, 0) = (140.25, 93.5, 0), solid.
    assert_colour(pixel_at(out, bone_midpoint_3d(joints, RIGHT_THIGH)), (140.25, 93.5, 0.0), tol=0.5)


def test_confident_scores_draw_the_same_picture_as_no_scores() -> None:
    renderer = SkeletonRenderer(SLOTS)
    plain = renderer.render(background(), [person(3, 500), person(4, 900)])
    scored = renderer.render(background(), [person(3, 500, scores_2d=np.full(17, 0.3)),
                                            person(4, 900, scores_2d=np.ones(17, dtype=bool))])
    np.testing.assert_array_equal(scored, plain)


def samples_along(a: np.ndarray, b: np.ndarray, count: int = 80) -> np.ndarray:
    """``(count, 2)`` points on the middle 70 % of the segment a -> b."""
    t = np.linspace(0.15, 0.85, count)[:, None]
    return a + t * (b - a)


def test_filled_frame_is_drawn_differently_from_the_same_pose_detected() -> None:
    renderer = SkeletonRenderer(SLOTS)
    detected, filled = person(0, 640), person(0, 640, filled=True)
    shown = renderer.render(grey_frame(), [detected])
    interpolated = renderer.render(grey_frame(), [filled])
    assert (shown[:, :1280] != interpolated[:, :1280]).any(axis=2).sum() > 200
    assert (shown[:, 1280:] != interpolated[:, 1280:]).any(axis=2).sum() > 200

    # Right shade of azure: 0.55 * (255, 170, 0) -> (140, 94, 0).
    shade = (140, 94, 0)
    # 2D right shin (2 -> 3), 84 px long: solid when detected, dashed (the grey frame
    # shows between dashes) when filled.
    a, b = detected.keypoints_2d[2], detected.keypoints_2d[3]
    solid = [pixel_at(shown, p) for p in samples_along(a, b)]
    dashed = [pixel_at(interpolated, p) for p in samples_along(a, b)]
    assert set(solid) == {shade}
    assert dashed.count(shade) >= 20 and dashed.count(GREY) >= 10
    # Hollow joints: the right knee (0.14, 0.01, 0.50) -> (612.8, 552.9) is a solid dot of
    # its colour when detected, a ring open on the frame when filled.
    assert pixel_at(shown, np.array([612.8, 552.9])) == shade
    assert pixel_at(interpolated, np.array([612.8, 552.9])) == GREY

    # 3D: the same shin dashed over the panel (the panel or its grid shows between dashes).
    joints = renderer.layout_3d([filled], 720, 1280)[0]
    solid = [pixel_at(shown, p) for p in samples_along(joints[2], joints[3])]
    dashed = [pixel_at(interpolated, p) for p in samples_along(joints[2], joints[3])]
    assert set(solid) == {shade}
    assert dashed.count(shade) >= 15 and len([p for p in dashed if max(p) - min(p) <= 2]) >= 15

    # The "interp." tag beside the id label: a dark (40, 40, 40) box that the grey frame lacks.
    # The id label sits above the head top (y 327.8), centred on x = 640 with the tag.
    tag = (interpolated[:328, :1280] == (40, 40, 40)).all(axis=2)
    assert tag.sum() > 100 and not (shown[:328, :1280] == (40, 40, 40)).all(axis=2).any()
    # The id box: columns filled with azure (the tag has only an azure outline); the tag is
    # to its right.
    id_columns = np.flatnonzero((interpolated[:320, :1280] == (255, 170, 0)).all(axis=2).sum(axis=0) > 5)
    tag_columns = np.nonzero(tag)[1]
    assert len(id_columns) > 5 and id_columns.min() < tag_columns.min() and id_columns.mean() < tag_columns.mean()
    no_tag = SkeletonRenderer(RenderConfig(layout="slots", filled_tag=""))
    assert no_tag.render(grey_frame(), [filled])[:, :1280].tolist() != \
        interpolated[:, :1280].tolist()


def test_dashes_split_segments_from_start_to_end() -> None:
    from demo.render.draw import dashes

    # 100 px with 10 px dashes and 5 px gaps: dashes start every 15 px, 7 of them, the last
    # one [90, 100]; 20 px: [0, 10] and [15, 20] (the last dash reaches the end).
    starts, ends, owner = dashes(np.array([[0.0, 0.0], [0.0, 50.0], [np.nan, 0.0]]),
                                 np.array([[100.0, 0.0], [0.0, 70.0], [5.0, 5.0]]), 10.0, 5.0)
    assert owner.tolist() == [0] * 7 + [1] * 2
    np.testing.assert_allclose(starts[:7, 0], [0, 15, 30, 45, 60, 75, 90])
    np.testing.assert_allclose(ends[:7, 0], [10, 25, 40, 55, 70, 85, 100])
    np.testing.assert_allclose(starts[7:], [[0, 50], [0, 65]])
    np.testing.assert_allclose(ends[7:], [[0, 60], [0, 70]])


def test_annotator_and_panel_draw_the_two_halves() -> None:
    from demo.render import Annotator2D, Panel3D

    people = [person(1, 300), person(2, 700, filled=True), person(9, 1000, scores_2d=np.linspace(0, 1, 17))]
    frame = background()
    before = frame.copy()
    out = SkeletonRenderer(SLOTS).render(frame, people)
    left = Annotator2D().annotate(frame, people)
    np.testing.assert_array_equal(frame, before)  # a copy unless told to draw in place
    np.testing.assert_array_equal(left, out[:, :1280])
    np.testing.assert_array_equal(Panel3D().render(people, 720, 960), out[:, 1280:])


def test_scores_and_filled_are_validated() -> None:
    with pytest.raises(ValueError, match=r"scores_2d must have shape \(17,\), got \(17, 1\)"):
        PersonPose(1, np.zeros((17, 2)), scores_2d=np.zeros((17, 1)))
    with pytest.raises(ValueError, match=r"scores_2d must have shape \(17,\), got \(16,\)"):
        PersonPose(1, np.zeros((17, 2)), scores_2d=np.zeros(16))
    with pytest.raises(ValueError, match="scores_2d must be a numeric array"):
        PersonPose(1, np.zeros((17, 2)), scores_2d=["high"] * 17)
    with pytest.raises(TypeError, match="filled must be a bool"):
        PersonPose(1, np.zeros((17, 2)), filled="yes")
    with pytest.raises(TypeError, match="filled must be a bool"):
        PersonPose(1, np.zeros((17, 2)), filled=np.ones(17, dtype=bool))
    pose = PersonPose(1, np.zeros((17, 2)), scores_2d=[np.nan] * 17, filled=np.bool_(True))
    assert pose.filled is True and pose.scores_2d.shape == (17,) and np.isnan(pose.scores_2d).all()
    with pytest.raises(ValueError, match="faded_opacity"):
        RenderConfig(faded_opacity=1.5)
