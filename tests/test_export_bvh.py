"""BVH export (demo/export/bvh.py, rig.py): synthetic motion made by forward kinematics of
known joint angles, written, and read back with an independent BVH reader (bvhio)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.errors import UserError
from core.joints import H36M_BONES, H36M_JOINTS
from demo.export import bvh, rig


def reader() -> ModuleType:
    """bvhio, the independent BVH reader (requirements-dev.txt); its absence skips the test."""
    return pytest.importorskip("bvhio", reason="bvhio (the independent BVH reader, requirements-dev.txt) is not installed")


X, Y, Z = np.eye(3)
PARENT = {child: parent for parent, child in H36M_BONES}
# The T-pose written out by hand: facing +z, Y up, left at +x (the rig's rest pose).
REST = {
    1: -X, 2: -Y, 3: -Y, 4: X, 5: -Y, 6: -Y, 7: Y, 8: Y, 9: Y, 10: Y,
    11: X, 12: X, 13: X, 14: -X, 15: -X, 16: -X,
}  # fmt: skip
LENGTHS = {
    1: 0.13, 2: 0.45, 3: 0.44, 4: 0.13, 5: 0.45, 6: 0.44, 7: 0.24, 8: 0.25, 9: 0.11, 10: 0.12,
    11: 0.15, 12: 0.28, 13: 0.25, 14: 0.15, 15: 0.28, 16: 0.25,
}  # fmt: skip


def rot(axis: np.ndarray, degrees: np.ndarray | float, frames: int) -> np.ndarray:
    """``(frames, 3, 3)`` rotations about ``axis`` by ``degrees`` (scalar or per frame)."""
    angle = np.broadcast_to(np.radians(degrees), (frames,))
    return Rotation.from_rotvec(angle[:, None] * axis).as_matrix()


def forward(root: np.ndarray, local: dict[int, np.ndarray], lengths: dict[int, np.ndarray | float]) -> np.ndarray:
    """``(T, 17, 3)`` positions from local rotations (missing: identity) and per-frame bone lengths."""
    frames = len(root)
    glob = {0: local.get(0, np.broadcast_to(np.eye(3), (frames, 3, 3)))}
    out = np.zeros((frames, 17, 3))
    out[:, 0] = root
    for j in range(1, 17):
        p = PARENT[j]
        out[:, j] = out[:, p] + (glob[p] @ REST[j]) * np.reshape(lengths[j], (-1, 1))
        glob[j] = glob[p] @ local[j] if j in local else glob[p]
    return out


def walking(frames: int = 60, fps: float = 30.0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A person walking and turning 90 degrees, one stride a second: ``(T, 17, 3)`` and
    the knee and elbow flexion angles (degrees) that made it."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * t
    yaw = 90.0 * t / t[-1]
    heading = Rotation.from_rotvec(np.radians(yaw)[:, None] * Y).as_matrix()
    root = np.cumsum(heading @ (Z * 1.2 / fps), axis=0) + np.array([0.0, 0.93, 0.0])
    knee_r, knee_l = 5 + 35 * (1 + np.sin(phase)) / 2, 5 + 35 * (1 - np.sin(phase)) / 2
    elbow_l, elbow_r = 10 + 30 * (1 + np.cos(phase)) / 2, 10 + 30 * (1 - np.cos(phase)) / 2
    local = {
        0: heading @ rot(X, 5.0, frames),                       # lean forward 5 degrees
        1: rot(X, -25 * np.sin(phase), frames),                 # right thigh swings (-x = forward)
        2: rot(X, knee_r, frames),                              # knee flexion (+x: shin backward)
        4: rot(X, 25 * np.sin(phase), frames),
        5: rot(X, knee_l, frames),
        7: rot(X, 8.0, frames),
        8: rot(Y, 10 * np.sin(phase), frames),                  # thorax counter-rotates
        9: rot(X, 20.0, frames),
        11: rot(X, 20 * np.sin(phase), frames) @ rot(Z, -80.0, frames),   # left arm hangs, swings
        12: rot(Y, -elbow_l, frames),                           # elbow flexion: forearm toward +z
        14: rot(X, -20 * np.sin(phase), frames) @ rot(Z, 80.0, frames),
        15: rot(Y, elbow_r, frames),
    }  # fmt: skip
    world = forward(root, local, LENGTHS)
    return world, {"right_knee": knee_r, "left_knee": knee_l, "left_elbow": elbow_l, "right_elbow": elbow_r}


def read_back(path: Path) -> np.ndarray:
    """``(T, 17, 3)`` joint positions by bvhio's forward kinematics, in our joint order."""
    bvhio = reader()
    root = bvhio.readAsHierarchy(str(path))
    frames = bvhio.readAsBvh(str(path)).FrameCount
    out = np.empty((frames, 17, 3))
    index = {name: j for j, name in enumerate(H36M_JOINTS)}
    for f in range(frames):
        root.loadPose(f, recursive=True)
        for joint, _, _ in root.layout():
            out[f, index[joint.Name]] = tuple(joint.PositionWorld)
    return out


def motion_rows(path: Path) -> np.ndarray:
    """The MOTION section's numbers, ``(frames, channels)``."""
    text = path.read_text().split("Frame Time:", 1)[1].split("\n", 1)[1]
    return np.loadtxt(text.splitlines(), ndmin=2)


def test_walking_round_trip_through_an_independent_reader(tmp_path: Path) -> None:
    world, _ = walking()
    report = bvh.write_bvh(tmp_path / "walk_person3.bvh", world, np.ones(len(world), bool), 30, track_id=3)
    assert report.bvh.name == "walk_person3.bvh" and report.side_json.name == "walk_person3.json"
    # a skeleton with the rig's own geometry is reproduced exactly: nothing to normalise
    ours = bvh.bvh_positions(world, np.ones(len(world), bool))
    assert np.abs(ours - world).max() < 1e-9
    assert report.fit_error_mm[1] < 1e-6
    back = read_back(report.bvh)
    assert np.abs(back - world).max() < 1e-3  # within 1 mm (text precision: ~1e-6 m)
    container = reader().readAsBvh(str(report.bvh))
    assert container.FrameCount == len(world)
    assert container.FrameTime == pytest.approx(1 / 30, rel=1e-9)


def test_lifted_like_pose_is_normalised_and_read_back_within_1mm(tmp_path: Path) -> None:
    """Bone lengths that vary, shoulders below and forward of the thorax, noise: the file
    encodes the normalised positions, which keep every limb bone's direction."""
    world, _ = walking(90, fps=29.97)
    rng = np.random.default_rng(7)
    world[:, 11:17] += np.array([0.0, -0.03, 0.02])  # both arms hang from lower, forward shoulders
    world += rng.normal(0.0, 0.004, world.shape)
    present = np.ones(len(world), bool)
    report = bvh.write_bvh(tmp_path / "lifted_person1.bvh", world, present, 29.97)
    ours = bvh.bvh_positions(world, present)
    assert np.abs(read_back(report.bvh) - ours).max() < 1e-3
    # the bones of the file have the median length and, below the branch joints, the input's direction
    for parent, child in H36M_BONES:
        bone_in, bone_out = world[:, child] - world[:, parent], ours[:, child] - ours[:, parent]
        length = np.linalg.norm(bone_out, axis=-1)
        assert np.allclose(length, np.median(np.linalg.norm(bone_in, axis=-1)), atol=1e-9)
        if (parent, child) not in ((0, 1), (0, 4), (8, 11), (8, 14)):  # hips and shoulders: on the rest lines
            cosine = np.einsum("ti,ti->t", bone_in, bone_out) / (np.linalg.norm(bone_in, axis=-1) * length)
            assert cosine.min() > 1 - 1e-9
    distance_mm = np.linalg.norm(world - ours, axis=-1) * 1000
    side = json.loads(report.side_json.read_text())
    assert side["fit_error_mm"]["mean"] == pytest.approx(distance_mm.mean(), abs=1e-3)
    assert side["fit_error_mm"]["max"] == pytest.approx(distance_mm.max(), abs=1e-3)
    assert 5 < side["fit_error_mm"]["mean"] < 60  # the moved shoulders and the noise, not a broken fit
    assert side["frame_time_s"] == pytest.approx(1 / 29.97)


def test_rest_pose_is_a_t_pose_with_median_bone_lengths(tmp_path: Path) -> None:
    frames = 5
    lengths = dict(LENGTHS)
    lengths[3] = np.array([0.40, 0.41, 0.44, 0.45, 0.60])  # right shin: median 0.44
    lengths[12] = np.array([0.30, 0.20, 0.26, 0.90, 0.27])  # left upper arm: median 0.27
    world = forward(np.tile([0.0, 1.0, 0.0], (frames, 1)), {}, lengths)
    report = bvh.write_bvh(tmp_path / "t_person0.bvh", world, np.ones(frames, bool), 25)
    joints = {j.Name: j for j, _, _ in reader().readAsBvh(str(report.bvh)).Root.layout()}
    assert list(joints) == list(H36M_JOINTS)  # depth-first order is the Human3.6M order
    expected = {name: REST[j] * np.median(lengths[j]) for j, name in enumerate(H36M_JOINTS) if j}
    expected["pelvis"] = np.zeros(3)
    for name, offset in expected.items():
        assert np.allclose(tuple(joints[name].Offset), offset, atol=1e-6), name
    assert np.allclose(tuple(joints["right_ankle"].Offset), (0, -0.44, 0), atol=1e-6)
    assert np.allclose(tuple(joints["left_elbow"].Offset), (0.27, 0, 0), atol=1e-6)
    # end sites: feet forward, hands continue the forearms, the head tip up
    assert np.allclose(tuple(joints["left_ankle"].EndSite), (0, 0, 0.35 * 0.44), atol=1e-6)
    assert np.allclose(tuple(joints["left_wrist"].EndSite), (0.35 * 0.25, 0, 0), atol=1e-6)
    assert np.allclose(tuple(joints["right_wrist"].EndSite), (-0.35 * 0.25, 0, 0), atol=1e-6)
    assert np.allclose(tuple(joints["head"].EndSite), (0, 0.5 * 0.12, 0), atol=1e-6)
    assert joints["pelvis"].Channels == ["Xposition", "Yposition", "Zposition", "Yrotation", "Zrotation", "Xrotation"]
    assert all(len(j.Channels) == 3 for name, j in joints.items() if name != "pelvis")
    # a T-pose input is the rest pose: zero rotations, the root where the pelvis is
    rows = motion_rows(report.bvh)
    assert np.allclose(rows[:, :3], [0, 1, 0]) and np.abs(rows[:, 3:]).max() < 1e-6


def test_joint_angles_are_the_ones_that_made_the_motion(tmp_path: Path) -> None:
    world, angles = walking()
    motion = rig.fit_motion(world, rig.Rig(rig.median_bone_lengths(world)))
    local = motion.local_rotations()
    euler = motion.euler_degrees()
    for name, flexion in angles.items():
        j = H36M_JOINTS.index(name)
        turned = np.degrees(Rotation.from_matrix(local[:, j]).magnitude())
        assert np.allclose(turned, flexion, atol=1e-6), name
    # knees are hinges about x (order XYZ: first channel); elbows, where bent enough for the
    # upper arm's twist to follow the arm's plane (25 degrees), about y (order ZXY: last)
    zeros = np.zeros((len(world), 2))
    assert np.allclose(euler[:, 2], np.c_[angles["right_knee"], zeros], atol=1e-6)
    bent = angles["left_elbow"] >= 25
    assert bent.sum() > 10
    assert np.allclose(euler[bent, 12], np.c_[zeros, -angles["left_elbow"]][bent], atol=1e-6)


def test_euler_angles_are_unwrapped_when_turning_around(tmp_path: Path) -> None:
    frames = 73
    yaw = np.linspace(0.0, 720.0, frames)  # two full turns on the spot
    world = forward(np.tile([0.0, 0.9, 0.0], (frames, 1)), {0: rot(Y, yaw, frames)}, LENGTHS)
    report = bvh.write_bvh(tmp_path / "spin_person0.bvh", world, np.ones(frames, bool), 24)
    rows = motion_rows(report.bvh)
    yaw_channel = rows[:, 3]  # root channels: X Y Z position, then Y Z X rotation
    assert np.allclose(yaw_channel - yaw_channel[0], yaw, atol=1e-4)
    assert np.abs(np.diff(rows[:, 3:], axis=0)).max() < 10.0 + 1e-6


def test_straight_limbs_do_not_flip(tmp_path: Path) -> None:
    """An elbow and a knee bending, straightening (where the bend direction is noise) and
    bending again: the limbs' twist stays smooth and no channel jumps."""
    frames = 81
    bend = np.clip(np.abs(np.linspace(-40.0, 40.0, frames)) - 5.0, 0.0, None)  # 35 -> 0 (11 frames) -> 35
    local = {
        11: rot(Z, -70.0, frames), 12: rot(Y, -bend, frames),
        1: rot(X, -20.0, frames), 2: rot(X, bend, frames),
    }  # fmt: skip
    world = forward(np.tile([0.0, 0.9, 0.0], (frames, 1)), local, LENGTHS)
    rng = np.random.default_rng(3)
    world[:, [13, 3]] += rng.normal(0.0, 0.002, (frames, 2, 3))  # noisy wrist and ankle
    motion = rig.fit_motion(world, rig.Rig(rig.median_bone_lengths(world)))
    for joint in (11, 12, 1, 2):  # upper arm, elbow, thigh, knee: per-frame turn (truth: up to 1 degree)
        step = motion.rotations[1:, joint] @ np.swapaxes(motion.rotations[:-1, joint], 1, 2)
        assert np.degrees(Rotation.from_matrix(step).magnitude()).max() < 6.0, H36M_JOINTS[joint]
    euler = motion.euler_degrees()
    assert np.abs(np.diff(euler, axis=0)).max() < 8.0  # 1 degree a frame, noise; a flip is tens
    # outside the straight stretch the upper arm's twist is the true one (the elbow's plane)
    truth = rot(Z, -70.0, frames)
    error = np.degrees(Rotation.from_matrix(motion.rotations[:, 11] @ np.swapaxes(truth, 1, 2)).magnitude())
    assert error[bend >= 25].max() < 4.0  # the 2 mm noise: about 1 degree at 25 degrees of bend


def test_absent_frames_hold_the_nearest_pose_and_are_listed(tmp_path: Path) -> None:
    world, _ = walking(10)
    present = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], bool)
    world[~present] = np.nan
    state = np.where(present, 1, 0)
    state[3] = 2
    report = bvh.write_bvh(tmp_path / "gaps_person2.bvh", world, present, 30, state=state, track_id=2)
    rows = motion_rows(report.bvh)
    # the BVH covers the person's lifetime, video frames 2-7; its frame 0 is video frame 2
    assert len(rows) == 6 and np.isfinite(rows).all()
    nearest = [0, 1, 1, 1, 5, 5]  # video frame 5 is as near 3 as 7: the earlier one
    assert np.array_equal(rows, rows[nearest])
    assert report.filled == [[4, 6]]  # video frames
    side = json.loads(report.side_json.read_text())
    assert side["first_frame"] == 2 and side["filled_ranges"] == [[4, 6]]
    assert side["interpolated_ranges"] == [[3, 3]]
    assert side["present_frames"] == 3 and side["frames"] == 6 and side["track_id"] == 2
    # a present frame with a non-finite joint counts as absent
    world2, _ = walking(6)
    world2[4, 13] = np.nan
    assert bvh.write_bvh(tmp_path / "nan_person0.bvh", world2, np.ones(6, bool), 30).filled == [[4, 4]]


def test_mostly_absent_person_is_written_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world, _ = walking(20)
    present = np.zeros(20, bool)
    present[[0, 19]] = True  # the lifetime is all 20 frames, 2 of them present
    with caplog.at_level(logging.WARNING):
        report = bvh.write_bvh(tmp_path / "rare_person1.bvh", world, present, 30)
    assert report.bvh.is_file() and report.present_frames == 2
    assert "present in only 2 of 20 frames" in caplog.text


def test_all_absent_person_is_skipped_and_the_others_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world, _ = walking(12)
    nobody = np.full_like(world, np.nan)
    with pytest.raises(UserError, match="present in none of the 12 frames"):
        bvh.write_bvh(tmp_path / "x.bvh", nobody, np.zeros(12, bool), 30)
    state = np.ones(12, np.uint8)
    state[4:6] = 2
    people = [(1, world, np.ones(12, bool), state), (2, nobody, np.zeros(12, bool)), (3, world, np.ones(12, bool))]
    with caplog.at_level(logging.WARNING):
        paths = bvh.write_bvh_files(tmp_path / "out", "clip", people, 30)
    names = ["clip_person1.bvh", "clip_person1.json", "clip_person3.bvh", "clip_person3.json"]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    assert json.loads(paths[1].read_text())["interpolated_ranges"] == [[4, 5]]
    assert "clip_person2.bvh: the person is present in none of the 12 frames" in caplog.text


def test_bad_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected world"):
        bvh.write_bvh(tmp_path / "x.bvh", np.zeros((4, 16, 3)), np.ones(4, bool), 30)
