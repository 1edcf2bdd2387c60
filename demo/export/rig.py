"""A person's 3D joint positions as a skeleton animation: a T-pose rig with the person's
median bone lengths, and per frame one rotation per joint plus the pelvis position.

Frames and units: world space of the pipeline (metres, Y up, floor at y = 0, z toward
the camera). The rest pose faces +Z with Y up and the person's left at +X: legs straight
down, spine, neck and head straight up, arms out horizontally (left arm +X, right -X).

Fitting. Every joint's *global* rotation ``R`` maps the rest pose onto the frame's pose:
``R`` swings the joint's bone (to its one aimed child) from its rest direction onto the
measured direction, and a twist about that bone is set by a neighbouring line:

* pelvis and spine: the hip line (right hip -> left hip, +X at rest);
* thorax and neck: the shoulder line (right shoulder -> left shoulder, +X at rest);
* thighs and upper arms: the limb's bend, the direction in which the knee or elbow is
  bent (the shin bends toward -Z at rest, the forearm toward +Z), so knees and elbows
  are hinges. A straight limb has no bend direction: its twist then fades (over bends of
  5 to 25 degrees) to the one carried over from the parent (the rest bend direction
  swung along with the bone), so a limb passing through straight never flips;
* knees and elbows: swing only, relative to the parent's rotation;
* ankles, wrists and head (leaves): the parent's rotation (their end sites follow).

For the line-twisted joints this is ``R = F_now @ F_rest.T`` with ``F`` the orthonormal
frame of (bone direction, line orthogonalised against it). A joint's local rotation, the
one written to a BVH, is ``R_parent.T @ R``.

Normalisation. The rig has fixed bone lengths and fixed rest offsets, so its forward
kinematics (:meth:`Motion.positions`) differs from the input: every bone keeps its
measured direction but takes the person's median length, and the three bones leaving a
branch joint (pelvis: hips and spine; thorax: neck and shoulders) keep the rest angles
between them (hips opposite each other and square to the spine, likewise the shoulders
and the neck), so a hip or shoulder that the input has forward of or below that line
moves onto it, carrying its limb along. :func:`fit_error_mm` measures the difference.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from core.joints import H36M_BONES, H36M_JOINTS

NUM_JOINTS = len(H36M_JOINTS)
PARENT: tuple[int, ...] = tuple([-1] + [{c: p for p, c in H36M_BONES}[j] for j in range(1, NUM_JOINTS)])
CHILDREN: tuple[tuple[int, ...], ...] = tuple(tuple(c for p, c in H36M_BONES if p == j) for j in range(NUM_JOINTS))

_X, _Y, _Z = np.eye(3)

#: Rest direction of the bone from each joint's parent to the joint (pelvis: none).
REST_DIRECTION = np.array([
    (0, 0, 0), -_X, -_Y, -_Y, _X, -_Y, -_Y,   # pelvis, right leg, left leg
    _Y, _Y, _Y, _Y,                          # spine, thorax, neck/nose, head
    _X, _X, _X, -_X, -_X, -_X,               # left arm, right arm
], dtype=np.float64)  # fmt: skip

#: Leaf joints and the rest direction of their end site, as a fraction of the leaf's own bone:
#: feet point forward (ankle to toes ~ 0.35 shin), hands continue the forearm, the head tip goes up.
END_SITES: dict[int, tuple[np.ndarray, float]] = {
    3: (_Z, 0.35), 6: (_Z, 0.35), 10: (_Y, 0.5), 13: (_X, 0.35), 16: (-_X, 0.35),
}  # fmt: skip

#: Euler order of each joint's local rotation (intrinsic, the BVH channel order). The middle
#: angle is gimbal-locked at +-90 degrees, so it is the axis each joint turns least about:
#: roll (Z) for the trunk, the bone's twist (Y) for the legs, the twist (X) for the arms.
EULER_ORDER: tuple[str, ...] = (
    "YZX", "XYZ", "XYZ", "XYZ", "XYZ", "XYZ", "XYZ",
    "YZX", "YZX", "YZX", "YZX",
    "ZXY", "ZXY", "ZXY", "ZXY", "ZXY", "ZXY",
)  # fmt: skip


@dataclass(frozen=True)
class _Aim:
    """How one joint's rotation is found: the child its bone aims at and what sets the twist.

    ``line``: (a, b) joints whose line ``p[b] - p[a]`` (orthogonalised) is ``twist_rest`` at rest.
    ``bend``: the grandchild; the bend direction of (joint -> child -> grandchild) is ``twist_rest``.
    Neither: swing only.
    """

    child: int
    line: tuple[int, int] | None = None
    bend: int | None = None
    twist_rest: np.ndarray | None = None


_AIMS: dict[int, _Aim] = {
    0: _Aim(7, line=(1, 4), twist_rest=_X),
    7: _Aim(8, line=(1, 4), twist_rest=_X),
    8: _Aim(9, line=(14, 11), twist_rest=_X),
    9: _Aim(10, line=(14, 11), twist_rest=_X),
    1: _Aim(2, bend=3, twist_rest=-_Z),
    4: _Aim(5, bend=6, twist_rest=-_Z),
    11: _Aim(12, bend=13, twist_rest=_Z),
    14: _Aim(15, bend=16, twist_rest=_Z),
    2: _Aim(3), 5: _Aim(6), 12: _Aim(13), 15: _Aim(16),
}  # fmt: skip

# A twist reference closer than this to the bone (sine of the angle) is unreliable: its weight
# ramps from 0 at 5 degrees to 1 at 25 degrees.
_TWIST_SIN_LOW, _TWIST_SIN_HIGH = np.sin(np.radians(5.0)), np.sin(np.radians(25.0))
_EPS = 1e-9


@dataclass(frozen=True)
class Rig:
    """The rest pose: ``lengths (17,)`` metres, bone from the joint's parent (pelvis 0);
    ``offsets (17, 3)`` each joint's rest offset from its parent (the BVH OFFSETs)."""

    lengths: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        return REST_DIRECTION * self.lengths[:, None]

    def end_site(self, joint: int) -> np.ndarray:
        """``(3,)`` rest offset of a leaf joint's end site, metres."""
        direction, fraction = END_SITES[joint]
        return direction * fraction * self.lengths[joint]


def median_bone_lengths(world: np.ndarray) -> np.ndarray:
    """``(17,)`` median length of each bone (parent -> joint) over the frames given, metres.

    Args:
        world: ``(T, 17, 3)`` positions, every frame finite, ``T >= 1``.
    """
    lengths = np.zeros(NUM_JOINTS)
    for j in range(1, NUM_JOINTS):
        lengths[j] = np.median(np.linalg.norm(world[:, j] - world[:, PARENT[j]], axis=-1))
    return lengths


@dataclass
class Motion:
    """A rig animated: ``root (T, 3)`` pelvis position, metres; ``rotations (T, 17, 3, 3)``
    each joint's global rotation (rest pose -> frame)."""

    rig: Rig
    root: np.ndarray
    rotations: np.ndarray

    def positions(self) -> np.ndarray:
        """``(T, 17, 3)`` forward kinematics: the normalised joint positions, metres."""
        out = np.empty((len(self.root), NUM_JOINTS, 3))
        out[:, 0] = self.root
        offsets = self.rig.offsets
        for j in range(1, NUM_JOINTS):
            p = PARENT[j]
            out[:, j] = out[:, p] + self.rotations[:, p] @ offsets[j]
        return out

    def local_rotations(self) -> np.ndarray:
        """``(T, 17, 3, 3)`` each joint's rotation relative to its parent (the pelvis: global)."""
        local = self.rotations.copy()
        for j in range(1, NUM_JOINTS):
            local[:, j] = np.swapaxes(self.rotations[:, PARENT[j]], -1, -2) @ self.rotations[:, j]
        return local

    def euler_degrees(self) -> np.ndarray:
        """``(T, 17, 3)`` local rotations as intrinsic Euler angles in :data:`EULER_ORDER`,
        degrees, continuous across frames (no 360-degree wraps, no switches between the two
        equivalent solutions), so that interpolated animation curves do not jump."""
        local = self.local_rotations()
        raw = np.stack([_euler(local[:, j], EULER_ORDER[j]) for j in range(NUM_JOINTS)], axis=1)
        return _unwrap_euler(raw)


def fit_motion(world: np.ndarray, rig: Rig) -> Motion:
    """Rotations that pose ``rig`` like ``world`` (see the module docstring).

    Args:
        world: ``(T, 17, 3)`` joint positions, metres, every frame finite.
        rig: the rest pose (bone lengths); only directions of ``world`` are used below the root.
    """
    world = np.asarray(world, dtype=np.float64)
    frames = len(world)
    rotations = np.empty((frames, NUM_JOINTS, 3, 3))
    identity = np.broadcast_to(np.eye(3), (frames, 3, 3))
    for j in range(NUM_JOINTS):  # parents come first in H36M order
        parent_rot = identity if j == 0 else rotations[:, PARENT[j]]
        aim = _AIMS.get(j)
        if aim is None:  # a leaf: keeps its parent's orientation
            rotations[:, j] = parent_rot
            continue
        rest_dir = REST_DIRECTION[aim.child]
        carried = parent_rot @ rest_dir  # where the bone would point with no rotation of its own
        bone = world[:, aim.child] - world[:, j]
        bone_len = np.linalg.norm(bone, axis=-1, keepdims=True)
        direction = np.where(bone_len > _EPS, bone / np.maximum(bone_len, _EPS), carried)
        rot = _swing(carried, direction) @ parent_rot
        if aim.twist_rest is not None:
            if aim.line is not None:
                reference = world[:, aim.line[1]] - world[:, aim.line[0]]
            else:  # the bend: where the next bone leaves this bone's line
                reference = world[:, aim.bend] - world[:, aim.child]
            rot = _twist_towards(rot, direction, aim.twist_rest, reference)
        rotations[:, j] = rot
    return Motion(rig=rig, root=world[:, 0].copy(), rotations=rotations)


def fit_error_mm(world: np.ndarray, normalised: np.ndarray) -> tuple[float, float]:
    """Mean and max distance between input and normalised joint positions, millimetres."""
    dist = np.linalg.norm(np.asarray(world) - normalised, axis=-1) * 1000.0
    return float(dist.mean()), float(dist.max())


def _euler(rotations: np.ndarray, order: str) -> np.ndarray:
    with warnings.catch_warnings():  # exactly gimbal-locked frames are still decomposed correctly
        warnings.simplefilter("ignore", UserWarning)
        return Rotation.from_matrix(rotations).as_euler(order.upper(), degrees=True)


def _unwrap_euler(raw: np.ndarray) -> np.ndarray:
    """``(T, J, 3)`` Tait-Bryan angles, degrees, each frame's the solution nearest the
    previous frame's: of the two equivalent triples ``(a, b, c)`` and
    ``(a + 180, 180 - b, c + 180)``, each shifted by whole turns, the one that changes least."""
    alternative = raw + np.array([180.0, 0.0, 180.0])
    alternative[..., 1] = 180.0 - raw[..., 1]
    candidates = np.stack([raw, alternative], axis=2)  # (T, J, 2, 3)
    joints = np.arange(raw.shape[1])
    out = np.empty_like(raw)
    previous = raw[0]
    for t in range(len(raw)):  # sequential by nature; vectorised over joints
        shifted = candidates[t] + 360.0 * np.round((previous[:, None] - candidates[t]) / 360.0)
        pick = np.abs(shifted - previous[:, None]).sum(axis=-1).argmin(axis=-1)
        out[t] = previous = shifted[joints, pick]
    return out


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` the smallest rotations taking unit vectors ``a`` onto ``b`` (``(T, 3)``).
    Opposite vectors: a half turn about an axis square to ``a``."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.einsum("ti,ti->t", a, b)
    degenerate = sin < 1e-12
    if degenerate.any():
        # any axis square to a: a x X, or a x Y where a is along X
        other = np.where(np.abs(a[:, :1]) < 0.9, _X, _Y)
        fallback = np.cross(a, other)
        axis = np.where(degenerate[:, None], fallback, axis)
        sin = np.where(degenerate, 0.0, sin)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    return _axis_angle(axis, np.arctan2(sin, cos))


def _twist_towards(rot: np.ndarray, direction: np.ndarray, twist_rest: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Turn ``rot`` (which maps the bone's rest direction onto ``direction``) about the bone
    so that it also maps ``twist_rest`` onto ``reference`` orthogonalised against the bone.
    The turn is scaled down where ``reference`` nearly lies along the bone (unreliable)."""
    ref_len = np.linalg.norm(reference, axis=-1)
    along = np.einsum("ti,ti->t", reference, direction)
    square = reference - along[:, None] * direction
    square_len = np.linalg.norm(square, axis=-1)
    sin = square_len / np.maximum(ref_len, _EPS)
    weight = np.clip((sin - _TWIST_SIN_LOW) / (_TWIST_SIN_HIGH - _TWIST_SIN_LOW), 0.0, 1.0)
    weight = weight * weight * (3.0 - 2.0 * weight)  # smoothstep: no kink where the ramp ends
    target = square / np.maximum(square_len, _EPS)[:, None]
    current = rot @ twist_rest
    angle = np.arctan2(np.einsum("ti,ti->t", np.cross(current, target), direction), np.einsum("ti,ti->t", current, target))
    return _axis_angle(direction, weight * angle) @ rot


def _axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations by ``angle (T,)`` radians about unit ``axis (T, 3)`` (Rodrigues)."""
    k = np.zeros((len(axis), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= np.swapaxes(k, 1, 2)
    sin, cos = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + sin * k + (1.0 - cos) * (k @ k)
