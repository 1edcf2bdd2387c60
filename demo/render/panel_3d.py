"""The right panel: everyone's 3D skeleton on a shared ground grid, seen as the seeds'
matplotlib figure saw it (:class:`SeedView`), one slot per person (:class:`Panel3D`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.joints import H36M_BONE_SIDES, H36M_BONES

from . import draw
from .person import PELVIS, PersonPose
from .style import Palette, RenderConfig, Strokes, mix

# matplotlib's Axes3D constants: the box diagonal is scaled to this length (tuned by
# matplotlib to its 3.2 look, times 25/24 since 3.9) and the eye sits MPL_EYE_DISTANCE
# box-units from the box centre. Reusing them gives the seeds' perspective.
MPL_BOX_DIAGONAL = 1.8294640721620434 * 25 / 24
MPL_EYE_DISTANCE = 10.0

_BONES = np.array(H36M_BONES, dtype=np.intp)


class SeedView:
    """matplotlib's default perspective of the seeds' box, in numpy.

    ``project`` returns exactly what ``mpl_toolkits.mplot3d.proj3d.proj_transform`` gives
    for an ``Axes3D`` with the same ``view_init(elev, azim)``, limits (x, y: -radius to
    radius around ``centre_xy``, z: ``z_range``) and box aspect: a view-plane position
    (x right, y up) and the depth along the viewing axis (larger is farther).
    """

    def __init__(self, elev: float, azim: float, radius: float, z_range: tuple[float, float],
                 box_aspect: tuple[float, float, float] | None = None,
                 centre_xy: tuple[float, float] = (0.0, 0.0)) -> None:
        ranges = np.array([2 * radius, 2 * radius, z_range[1] - z_range[0]], dtype=np.float64)
        aspect = ranges.copy() if box_aspect is None else np.asarray(box_aspect, dtype=np.float64)
        aspect = aspect * MPL_BOX_DIAGONAL / np.linalg.norm(aspect)
        #: box units per metre along x, y, z
        self.scale = aspect / ranges
        #: the box centre in metres, which the eye looks at
        self.centre = np.array([centre_xy[0], centre_xy[1], (z_range[0] + z_range[1]) / 2])
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
class Stage:
    """The 3D panel fitted to what it must show: view-plane -> panel pixels, plus its
    background (the ground grid)."""

    pixels_per_unit: float
    origin: tuple[float, float]  # panel pixel of view-plane (0, 0)
    background: np.ndarray  # (H, panel_width, 3) uint8

    @staticmethod
    def fitted(plane: np.ndarray, height: int, width: int, config: RenderConfig) -> Stage:
        """The stage that shows every view-plane point of ``plane`` (``(n, 2)``) as large as
        fits in ``height`` x ``width`` less the margin, centred; its background is the bare
        panel colour."""
        lo, hi = plane.min(axis=0), plane.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        ppu = min(width * (1 - 2 * config.margin) / span[0], height * (1 - 2 * config.margin) / span[1])
        mid = (lo + hi) / 2
        background = np.empty((height, width, 3), dtype=np.uint8)
        background[:] = config.panel_colour
        return Stage(pixels_per_unit=float(ppu), origin=(width / 2 - mid[0] * ppu, height / 2 + mid[1] * ppu),
                     background=background)

    def project(self, view: SeedView, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., 3)`` metres -> ``(..., 2)`` panel pixels (NaN at or behind the eye, where
        the perspective divide would mirror them) and ``(...)`` depths."""
        plane, depth = view.project(points)
        pixels = self.to_pixels(plane)
        pixels[depth <= 1e-6] = np.nan
        return pixels, depth

    def draw_floor(self, view: SeedView, lines: np.ndarray, outline: np.ndarray, config: RenderConfig) -> None:
        """Grid ``lines`` (``(n, 2, 3)`` metres, start and end) and the closed ``outline``
        (``(k, 3)`` metres) on the background, in the grid and border colours."""
        ends = self.project(view, lines)[0]
        draw.segments(self.background, ends[:, 0], ends[:, 1], [config.grid_colour] * len(lines), 1)
        ring = self.project(view, outline)[0]
        draw.segments(self.background, ring, np.roll(ring, -1, axis=0), [config.border_colour] * len(ring), 1)

    def to_pixels(self, plane: np.ndarray) -> np.ndarray:
        out = np.empty_like(plane)
        out[..., 0] = self.origin[0] + plane[..., 0] * self.pixels_per_unit
        out[..., 1] = self.origin[1] - plane[..., 1] * self.pixels_per_unit
        return out


@dataclass(frozen=True)
class Placed:
    """One person in the panel: ``index`` in the people given, ``(17, 2)`` panel pixels
    (NaN where missing or behind the eye) and ``(17,)`` depths."""

    index: int
    pixels: np.ndarray
    depth: np.ndarray


class Panel3D:
    """Draws the 3D panel: the grid, then every person's bones far to near.

    Bones touching a joint whose 2D score is low take ``config.faded_opacity`` of their
    colour over ``panel_colour``; an interpolated pose has dashed bones and a tag by its id.
    Grids are cached per panel size and slot count.
    """

    def __init__(self, config: RenderConfig | None = None, palette: Palette | None = None) -> None:
        self.config = c = config or RenderConfig()
        self.palette = palette or Palette(c)
        self.view = SeedView(c.elev, c.azim, c.radius, c.z_range, c.box_aspect)
        across = self.view.right * np.array([1.0, 1.0, 0.0])
        #: (3,) unit floor direction of the slot row: the screen's right, on the floor
        self.across = across / np.linalg.norm(across)
        self._stages: dict[tuple[int, int, int], Stage] = {}

    def render(self, people: Sequence[PersonPose], height: int, width: int) -> np.ndarray:
        """A new ``(height, width, 3)`` uint8 BGR panel with everyone's 3D skeleton."""
        stage, placed = self.place(people, height, width)
        panel = stage.background.copy()
        self.draw(panel, people, placed)
        return panel

    def place(self, people: Sequence[PersonPose], height: int, width: int) -> tuple[Stage, list[Placed]]:
        """The stage for a ``height`` x ``width`` panel sized for this frame's people, and
        where each person with 3D keypoints lands on it (left to right as they stand in
        the input: mean x of their 2D keypoints, then track id)."""
        with_3d = [i for i, p in enumerate(people) if p.keypoints_3d is not None]
        stage = self.stage(height, width, max(self.config.slots, len(with_3d)))
        if not with_3d:
            return stage, []

        def order(i: int) -> tuple[float, int]:
            xy = people[i].keypoints_2d
            xs = np.empty(0) if xy is None else xy[np.isfinite(xy).all(axis=1), 0]
            return (float(xs.mean()) if len(xs) else np.inf, people[i].track_id)

        with_3d.sort(key=order)
        poses = np.stack([people[i].keypoints_3d for i in with_3d])  # (n, 17, 3) metres
        poses = poses - _ground_anchor(poses)[:, None, :] + self.slot_offsets(len(with_3d))[:, None, :]
        pixels, depth = stage.project(self.view, poses)
        return stage, [Placed(i, pixels[k], depth[k]) for k, i in enumerate(with_3d)]

    def stage(self, height: int, width: int, slots: int) -> Stage:
        key = (height, width, slots)
        if key not in self._stages:
            self._stages[key] = self._build_stage(height, width, slots)
        return self._stages[key]

    def draw(self, panel: np.ndarray, people: Sequence[PersonPose], placed: Sequence[Placed]) -> None:
        """Everyone's bones (and id labels) on ``panel``, the stage's background."""
        paint_people(panel, people, placed, self.config, self.palette)

    def slot_offsets(self, count: int) -> np.ndarray:
        """``(count, 3)`` metres: slot centres side by side, ``2 * radius`` apart along
        :attr:`across`, centred on the box centre."""
        index = np.arange(count, dtype=np.float64) - (count - 1) / 2
        return index[:, None] * (self.across * 2 * self.config.radius)[None, :]

    def _build_stage(self, height: int, width: int, slots: int) -> Stage:
        c, view, across = self.config, self.view, self.across
        deep = np.cross([0.0, 0.0, 1.0], across)  # floor direction away from the eye
        half_w, half_d = slots * c.radius, c.radius
        floor = c.z_range[0]

        def floor_point(a: float, d: float, z: float = floor) -> np.ndarray:
            return a * across + d * deep + np.array([0.0, 0.0, z])

        corners = np.array([floor_point(a, d, z) for a in (-half_w, half_w) for d in (-half_d, half_d)
                            for z in (floor, max(c.headroom, c.z_range[1]))])
        stage = Stage.fitted(view.project(corners)[0], height, width, c)

        # Grid lines: parallel to the slot row, then across it; the outline on top.
        steps_w = int(round(2 * half_w / c.grid_step))
        steps_d = int(round(2 * half_d / c.grid_step))
        lines = [(floor_point(-half_w, d), floor_point(half_w, d)) for d in np.linspace(-half_d, half_d, steps_d + 1)]
        lines += [(floor_point(a, -half_d), floor_point(a, half_d)) for a in np.linspace(-half_w, half_w, steps_w + 1)]
        outline = np.array([floor_point(a, d) for a, d in
                            ((-half_w, -half_d), (half_w, -half_d), (half_w, half_d), (-half_w, half_d))])
        stage.draw_floor(view, np.array(lines), outline, c)
        return stage


def paint_people(panel: np.ndarray, people: Sequence[PersonPose], placed: Sequence[Placed], config: RenderConfig,
                 palette: Palette) -> None:
    """Everyone ``placed`` on ``panel``: bones far to near across all people (painter's
    order), faded where a joint's 2D score is low, dashed for interpolated poses, then the
    id labels above each person (shared by both layouts)."""
    if not placed:
        return
    c = config
    strokes = Strokes.for_height(c, panel.shape[0])
    line = strokes.line_3d
    starts, ends, depths, colours = [], [], [], []
    for p in placed:
        person = people[p.index]
        by_side = palette.colours(person.track_id).by_side
        confident = person.confident_3d(c.min_score)
        solid = confident[_BONES[:, 0]] & confident[_BONES[:, 1]]
        a, b = p.pixels[_BONES[:, 0]], p.pixels[_BONES[:, 1]]
        depth = (p.depth[_BONES[:, 0]] + p.depth[_BONES[:, 1]]) / 2
        bgr = [by_side[side] if ok else mix(by_side[side], c.panel_colour, c.faded_opacity)
               for side, ok in zip(H36M_BONE_SIDES, solid)]
        if person.filled:
            a, b, owner = draw.dashes(a, b, *draw.dash_pattern(line))
            depth, bgr = depth[owner], [bgr[k] for k in owner]
        starts.append(a)
        ends.append(b)
        depths.append(depth)
        colours += bgr
    depth = np.concatenate(depths)
    # Painter's order, far bones first, so a near arm covers the torso behind it.
    far_first = np.argsort(-np.nan_to_num(depth, nan=0.0), kind="stable")
    draw.segments(panel, np.concatenate(starts)[far_first], np.concatenate(ends)[far_first],
                  [colours[k] for k in far_first], line)
    if c.show_ids:
        for p in placed:
            finite = p.pixels[np.isfinite(p.pixels).all(axis=1)]
            if len(finite):
                person = people[p.index]
                colours_ = palette.colours(person.track_id)
                centre_x = (finite[:, 0].min() + finite[:, 0].max()) / 2
                anchor = (float(centre_x), float(finite[:, 1].min()) - 2 * line)
                draw.label(panel, str(person.track_id), anchor, colours_.base, colours_.text,
                           strokes.font_scale, tag=c.filled_tag if person.filled else "")


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
