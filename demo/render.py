"""Drawing one output frame: the input frame with every person's 2D skeleton on the
left, everyone's 3D skeleton on a ground grid on the right.

Conventions
- Images are BGR ``uint8`` as OpenCV decodes them; the output is BGR too (hand it to
  an encoder as ``bgr24``).
- 2D keypoints are pixels of the input frame, ``(17, 2)`` in Human3.6M or COCO order.
- 3D keypoints are ``(17, 3)`` metres in Human3.6M order in the display "world" frame of
  ``lifter.inference.world_for_display``: z up, the lowest joint at z = 0.

The 3D view is the seeds' matplotlib figure re-implemented in numpy: the same perspective
as matplotlib's default 3D projection (eye 10 box-units from the box centre, focal length 1)
at elev 15, azim 70, each person in the seeds' box (x, y within ``radius`` = 0.72 m of the
pelvis, z in [0, 1.44] m). Unlike matplotlib >= 3.3's default 4:4:3 box, the box keeps
equal scale on all axes (as the seeds' figures had under matplotlib 2.2), so people keep
their proportions; ``RenderConfig.box_aspect = (4, 4, 3)`` gives the squashed look back.
The view is fitted with ``headroom`` metres above the floor because a 1.7 m person's head
reaches above the 1.44 m box.

Multi-person layout: everyone stands on one shared ground grid, each person centred on
their own pelvis (x, y) and placed in a slot 2 * ``radius`` wide along the screen's
horizontal, ordered left to right as they appear in the input frame (the mean x of their
2D keypoints; the track id breaks ties and orders people without 2D keypoints last). The
camera is fitted to ``slots`` slots so it does not zoom as people come and go; only when
more people than that are visible does it zoom out to fit them all.

Colours: each track id picks a palette colour (the same in both panels and in every
frame); within a person, left limbs are a lighter tint, right limbs a darker shade and the
torso and head the palette colour itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np

from .skeleton import (
    COCO_BONE_SIDES,
    COCO_BONES,
    COCO_LEFT,
    COCO_RIGHT,
    H36M_BONE_SIDES,
    H36M_BONES,
    H36M_LEFT,
    H36M_RIGHT,
    Side,
)

BGR = tuple[int, int, int]
NUM_JOINTS = 17
PELVIS = 0

#: Distinct, bright colours (BGR) that stay readable on video and on the dark 3D panel.
DEFAULT_PALETTE: tuple[BGR, ...] = (
    (255, 170, 0),  # azure
    (0, 140, 255),  # orange
    (75, 200, 60),  # green
    (140, 50, 230),  # raspberry
    (0, 215, 255),  # yellow
    (255, 90, 150),  # violet
    (190, 210, 0),  # teal
    (50, 60, 240),  # red
    (40, 220, 170),  # lime
    (180, 120, 255),  # pink
)

# matplotlib's Axes3D constants: the box diagonal is scaled to this length (tuned by
# matplotlib to its 3.2 look, times 25/24 since 3.9) and the eye sits MPL_EYE_DISTANCE
# box-units from the box centre. Reusing them gives the seeds' perspective.
MPL_BOX_DIAGONAL = 1.8294640721620434 * 25 / 24
MPL_EYE_DISTANCE = 10.0

# cv2 fixed-point drawing: coordinates carry 4 fractional bits, so bones move smoothly
# instead of snapping to whole pixels from frame to frame.
_SHIFT = 4
_ONE = 1 << _SHIFT


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


@dataclass
class PersonPose:
    """One person in one frame.

    Attributes:
        track_id: stable id of the person's track; picks their colour.
        keypoints_2d: ``(17, 2)`` pixels (x, y) in the input frame, or None; NaN marks a missing joint.
        keypoints_3d: ``(17, 3)`` metres, Human3.6M order, display world frame (z up), or None;
            NaN marks a missing joint.
        scores: ``(17,)`` per-joint confidence in [0, 1] or booleans (validity) for the 2D
            keypoints, or None (all valid); joints below ``RenderConfig.min_score`` are not drawn.
        skeleton_2d: joint order of ``keypoints_2d``.
    """

    track_id: int
    keypoints_2d: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None
    scores: np.ndarray | None = None
    skeleton_2d: Skeleton2D = Skeleton2D.H36M

    def __post_init__(self) -> None:
        self.track_id = int(self.track_id)
        self.skeleton_2d = Skeleton2D(self.skeleton_2d)
        self.keypoints_2d = _as_array("keypoints_2d", self.keypoints_2d, (NUM_JOINTS, 2))
        self.keypoints_3d = _as_array("keypoints_3d", self.keypoints_3d, (NUM_JOINTS, 3))
        self.scores = _as_array("scores", self.scores, (NUM_JOINTS,))


def _as_array(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"PersonPose.{name} must have shape {shape}, got {array.shape}")
    return array


@dataclass(frozen=True)
class RenderConfig:
    """Style and view of the output frame.

    Attributes:
        panel_width: width of the 3D panel in pixels; None means 4/3 of the input height.
            Raised by one pixel where needed so the output width is even.
        elev, azim: the 3D view angles in degrees (matplotlib's ``view_init``).
        radius: half-width in metres of each person's box around their pelvis (seeds: 0.72).
        z_range: floor and top of the box in metres (seeds' 2 * radius box: 0 to 1.44).
        box_aspect: None for equal scale on all axes; (4, 4, 3) reproduces matplotlib's
            default box that squashes heights by a quarter.
        headroom: metres above the floor that the view keeps inside the panel.
        slots: people the ground grid is sized for; more people zoom the view out.
        grid_step: spacing of the ground grid lines in metres.
        margin: blank border of the 3D panel as a fraction of its size.
        palette: person colours (BGR), indexed by ``track_id % len(palette)``.
        left_tint: how far left-limb colours move toward white (0..1).
        right_shade: how far right-limb colours move toward black (0..1).
        panel_colour, grid_colour, border_colour: 3D panel background, grid lines, grid edge (BGR).
        line_width_2d, line_width_3d: bone thickness in pixels; None scales with the
            image height (3 px at 720 p).
        min_score: 2D joints scoring below this are treated as missing.
        show_ids: draw each person's track id next to them in both panels.
    """

    panel_width: int | None = None
    elev: float = 15.0
    azim: float = 70.0
    radius: float = 0.72
    z_range: tuple[float, float] = (0.0, 1.44)
    box_aspect: tuple[float, float, float] | None = None
    headroom: float = 1.9
    slots: int = 3
    grid_step: float = 0.24
    margin: float = 0.04
    palette: tuple[BGR, ...] = DEFAULT_PALETTE
    left_tint: float = 0.55
    right_shade: float = 0.45
    panel_colour: BGR = (30, 30, 30)
    grid_colour: BGR = (75, 75, 75)
    border_colour: BGR = (120, 120, 120)
    line_width_2d: int | None = None
    line_width_3d: int | None = None
    min_score: float = 0.3
    show_ids: bool = True

    def __post_init__(self) -> None:
        if self.radius <= 0 or self.z_range[1] <= self.z_range[0]:
            raise ValueError(f"radius must be > 0 and z_range increasing, got {self.radius}, {self.z_range}")
        if self.slots < 1 or not self.palette:
            raise ValueError("slots must be >= 1 and palette non-empty")
        if self.panel_width is not None and self.panel_width < 16:
            raise ValueError(f"panel_width must be at least 16 pixels, got {self.panel_width}")


@dataclass(frozen=True)
class PersonColours:
    """BGR colours of one person: ``by_side[Side]`` for bones, ``base`` for the label."""

    base: BGR
    by_side: dict[Side, BGR] = field(hash=False)
    text: BGR


def person_colours(track_id: int, config: RenderConfig) -> PersonColours:
    """The colours of ``track_id``: the same for every frame and both panels."""
    base = np.array(config.palette[track_id % len(config.palette)], dtype=np.float64)
    tint = base + (255.0 - base) * config.left_tint
    shade = base * (1.0 - config.right_shade)

    def bgr(c: np.ndarray) -> BGR:
        b, g, r = (int(round(float(v))) for v in c)
        return (b, g, r)

    # Rec. 601 luma on B, G, R: dark text on light colours, light text on dark ones.
    luma = 0.114 * base[0] + 0.587 * base[1] + 0.299 * base[2]
    return PersonColours(
        base=bgr(base),
        by_side={Side.CENTRE: bgr(base), Side.LEFT: bgr(tint), Side.RIGHT: bgr(shade)},
        text=(0, 0, 0) if luma > 140 else (255, 255, 255),
    )


class SeedView:
    """matplotlib's default perspective of the seeds' box, in numpy.

    ``project`` returns exactly what ``mpl_toolkits.mplot3d.proj3d.proj_transform`` gives
    for an ``Axes3D`` with the same ``view_init(elev, azim)``, limits (x, y: -radius to
    radius, z: ``z_range``) and box aspect: a view-plane position (x right, y up) and the
    depth along the viewing axis (larger is farther).
    """

    def __init__(self, elev: float, azim: float, radius: float, z_range: tuple[float, float],
                 box_aspect: tuple[float, float, float] | None = None) -> None:
        ranges = np.array([2 * radius, 2 * radius, z_range[1] - z_range[0]], dtype=np.float64)
        aspect = ranges.copy() if box_aspect is None else np.asarray(box_aspect, dtype=np.float64)
        aspect = aspect * MPL_BOX_DIAGONAL / np.linalg.norm(aspect)
        #: box units per metre along x, y, z
        self.scale = aspect / ranges
        #: the box centre in metres, which the eye looks at
        self.centre = np.array([0.0, 0.0, (z_range[0] + z_range[1]) / 2])
        e, a = np.deg2rad(elev), np.deg2rad(azim)
        w = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])  # toward the eye
        u = np.cross([0.0, 0.0, 1.0], w)
        u /= np.linalg.norm(u)  # screen right; always horizontal since the view has no roll
        v = np.cross(w, u)  # screen up
        self.right, self.up, self.toward_eye = u, v, w
        # One matrix from metres to (x_view, y_view, distance along the view axis).
        self._rows = np.stack([u, v, -w]) * self.scale[None, :]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., 3)`` metres -> ``(..., 2)`` view-plane (x right, y up) and ``(...)`` depth."""
        view = (np.asarray(points, dtype=np.float64) - self.centre) @ self._rows.T
        depth = view[..., 2] + MPL_EYE_DISTANCE
        return view[..., :2] / depth[..., None], depth


@dataclass(frozen=True)
class _Stage:
    """The 3D panel fitted to a number of slots: view-plane -> panel pixels, plus its background."""

    pixels_per_unit: float
    origin: tuple[float, float]  # panel pixel of view-plane (0, 0)
    slot_step: np.ndarray  # (3,) metres between neighbouring slots
    background: np.ndarray  # (H, panel_width, 3) uint8

    def to_pixels(self, plane: np.ndarray) -> np.ndarray:
        out = np.empty_like(plane)
        out[..., 0] = self.origin[0] + plane[..., 0] * self.pixels_per_unit
        out[..., 1] = self.origin[1] - plane[..., 1] * self.pixels_per_unit
        return out

    def slot_offsets(self, count: int) -> np.ndarray:
        """``(count, 3)`` metres: slot centres side by side, centred on the box centre."""
        index = np.arange(count, dtype=np.float64) - (count - 1) / 2
        return index[:, None] * self.slot_step[None, :]


@dataclass(frozen=True)
class _Layout:
    """Sizes for one input frame size."""

    height: int
    width: int
    panel_width: int
    out_height: int
    out_width: int
    line_2d: int
    line_3d: int
    font_scale: float


class SkeletonRenderer:
    """Draws side-by-side frames; style fixed at construction, stateless between frames.

    Layouts, fitted views and grid backgrounds are cached per input size and slot count.
    """

    def __init__(self, config: RenderConfig | None = None) -> None:
        self.config = config or RenderConfig()
        c = self.config
        self.view = SeedView(c.elev, c.azim, c.radius, c.z_range, c.box_aspect)
        self._colours: dict[int, PersonColours] = {}
        self._layouts: dict[tuple[int, int], _Layout] = {}
        self._stages: dict[tuple[int, int, int], _Stage] = {}
        self._h36m_bones = np.array(H36M_BONES, dtype=np.intp)

    # ---- public -------------------------------------------------------------------

    def colours(self, track_id: int) -> PersonColours:
        """The colours the renderer uses for ``track_id``."""
        if track_id not in self._colours:
            self._colours[track_id] = person_colours(track_id, self.config)
        return self._colours[track_id]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of the frames rendered for a ``height`` x ``width`` input; both even."""
        layout = self._layout(height, width)
        return layout.out_height, layout.out_width

    def layout_3d(self, people: Sequence[PersonPose], height: int, width: int) -> list[np.ndarray | None]:
        """Where each person's 3D joints land in the output frame: ``(17, 2)`` pixels
        (x, y), NaN for missing joints, None for people without 3D keypoints; aligned with
        ``people``."""
        layout = self._layout(height, width)
        _, placed = self._place_3d(people, layout)
        out: list[np.ndarray | None] = [None] * len(people)
        for i, pixels, _ in placed:
            shifted = pixels.copy()
            shifted[:, 0] += layout.width
            out[i] = shifted
        return out

    def render(self, frame: np.ndarray, people: Sequence[PersonPose]) -> np.ndarray:
        """One output frame.

        Args:
            frame: ``(H, W, 3)`` uint8 BGR input frame (not modified).
            people: the people visible in this frame, any number, in any order.

        Returns:
            ``(H', W + panel_width, 3)`` uint8 BGR with H' = H rounded up to even; the
            input with 2D skeletons at columns ``[0, W)``, the 3D panel to its right.
        """
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        layout = self._layout(h, w)
        stage, placed = self._place_3d(people, layout)

        out = np.empty((layout.out_height, layout.out_width, 3), dtype=np.uint8)
        out[:h, :w] = frame
        out[:h, w:] = stage.background
        if layout.out_height > h:  # odd input height: pad a row below each panel
            out[h:, :w] = 0
            out[h:, w:] = self.config.panel_colour
        left, right = out[:h, :w], out[:h, w:]

        for person in people:
            if person.keypoints_2d is not None:
                self._draw_2d(left, person, person.keypoints_2d, layout)
        self._draw_3d(right, people, placed, layout)
        return out

    # ---- layout -------------------------------------------------------------------

    def _layout(self, height: int, width: int) -> _Layout:
        key = (height, width)
        if key not in self._layouts:
            c = self.config
            panel = c.panel_width if c.panel_width is not None else max(16, round(height * 4 / 3))
            panel += (width + panel) % 2  # H.264 in yuv420p needs an even width
            auto_line = max(2, round(height / 240))
            self._layouts[key] = _Layout(
                height=height,
                width=width,
                panel_width=panel,
                out_height=height + height % 2,
                out_width=width + panel,
                line_2d=c.line_width_2d or auto_line,
                line_3d=c.line_width_3d or auto_line,
                font_scale=max(0.35, height / 1200),
            )
        return self._layouts[key]

    def _stage(self, layout: _Layout, slots: int) -> _Stage:
        key = (layout.height, layout.panel_width, slots)
        if key not in self._stages:
            self._stages[key] = self._build_stage(layout, slots)
        return self._stages[key]

    def _build_stage(self, layout: _Layout, slots: int) -> _Stage:
        c, view = self.config, self.view
        across = view.right * np.array([1.0, 1.0, 0.0])  # screen-right on the floor
        across /= np.linalg.norm(across)
        deep = np.cross([0.0, 0.0, 1.0], across)  # floor direction away from the eye
        half_w, half_d = slots * c.radius, c.radius
        floor = c.z_range[0]

        def floor_point(a: float, d: float, z: float = floor) -> np.ndarray:
            return a * across + d * deep + np.array([0.0, 0.0, z])

        corners = np.array([floor_point(a, d, z) for a in (-half_w, half_w) for d in (-half_d, half_d)
                            for z in (floor, max(c.headroom, c.z_range[1]))])
        plane, _ = view.project(corners)
        lo, hi = plane.min(axis=0), plane.max(axis=0)
        pw, ph = layout.panel_width, layout.height
        ppu = min(pw * (1 - 2 * c.margin) / (hi[0] - lo[0]), ph * (1 - 2 * c.margin) / (hi[1] - lo[1]))
        mid = (lo + hi) / 2
        stage = _Stage(
            pixels_per_unit=float(ppu),
            origin=(pw / 2 - mid[0] * ppu, ph / 2 + mid[1] * ppu),
            slot_step=across * 2 * c.radius,
            background=np.empty((ph, pw, 3), dtype=np.uint8),
        )
        stage.background[:] = c.panel_colour

        # Grid lines: parallel to the slot row, then across it; the outline on top.
        steps_w = int(round(2 * half_w / c.grid_step))
        steps_d = int(round(2 * half_d / c.grid_step))
        segments = [(floor_point(-half_w, d), floor_point(half_w, d))
                    for d in np.linspace(-half_d, half_d, steps_d + 1)]
        segments += [(floor_point(a, -half_d), floor_point(a, half_d))
                     for a in np.linspace(-half_w, half_w, steps_w + 1)]
        ends = stage.to_pixels(view.project(np.array(segments))[0])
        _draw_segments(stage.background, ends[:, 0], ends[:, 1], [c.grid_colour] * len(segments), 1)
        outline = np.array([floor_point(a, d) for a, d in
                            ((-half_w, -half_d), (half_w, -half_d), (half_w, half_d), (-half_w, half_d))])
        ring = stage.to_pixels(view.project(outline)[0])
        _draw_segments(stage.background, ring, np.roll(ring, -1, axis=0), [c.border_colour] * 4, 1)
        return stage

    # ---- 3D -----------------------------------------------------------------------

    def _place_3d(self, people: Sequence[PersonPose], layout: _Layout
                  ) -> tuple[_Stage, list[tuple[int, np.ndarray, np.ndarray]]]:
        """The stage sized for this frame and, for each person with 3D keypoints,
        ``(index in people, (17, 2) panel pixels, (17,) depth)``."""
        with_3d = [i for i, p in enumerate(people) if p.keypoints_3d is not None]
        stage = self._stage(layout, max(self.config.slots, len(with_3d)))
        if not with_3d:
            return stage, []

        def order(i: int) -> tuple[float, int]:
            xy = people[i].keypoints_2d
            xs = np.empty(0) if xy is None else xy[np.isfinite(xy).all(axis=1), 0]
            return (float(xs.mean()) if len(xs) else np.inf, people[i].track_id)

        with_3d.sort(key=order)
        poses = np.stack([people[i].keypoints_3d for i in with_3d])  # (n, 17, 3) metres
        poses = poses - _ground_anchor(poses)[:, None, :] + stage.slot_offsets(len(with_3d))[:, None, :]
        plane, depth = self.view.project(poses)
        pixels = stage.to_pixels(plane)
        # A joint at or behind the eye has no image (the perspective divide would mirror it).
        pixels[depth <= 1e-6] = np.nan
        return stage, [(i, pixels[k], depth[k]) for k, i in enumerate(with_3d)]

    def _draw_3d(self, panel: np.ndarray, people: Sequence[PersonPose],
                 placed: list[tuple[int, np.ndarray, np.ndarray]], layout: _Layout) -> None:
        if not placed:
            return
        bones = self._h36m_bones
        starts = np.concatenate([pixels[bones[:, 0]] for _, pixels, _ in placed])
        ends = np.concatenate([pixels[bones[:, 1]] for _, pixels, _ in placed])
        depth = np.concatenate([(d[bones[:, 0]] + d[bones[:, 1]]) / 2 for _, _, d in placed])
        colours = [self.colours(people[i].track_id).by_side[side] for i, _, _ in placed for side in H36M_BONE_SIDES]
        # Painter's order, far bones first, so a near arm covers the torso behind it.
        far_first = np.argsort(-np.nan_to_num(depth, nan=0.0), kind="stable")
        _draw_segments(panel, starts[far_first], ends[far_first], [colours[k] for k in far_first], layout.line_3d)
        if self.config.show_ids:
            for i, pixels, _ in placed:
                finite = pixels[np.isfinite(pixels).all(axis=1)]
                if len(finite):
                    centre_x = (finite[:, 0].min() + finite[:, 0].max()) / 2
                    anchor = (float(centre_x), float(finite[:, 1].min()) - 2 * layout.line_3d)
                    _draw_label(panel, people[i].track_id, anchor, self.colours(people[i].track_id), layout)

    # ---- 2D -----------------------------------------------------------------------

    def _draw_2d(self, image: np.ndarray, person: PersonPose, xy: np.ndarray, layout: _Layout) -> None:
        """``xy``: the person's ``(17, 2)`` keypoints in pixels."""
        valid = np.isfinite(xy).all(axis=1)
        if person.scores is not None:
            valid &= np.nan_to_num(person.scores, nan=-1.0) >= self.config.min_score
        colours = self.colours(person.track_id)
        skeleton = person.skeleton_2d
        bones = np.array(skeleton.bones, dtype=np.intp)
        keep = valid[bones[:, 0]] & valid[bones[:, 1]]
        _draw_segments(image, xy[bones[keep, 0]], xy[bones[keep, 1]],
                       [colours.by_side[s] for s, k in zip(skeleton.bone_sides, keep) if k], layout.line_2d)

        radius = layout.line_2d + 1
        h, w = image.shape[:2]
        with np.errstate(invalid="ignore"):  # NaN joints are already invalid
            inside = valid & (np.abs(xy[:, 0] - w / 2) < w / 2 + radius) & (np.abs(xy[:, 1] - h / 2) < h / 2 + radius)
        joint_side = JOINT_SIDES[skeleton]
        fixed = np.round(np.where(inside[:, None], xy, 0.0) * _ONE).astype(np.int64)
        for j in np.flatnonzero(inside):
            centre = (int(fixed[j, 0]), int(fixed[j, 1]))
            cv2.circle(image, centre, radius * _ONE, colours.by_side[joint_side[j]], -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(image, centre, radius * _ONE, (20, 20, 20), 1, cv2.LINE_AA, _SHIFT)

        if self.config.show_ids and inside.any():
            shown = xy[inside]
            centre_x = (shown[:, 0].min() + shown[:, 0].max()) / 2
            anchor = (float(centre_x), float(shown[:, 1].min()) - 2 * radius)
            _draw_label(image, person.track_id, anchor, colours, layout)


def _ground_anchor(poses: np.ndarray) -> np.ndarray:
    """``(n, 3)``: the point of each pose moved onto its slot centre: the pelvis's x, y
    (the mean of the finite joints where the pelvis is missing), z unchanged (0)."""
    anchor = np.zeros((poses.shape[0], 3))
    for k, pose in enumerate(poses):
        if np.isfinite(pose[PELVIS, :2]).all():
            anchor[k, :2] = pose[PELVIS, :2]
        else:
            finite = np.isfinite(pose).all(axis=1)
            if finite.any():
                anchor[k, :2] = pose[finite, :2].mean(axis=0)
    return anchor


def _joint_sides(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[Side, ...]:
    return tuple(Side.LEFT if j in left else Side.RIGHT if j in right else Side.CENTRE for j in range(NUM_JOINTS))


#: Side of every joint, so a joint dot takes the colour of its limb.
JOINT_SIDES: dict[Skeleton2D, tuple[Side, ...]] = {
    Skeleton2D.H36M: _joint_sides(H36M_LEFT, H36M_RIGHT),
    Skeleton2D.COCO: _joint_sides(COCO_LEFT, COCO_RIGHT),
}


def _clip_segments(a: np.ndarray, b: np.ndarray, lo: tuple[float, float], hi: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip segments ``a -> b`` (``(n, 2)`` pixels) to the box ``lo``..``hi`` (Liang-Barsky).

    Returns the clipped ends and a ``(n,)`` mask of segments with a finite part in the box;
    far-away or non-finite ends would overflow cv2's fixed-point coordinates.
    """
    keep = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a = np.where(keep[:, None], a, 0.0)
    b = np.where(keep[:, None], b, 0.0)
    d = b - a
    t0, t1 = np.zeros(len(a)), np.ones(len(a))
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in (0, 1):
            for p, q in ((-d[:, axis], a[:, axis] - lo[axis]), (d[:, axis], hi[axis] - a[:, axis])):
                keep &= ~((p == 0) & (q < 0))
                r = q / p
                t0 = np.where(p < 0, np.maximum(t0, r), t0)
                t1 = np.where(p > 0, np.minimum(t1, r), t1)
    keep &= t0 <= t1
    return a + t0[:, None] * d, a + t1[:, None] * d, keep


def _draw_segments(image: np.ndarray, starts: np.ndarray, ends: np.ndarray, colours: list[BGR], width: int) -> None:
    """Antialiased lines with subpixel ends; parts outside ``image`` are clipped away."""
    if len(starts) == 0:
        return
    h, w = image.shape[:2]
    pad = 2.0 * width
    a, b, keep = _clip_segments(np.asarray(starts, np.float64), np.asarray(ends, np.float64),
                                (-pad, -pad), (w + pad, h + pad))
    a = np.round(a * _ONE).astype(np.int64)
    b = np.round(b * _ONE).astype(np.int64)
    for k in np.flatnonzero(keep):
        cv2.line(image, (int(a[k, 0]), int(a[k, 1])), (int(b[k, 0]), int(b[k, 1])), colours[k], width,
                 cv2.LINE_AA, _SHIFT)


def _draw_label(image: np.ndarray, track_id: int, anchor: tuple[float, float], colours: PersonColours,
                layout: _Layout) -> None:
    """The track id in a box of the person's colour, centred above ``anchor`` and kept inside ``image``."""
    text = str(track_id)
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(layout.font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, font, layout.font_scale, thickness)
    pad = max(2, th // 4)
    h, w = image.shape[:2]
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0 = int(np.clip(anchor[0] - bw / 2, 0, max(0, w - bw)))
    y0 = int(np.clip(anchor[1] - bh, 0, max(0, h - bh)))
    cv2.rectangle(image, (x0, y0), (x0 + bw - 1, y0 + bh - 1), colours.base, -1)
    cv2.putText(image, text, (x0 + pad, y0 + pad + th), font, layout.font_scale, colours.text, thickness, cv2.LINE_AA)


__all__ = [
    "DEFAULT_PALETTE",
    "PersonColours",
    "PersonPose",
    "RenderConfig",
    "SeedView",
    "Skeleton2D",
    "SkeletonRenderer",
    "person_colours",
]
