"""Joint tables of the two skeletons the pipeline uses: COCO-17 (the 2D keypointer's
output) and Human3.6M-17 (the lifters' input and output). The one home for joint names,
bones and sides: the lifter's flip test, the COCO -> Human3.6M conversion, rendering and
exports all read them from here.

Sides are the person's own left and right, as in the datasets.
"""
from __future__ import annotations

from enum import Enum


class Side(Enum):
    LEFT = "left"
    RIGHT = "right"
    CENTRE = "centre"


COCO_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

H36M_JOINTS = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip

#: Bones as (parent, child) joint indices.
H36M_BONES = (
    (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
)  # fmt: skip

COCO_BONES = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip

#: Human3.6M joints on the left / right side of the body, and the root (pelvis).
H36M_LEFT = (4, 5, 6, 11, 12, 13)
H36M_RIGHT = (1, 2, 3, 14, 15, 16)
H36M_ROOT = 0
#: ``flipped[:, j] = pose[:, H36M_FLIP_PERMUTATION[j]]`` swaps every left joint with its right twin.
H36M_FLIP_PERMUTATION = tuple(
    dict(zip(H36M_LEFT + H36M_RIGHT, H36M_RIGHT + H36M_LEFT)).get(j, j) for j in range(len(H36M_JOINTS))
)

COCO_LEFT = tuple(i for i, name in enumerate(COCO_JOINTS) if name.startswith("left_"))
COCO_RIGHT = tuple(i for i, name in enumerate(COCO_JOINTS) if name.startswith("right_"))


def _joint_sides(count: int, left: tuple[int, ...], right: tuple[int, ...]) -> tuple[Side, ...]:
    return tuple(Side.LEFT if j in left else Side.RIGHT if j in right else Side.CENTRE for j in range(count))


#: The side of every joint, so a joint takes the colour of its limb.
H36M_JOINT_SIDES = _joint_sides(len(H36M_JOINTS), H36M_LEFT, H36M_RIGHT)
COCO_JOINT_SIDES = _joint_sides(len(COCO_JOINTS), COCO_LEFT, COCO_RIGHT)


def _bone_sides(bones: tuple[tuple[int, int], ...], joint_sides: tuple[Side, ...]) -> tuple[Side, ...]:
    """A bone is on a side when all its off-centre joints are; one joining both sides is central."""
    out = []
    for a, b in bones:
        sides = {joint_sides[a], joint_sides[b]} - {Side.CENTRE}
        out.append(sides.pop() if len(sides) == 1 else Side.CENTRE)
    return tuple(out)


H36M_BONE_SIDES = _bone_sides(H36M_BONES, H36M_JOINT_SIDES)
COCO_BONE_SIDES = _bone_sides(COCO_BONES, COCO_JOINT_SIDES)
