"""BVH export: one file per person, ``<clip>_person<id>.bvh``, with a side JSON
``<clip>_person<id>.json`` that says which frames were filled and how far the exported
skeleton is from the lifted joints.

What the BVH holds:

* the hierarchy of the 17 Human3.6M joints (names as in ``core.joints.H36M_JOINTS``), the
  pelvis the root with 3 position and 3 rotation channels, every other joint 3 rotation
  channels; end sites on the ankles (feet, pointing forward), wrists (hands, continuing
  the forearm) and head (pointing up);
* rest pose: a T-pose facing +Z, Y up, the person's left at +X, with the person's median
  bone lengths over the frames they are present (see ``demo/export/rig.py``); the root's
  OFFSET is 0, so the position channels are the pelvis's world position whether a reader
  adds them to the offset or replaces it;
* one frame per video frame of the person's lifetime (from the first to the last frame
  they are present; the side JSON's ``first_frame`` is the video frame of BVH frame 0),
  frame time = 1 / fps; units metres (Blender's importer at
  its default scale gives a life-size armature), world axes of the pipeline (Y up, floor
  at y = 0, x the camera's right, z toward the camera);
* rotation channels: each joint's rotation relative to its parent as intrinsic Euler
  angles in degrees, in a per-joint order (``rig.EULER_ORDER``, written in the CHANNELS
  line), continuous from frame to frame.

Frames where the person is absent (or any joint is not finite) hold the nearest present
frame's pose (the earlier one on a tie) and are listed in the side JSON. Forward
kinematics of the file gives :func:`bvh_positions`, the *normalised* positions: the input
with each bone at the person's median length and the hips and shoulders on the rest
pose's lines (see ``rig.py``); the side JSON reports their mean and max distance from the
input in millimetres.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.files import atomic_output
from core.gaps import present_runs
from core.joints import H36M_JOINTS

from . import rig
from .rig import CHILDREN, EULER_ORDER, NUM_JOINTS, Motion, Rig

log = logging.getLogger(__name__)

#: Below this fraction of present frames a file is still written, with a warning.
MOSTLY_ABSENT = 0.5
AXES = "metres; world space: Y up, floor at y = 0, x = the camera's right, z = toward the camera"


@dataclass
class BvhReport:
    """What :func:`write_bvh` wrote.

    Attributes:
        bvh, side_json: the two files.
        frames: frames in the file (the clip's frame count).
        present_frames: frames with the person present (all joints finite).
        filled: ``[first, last]`` inclusive ranges of frames that hold the nearest present pose.
        fit_error_mm: mean and max distance, over present frames and joints, between the
            input joints and the exported (normalised) ones, millimetres.
    """

    bvh: Path
    side_json: Path
    frames: int
    present_frames: int
    filled: list[list[int]] = field(default_factory=list)
    fit_error_mm: tuple[float, float] = (0.0, 0.0)

    @property
    def paths(self) -> list[Path]:
        return [self.bvh, self.side_json]


@dataclass
class _Fitted:
    motion: Motion
    usable: np.ndarray  # (T,) bool: present and finite


def bvh_positions(world: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` the joint positions the BVH written for these inputs encodes (forward
    kinematics of its rest pose and rotations), metres, world space; absent frames hold
    the nearest present frame's pose.

    Raises:
        UserError: the person is present in no frame.
    """
    return _fit(world, present).motion.positions()


def write_bvh(
    path: str | Path,
    world: np.ndarray,
    present: np.ndarray,
    fps: float | Fraction,
    *,
    state: np.ndarray | None = None,
    track_id: int | None = None,
    first_frame: int = 0,
) -> BvhReport:
    """Write one person's motion as a BVH file and its side JSON (``path`` with ``.json``).

    Args:
        path: the ``.bvh`` file (its folder is created; written atomically).
        world: ``(T, 17, 3)`` Human3.6M joints in world space, metres (NaN where absent).
        present: ``(T,)`` bool, the frames where the person is present.
        fps: the video's frame rate; frame time = 1 / fps.
        state: optional ``(T,)`` frame states (0 absent, 1 detected, 2 interpolated by the
            2D stage); the interpolated frames are listed in the side JSON too.
        track_id: recorded in the side JSON.
        first_frame: the video frame of row 0 of ``world`` (a track's span start).

    The BVH covers the person's lifetime: rows before their first and after their last
    present frame are left out; the side JSON's ``first_frame`` is the video frame of
    BVH frame 0, and its frame ranges are video frames.

    Raises:
        UserError: the person is present in no frame.
    """
    path = Path(path)
    fps = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1_000_000)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    present = np.asarray(present, dtype=bool)
    rows = np.flatnonzero(present)
    if len(rows):  # the person's lifetime only
        world, present = np.asarray(world)[rows[0] : rows[-1] + 1], present[rows[0] : rows[-1] + 1]
        state = None if state is None else np.asarray(state)[rows[0] : rows[-1] + 1]
        first_frame += int(rows[0])
    fitted = _fit(world, present, what=path.name)
    frames = len(fitted.usable)
    present_count = int(fitted.usable.sum())
    if present_count < MOSTLY_ABSENT * frames:
        log.warning(
            "%s: the person is present in only %d of %d frames; the other frames hold the nearest pose",
            path.name, present_count, frames,
        )  # fmt: skip
    world = np.asarray(world, dtype=np.float64)
    positions = fitted.motion.positions()
    error = rig.fit_error_mm(world[fitted.usable], positions[fitted.usable])
    report = BvhReport(
        bvh=path,
        side_json=path.with_suffix(".json"),
        frames=frames,
        present_frames=present_count,
        filled=_ranges(~fitted.usable, first_frame),
        fit_error_mm=error,
    )
    with atomic_output(report.bvh) as tmp:
        tmp.write_text(bvh_text(fitted.motion, fps), encoding="ascii")
    side = {
        "bvh": report.bvh.name,
        "track_id": track_id,
        "frames": frames,
        "first_frame": first_frame,
        "first_frame_note": "the video frame of BVH frame 0 (the BVH covers the person's lifetime)",
        "fps": float(fps),
        "frame_time_s": float(1 / fps),
        "units": AXES,
        "rest_pose": "T-pose facing +z, left at +x, the person's median bone lengths",
        "joints": list(H36M_JOINTS),
        "present_frames": present_count,
        "filled_ranges": report.filled,
        "filled_note": "inclusive [first, last] frame ranges where the person is absent; they hold the nearest present pose",
        "bone_lengths_m": {H36M_JOINTS[j]: round(float(fitted.motion.rig.lengths[j]), 6) for j in range(1, NUM_JOINTS)},
        "fit_error_mm": {"mean": round(error[0], 3), "max": round(error[1], 3)},
        "fit_error_note": "distance between the lifted joints and the BVH's (median bone lengths, hips and shoulders "
        "on the rest pose's lines) over present frames",
    }  # fmt: skip
    if state is not None:
        side["interpolated_ranges"] = _ranges(np.asarray(state) == 2, first_frame)
    with atomic_output(report.side_json) as tmp:
        tmp.write_text(json.dumps(side, indent=1) + "\n", encoding="utf-8")
    return report


def write_bvh_files(
    out_dir: str | Path,
    stem: str,
    people: Sequence[tuple[Any, ...]],
    fps: float | Fraction,
) -> list[Path]:
    """Write ``<stem>_person<id>.bvh`` and its side JSON for each ``(track_id, world,
    present)``, ``(track_id, world, present, state)`` or ``(track_id, world, present,
    state, first_frame)`` (see :func:`write_bvh`).

    A person present in no frame gets no file: a warning names them and the others are
    still written. Returns the paths written (each BVH, then its JSON), in ``people``'s order.
    """
    paths: list[Path] = []
    for track_id, world, present, *rest in people:
        path = Path(out_dir) / f"{stem}_person{track_id}.bvh"
        state = rest[0] if rest else None
        first_frame = int(rest[1]) if len(rest) > 1 else 0
        try:
            report = write_bvh(path, world, present, fps, state=state, track_id=track_id, first_frame=first_frame)
        except UserError as e:
            log.warning("%s", e)
            continue
        log.info(
            "%s: %d frames (%d filled), %.1f mm mean / %.1f mm max from the lifted joints",
            path.name, report.frames, report.frames - report.present_frames, *report.fit_error_mm,
        )  # fmt: skip
        paths += report.paths
    return paths


def bvh_text(motion: Motion, fps: Fraction) -> str:
    """The BVH file's text for ``motion`` (hierarchy, then one line per frame)."""
    lines = ["HIERARCHY"]
    _hierarchy(motion.rig, 0, 0, lines)
    euler = motion.euler_degrees()
    frames = len(motion.root)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {float(1 / fps):.10g}"]
    # channel order per frame = the hierarchy's depth-first order, which is joint index order
    values = np.concatenate([motion.root, euler.reshape(frames, -1)], axis=1)
    buffer = io.StringIO()
    np.savetxt(buffer, values, fmt="%.6f")  # micrometres and micro-degrees
    return "\n".join(lines) + "\n" + buffer.getvalue()


def _hierarchy(rest: Rig, joint: int, depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    name = H36M_JOINTS[joint]
    lines.append(f"{pad}{'ROOT' if joint == 0 else 'JOINT'} {name}")
    lines.append(f"{pad}{{")
    lines.append(f"{pad}  OFFSET {_xyz(rest.offsets[joint])}")
    rotation = " ".join(f"{axis}rotation" for axis in EULER_ORDER[joint])
    if joint == 0:
        lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rotation}")
    else:
        lines.append(f"{pad}  CHANNELS 3 {rotation}")
    for child in CHILDREN[joint]:
        _hierarchy(rest, child, depth + 1, lines)
    if not CHILDREN[joint]:
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_xyz(rest.end_site(joint))}", f"{pad}  }}"]
    lines.append(f"{pad}}}")


def _xyz(v: np.ndarray) -> str:
    return " ".join(f"{x + 0.0:.6f}" for x in v)  # + 0.0: no "-0.000000"


def _fit(world: np.ndarray, present: np.ndarray, what: str = "person") -> _Fitted:
    world = np.asarray(world, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    if world.ndim != 3 or world.shape[1:] != (NUM_JOINTS, 3) or present.shape != world.shape[:1]:
        raise ValueError(f"expected world (T, 17, 3) and present (T,), got {world.shape} and {present.shape}")
    usable = present & np.isfinite(world).all(axis=(1, 2))
    if not usable.any():
        raise UserError(f"{what}: the person is present in none of the {len(world)} frames; no BVH written for them")
    filled = world[nearest_present(usable)]
    rest = Rig(lengths=rig.median_bone_lengths(world[usable]))
    return _Fitted(motion=rig.fit_motion(filled, rest), usable=usable)


def nearest_present(usable: np.ndarray) -> np.ndarray:
    """``(T,)`` for each frame the nearest frame where ``usable`` is True (itself if it is;
    the earlier one on a tie). ``usable`` must have a True."""
    index = np.flatnonzero(usable)
    frames = np.arange(len(usable))
    after = np.clip(np.searchsorted(index, frames), 0, len(index) - 1)
    before = np.clip(after - 1, 0, len(index) - 1)
    take_before = np.abs(frames - index[before]) <= np.abs(index[after] - frames)
    return np.where(take_before, index[before], index[after])


def _ranges(mask: np.ndarray, offset: int = 0) -> list[list[int]]:
    """Inclusive ``[first, last]`` runs of True in a ``(T,)`` mask, plus ``offset``."""
    return [[offset + start, offset + stop - 1] for start, stop in present_runs(mask)]
