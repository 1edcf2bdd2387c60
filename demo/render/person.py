"""What the renderer draws for one person in one frame: :class:`PersonPose`."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from core.joints import (
    COCO_BONE_SIDES,
    COCO_BONES,
    COCO_JOINT_SIDES,
    H36M_BONE_SIDES,
    H36M_BONES,
    H36M_JOINT_SIDES,
    Side,
)
from core.coco_to_h36m import coco_to_h36m

NUM_JOINTS = 17
PELVIS = 0


class Skeleton2D(Enum):
    """Joint order of a person's 2D keypoints."""

    H36M = "h36m"
    COCO = "coco"

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        return H36M_BONES if self is Skeleton2D.H36M else COCO_BONES

    @property
    def bone_sides(self) -> tuple[Side, ...]:
        return H36M_BONE_SIDES if self is Skeleton2D.H36M else COCO_BONE_SIDES


#: Side of every joint, so a joint dot takes the colour of its limb.
JOINT_SIDES: dict[Skeleton2D, tuple[Side, ...]] = {Skeleton2D.H36M: H36M_JOINT_SIDES, Skeleton2D.COCO: COCO_JOINT_SIDES}


@dataclass
class PersonPose:
    """One person in one frame.

    Attributes:
        track_id: stable id of the person's track; picks their colour.
        keypoints_2d: ``(17, 2)`` pixels (x, y) in the input frame, or None; NaN marks a
            missing joint (not drawn).
        keypoints_3d: ``(17, 3)`` metres, Human3.6M order, or None; NaN marks a missing
            joint (not drawn). World space (Y up, floor y = 0) for the "world" layout, the
            display frame (z up) for "slots" (``RenderConfig.layout``).
        scores_2d: ``(17,)`` confidence of each 2D keypoint, in ``skeleton_2d`` order, or
            None (all confident). Scores are meant to lie in [0, 1]; joints scoring below
            ``RenderConfig.min_score``, or NaN, are drawn faded in both panels (a 3D joint
            takes the score of its 2D joint; for COCO keypoints, the score the COCO ->
            Human3.6M conversion gives it). Booleans work too: False is faded.
        filled: this frame's pose was interpolated between detections (the tracker
            missed the person); drawn with dashed bones, hollow joints and a tag.
        skeleton_2d: joint order of ``keypoints_2d`` and ``scores_2d``.

    Raises:
        ValueError: an array of the wrong shape or not numeric.
        TypeError: ``filled`` is not a bool.
    """

    track_id: int
    keypoints_2d: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None
    scores_2d: np.ndarray | None = None
    filled: bool = False
    skeleton_2d: Skeleton2D = Skeleton2D.H36M

    def __post_init__(self) -> None:
        self.track_id = int(self.track_id)
        self.skeleton_2d = Skeleton2D(self.skeleton_2d)
        self.keypoints_2d = _as_array("keypoints_2d", self.keypoints_2d, (NUM_JOINTS, 2))
        self.keypoints_3d = _as_array("keypoints_3d", self.keypoints_3d, (NUM_JOINTS, 3))
        self.scores_2d = _as_array("scores_2d", self.scores_2d, (NUM_JOINTS,))
        if not isinstance(self.filled, (bool, np.bool_)):
            raise TypeError(f"PersonPose.filled must be a bool, got {type(self.filled).__name__} {self.filled!r}")
        self.filled = bool(self.filled)

    def confident_2d(self, min_score: float) -> np.ndarray:
        """``(17,)`` bool in ``skeleton_2d`` order: the 2D joints drawn at full strength."""
        if self.scores_2d is None:
            return np.ones(NUM_JOINTS, dtype=bool)
        with np.errstate(invalid="ignore"):
            return self.scores_2d >= min_score  # NaN compares False: faded

    def confident_3d(self, min_score: float) -> np.ndarray:
        """``(17,)`` bool in Human3.6M order: the 3D joints drawn at full strength (those
        whose 2D joint is confident)."""
        if self.scores_2d is None or self.skeleton_2d is Skeleton2D.H36M:
            return self.confident_2d(min_score)
        _, h36m_scores = coco_to_h36m(np.zeros((NUM_JOINTS, 2)), self.scores_2d)
        with np.errstate(invalid="ignore"):
            return h36m_scores >= min_score


def _as_array(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray | None:
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"PersonPose.{name} must be a numeric array of shape {shape}: {e}") from None
    if array.shape != shape:
        raise ValueError(f"PersonPose.{name} must have shape {shape}, got {array.shape}")
    return array
