"""The pose data a viewer page embeds: each person's world-space joints, packed small.

Packing, per person, over the frames from their first to their last present one:
millimetres as integers (rounding error at most 0.5 mm per coordinate), each sample the
difference from the previous one (the first absolute), little-endian int16 (int32 where a
difference does not fit), zlib-compressed, base64. The page undoes it with the browser's
``DecompressionStream``. Joint motion between frames is a few millimetres, so the
differences compress well: 75 to 100 kB per person per minute of 30 fps video (with 2 to
4 mm of jitter), where plain float16 would take 270 kB. Frames where the person is absent
repeat the previous sample (a difference of zero) and are hidden by their state (0).

A clip whose data would exceed the budget keeps every ``stride``-th frame only (the page
shows the nearest earlier kept frame and says so). The stride is first estimated from the
number of samples (:data:`BYTES_PER_SAMPLE_ESTIMATE`, a low estimate, so the first try
fits only where it may), so a long clip is packed about twice, not once per stride tried.
"""
from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from core.joints import H36M_BONE_SIDES, H36M_BONES, H36M_JOINT_SIDES, H36M_JOINTS
from demo.render.style import Palette

#: Most bytes of packed pose data (base64) one page embeds; beyond it frames are dropped.
DATA_BUDGET_BYTES = 16_000_000
#: The initial view's turn from the camera's direction about the vertical (degrees).
VIEW_AZIMUTH_DEG = 35.0
#: Joints are stored in whole millimetres.
UNITS_PER_METRE = 1000
#: Packed bytes per person-frame sample, on the low side of what clips give (a still
#: person packs smaller, so :func:`pack_tracks` still checks and tries again).
BYTES_PER_SAMPLE_ESTIMATE = 30


class TrackLike(Protocol):
    """What the viewer reads from a :class:`demo.pose3d.Track3D`."""

    track_id: int
    start: int  # the video frame of row 0
    state: np.ndarray  # (n,) uint8: 0 absent, 1 detected, 2 filled
    world: np.ndarray  # (n, 17, 3) world metres, Y up, NaN where absent


@dataclass(frozen=True)
class PackedPerson:
    """One person's packed samples.

    Attributes:
        track_id: the track's id.
        first: the video frame of sample 0.
        count: samples; sample ``i`` is video frame ``first + i * stride``.
        bits: 16 or 32, the integer width of the differences.
        deltas: base64 of the zlib-compressed ``(count, 17, 3)`` differences in millimetres.
        state: base64 of the zlib-compressed ``(count,)`` uint8 states.
    """

    track_id: int
    first: int
    count: int
    bits: int
    deltas: str
    state: str

    @property
    def nbytes(self) -> int:
        return len(self.deltas) + len(self.state)


def pack_person(track: TrackLike, stride: int = 1) -> PackedPerson | None:
    """Pack one track's world joints (see the module docstring); None if never present."""
    world = np.asarray(track.world, dtype=np.float64)
    present = (np.asarray(track.state) != 0) & np.isfinite(world).all(axis=(1, 2))
    frames = np.flatnonzero(present)
    if frames.size == 0:
        return None
    first, last = int(frames[0]), int(frames[-1])
    idx = np.arange(first, last + 1, stride)
    start = int(getattr(track, "start", 0)) + first
    keep = present[idx]
    state = np.where(keep, np.asarray(track.state)[idx], 0).astype(np.uint8)
    mm = np.round(world[idx] * UNITS_PER_METRE)
    # An absent sample repeats the last present one, so its difference is zero.
    last_present = np.maximum.accumulate(np.where(keep, np.arange(idx.size), 0))
    mm = np.clip(mm[last_present], -(2**31) + 1, 2**31 - 1).astype(np.int64)
    deltas = np.diff(mm, axis=0, prepend=np.zeros_like(mm[:1]))
    bits = 16 if np.abs(deltas).max() <= np.iinfo(np.int16).max else 32
    raw = deltas.astype("<i2" if bits == 16 else "<i4").tobytes()
    return PackedPerson(track.track_id, start, idx.size, bits, _b64_zlib(raw), _b64_zlib(state.tobytes()))


def unpack_person(packed: PackedPerson) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`pack_person` (what the page computes): ``(count, 17, 3)``
    float32 metres and ``(count,)`` uint8 states."""
    dtype = "<i2" if packed.bits == 16 else "<i4"
    deltas = np.frombuffer(zlib.decompress(base64.b64decode(packed.deltas)), dtype).reshape(packed.count, 17, 3)
    state = np.frombuffer(zlib.decompress(base64.b64decode(packed.state)), np.uint8)
    return (np.cumsum(deltas.astype(np.int64), axis=0) / UNITS_PER_METRE).astype(np.float32), state


def pack_tracks(tracks: list[TrackLike], budget: int = DATA_BUDGET_BYTES) -> tuple[list[PackedPerson], int]:
    """Every person packed, with the smallest frame stride that fits ``budget`` bytes.

    Returns:
        the packed people (those never present left out) and the stride.
    """
    samples = sum(int(np.count_nonzero(np.asarray(t.state))) for t in tracks)
    stride = max(1, math.ceil(samples * BYTES_PER_SAMPLE_ESTIMATE / budget))
    while True:
        packed = [p for p in (pack_person(t, stride) for t in tracks) if p is not None]
        size = sum(p.nbytes for p in packed)
        if size <= budget or not packed or all(p.count == 1 for p in packed):
            return packed, stride
        # Size is about proportional to the samples kept; step past the estimate's rounding.
        stride = max(stride + 1, math.ceil(stride * size / budget))


def _b64_zlib(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")  # level 9: 4x the time, 0.5 % smaller


def css_colour(bgr: tuple[int, int, int]) -> str:
    """A BGR tuple as a CSS ``#rrggbb`` colour."""
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def person_style(track_id: int, palette: Palette) -> dict[str, Any]:
    """The page's colours for one person: the same as in the rendered video."""
    colours = palette.colours(track_id)
    return {
        "colour": css_colour(colours.base),
        "text": css_colour(colours.text),
        "sides": {side.value: css_colour(c) for side, c in colours.by_side.items()},
    }


def skeleton_json() -> dict[str, Any]:
    """Joint names, bones and their sides (Human3.6M, :mod:`core.joints`), as the renderer colours them."""
    return {
        "joints": list(H36M_JOINTS),
        "jointSides": [s.value for s in H36M_JOINT_SIDES],
        "bones": [list(b) for b in H36M_BONES],
        "boneSides": [s.value for s in H36M_BONE_SIDES],
    }


def camera_json(camera: Any, ground: Any, scene_centre: np.ndarray | None) -> dict[str, Any] | None:
    """The video camera in the world frame, for its frustum and the initial view.

    Args:
        camera: a :class:`demo.motion.camera.PinholeCamera` (``focal_px``, ``width``, ``height``).
        ground: a :class:`demo.motion.ground.GroundFrame`; its ``matrix()`` (world from
            camera) places the camera.
        scene_centre: ``(3,)`` the people's mean pelvis (world), or None without people;
            the frustum's depth is a quarter of the distance to it (0.4 to 1.5 m).

    Returns:
        ``centre`` (3,), ``right``, ``up``, ``forward`` unit axes and the four far
        ``corners`` (top-left, top-right, bottom-right, bottom-left) in world metres, the
        ``depth`` of the drawn frustum, ``focal_px``, ``width``, ``height``; None without a
        camera or ground.
    """
    if camera is None or ground is None:
        return None
    world_from_camera = ground.matrix()
    rotation, centre = world_from_camera[:3, :3], world_from_camera[:3, 3]  # centre: camera-space 0 in the world
    # Camera axes (x right, y down, z forward) in world coordinates are rotation's columns.
    right, up, forward = rotation @ np.array([1.0, 0, 0]), rotation @ np.array([0, -1.0, 0]), rotation @ np.array([0, 0, 1.0])
    depth = 1.0 if scene_centre is None else float(np.clip(np.linalg.norm(scene_centre - centre) / 4, 0.4, 1.5))
    half_w, half_h = camera.width / (2 * camera.focal_px) * depth, camera.height / (2 * camera.focal_px) * depth
    far = centre + forward * depth
    corners = [far + sx * half_w * right + sy * half_h * up for sx, sy in ((-1, 1), (1, 1), (1, -1), (-1, -1))]
    r = lambda v: np.round(v, 5).tolist()
    return {"centre": r(centre), "right": r(right), "up": r(up), "forward": r(forward),
            "corners": [r(c) for c in corners], "depth": round(depth, 4),
            "focal_px": float(camera.focal_px), "width": int(camera.width), "height": int(camera.height)}  # fmt: skip


def scene_extent(tracks: list[TrackLike]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(lo, hi, centre)`` of everyone's world pelvis over the clip (robust: the 2nd and
    98th percentiles, so one wild frame does not stretch the floor grid); None without people."""
    roots = [np.asarray(t.world, dtype=np.float64)[:, 0] for t in tracks]
    roots = [r[np.isfinite(r).all(axis=1)] for r in roots]
    points = np.concatenate([r for r in roots if len(r)]) if any(len(r) for r in roots) else np.zeros((0, 3))
    if not len(points):
        return None
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    return lo, hi, points.mean(axis=0)


def initial_view(extent: tuple[np.ndarray, np.ndarray, np.ndarray] | None, cam: dict[str, Any] | None) -> dict[str, list[float]]:
    """Where the 3D view starts (and "reset view" returns): looking at the people from the
    camera's side of the scene, :data:`VIEW_AZIMUTH_DEG` to its right and raised, so the
    frustum shows as a pyramid and the video's left stays on the left. Without a camera,
    from the +z side (where the camera would be: people facing it are seen from the front).
    """
    target = np.array([0.0, 0.9, -3.0]) if extent is None else extent[2].copy()
    if cam is not None:
        towards = np.array(cam["centre"]) - target
        target[[0, 2]] += 0.3 * towards[[0, 2]]  # frame the camera's frustum too
        towards *= 0.7
    else:
        towards = np.array([0.0, 0.0, 1.0])
    towards[1] = 0.0
    distance = float(np.linalg.norm(towards))
    towards = towards / distance if distance > 1e-6 else np.array([0.0, 0.0, 1.0])
    a = math.radians(VIEW_AZIMUTH_DEG)  # turned about +y: toward the camera's right
    c, s = math.cos(a), math.sin(a)
    turned = np.array([towards[0] * c + towards[2] * s, 0.0, -towards[0] * s + towards[2] * c])
    size = 2.0 if extent is None else float(np.linalg.norm((extent[1] - extent[0])[[0, 2]]))
    reach = max(distance, 2.0) + 2.0 + 0.5 * size
    eye = target + turned * reach + np.array([0.0, 0.45 * reach, 0.0])
    return {"eye": np.round(eye, 4).tolist(), "target": np.round(target, 4).tolist()}


def grid_json(extent: tuple[np.ndarray, np.ndarray, np.ndarray] | None, cam: dict[str, Any] | None) -> dict[str, float]:
    """A floor grid of 1 m cells centred under the people, wide enough to hold them and
    the camera's floor point, with 2 m to spare on every side."""
    points = [np.zeros(2)] if cam is not None else []
    if extent is not None:
        points += [extent[0][[0, 2]], extent[1][[0, 2]]]
    if not points:
        return {"x": 0.0, "z": -3.0, "size": 10.0}
    pts = np.array(points)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float(2 * math.ceil((max(hi - lo) + 4) / 2))  # even: grid lines on whole metres
    cx, cz = np.round((lo + hi) / 2)
    return {"x": float(cx), "z": float(cz), "size": size}
