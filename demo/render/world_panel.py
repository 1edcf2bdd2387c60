"""The 3D panel's world layout: everyone where they stand, in a view fitted once per clip to
everyone's whole path (:class:`WorldScene`), with a fading trail of each person's path on
the floor (:class:`WorldPanel`).

Frames: world space is the pipeline's (metres, gravity-aligned, Y up, floor at y = 0, x the
camera's right, z toward the camera). The panel works z up, like the slots layout's display
frame: panel ``(X, Y, Z) = world (x, -z, y)``, a rotation (both frames are right-handed), so
Y grows away from the camera. Seen from azim -75 (``RenderConfig.world_azim``; -90 is the
camera's axis) the eye is on the camera's side and the panel's left is the video's left.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import draw
from .panel_3d import Placed, SeedView, Stage, paint_people
from .person import PersonPose
from .style import Palette, RenderConfig, Strokes

#: Metres around the pelvis path that a body reaches (limbs, a lean): framed with the path.
BODY_REACH = 0.5
#: Joints are framed between these percentiles, so a few wild joints do not shrink everyone.
JOINT_PERCENTILES = (0.5, 99.5)
#: Most grid lines across the floor each way; the grid step grows (1-2.5-5 steps) to keep below.
MAX_GRID_LINES = 24
#: Where a clip has no path at all: a floor this far in front of the camera (metres).
EMPTY_DISTANCE = 3.0


def world_to_panel(points: np.ndarray) -> np.ndarray:
    """``(..., 3)`` world metres (Y up, z toward the camera) -> the panel's z-up frame:
    ``(x, -z, y)``."""
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


@dataclass(frozen=True, eq=False)
class WorldScene:
    """What a clip's world layout frames, built once per clip (:meth:`from_tracks`).

    Attributes:
        roots: track id -> ``(T, 3)`` world metres of the pelvis per frame, NaN where the
            person is absent; their floor points (y = 0) draw the trails.
        fps: frames per second, which turns ``RenderConfig.trail_seconds`` into frames.
        num_frames: T, the frames ``frame_index`` may take (0 when there are no roots).
        lo, hi: ``(3,)`` world metres, the box every path and body stays in over the clip
            (NaN when nothing is known); the view is fitted to it.
    """

    roots: Mapping[int, np.ndarray]
    fps: float
    num_frames: int
    lo: np.ndarray
    hi: np.ndarray

    @staticmethod
    def from_tracks(roots: Mapping[int, np.ndarray], fps: float, joints: Iterable[np.ndarray] = ()) -> WorldScene:
        """The scene of a clip.

        Args:
            roots: track id -> ``(T, 3)`` world pelvis positions (metres; NaN absent), the
                same T for every track.
            fps: the clip's frame rate (> 0).
            joints: optional ``(..., 3)`` world joints (e.g. each track's ``(T, 17, 3)``),
                to frame whole bodies: between the 0.5th and 99.5th percentile per axis.
                Without them, bodies are assumed within 0.5 m of the pelvis path and the
                view keeps ``RenderConfig.headroom`` above the floor.

        Raises:
            ValueError: a root array not ``(T, 3)``, lengths that differ, or fps <= 0.
        """
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        paths = {int(k): np.asarray(v, dtype=np.float64) for k, v in roots.items()}
        lengths = {v.shape[0] for v in paths.values()}
        if any(v.ndim != 2 or v.shape[1] != 3 for v in paths.values()) or len(lengths) > 1:
            raise ValueError(f"roots must all be (T, 3) with one T, got {[v.shape for v in paths.values()]}")
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for path in paths.values():
            finite = path[np.isfinite(path).all(axis=1)]
            if len(finite):
                reach = np.array([BODY_REACH, 0.0, BODY_REACH])
                lo, hi = np.minimum(lo, finite.min(axis=0) - reach), np.maximum(hi, finite.max(axis=0) + reach)
        points = [np.asarray(j, dtype=np.float64).reshape(-1, 3) for j in joints]
        points = np.concatenate(points) if points else np.empty((0, 3))
        points = points[np.isfinite(points).all(axis=1)]
        if len(points):
            low, high = np.percentile(points, JOINT_PERCENTILES, axis=0)
            lo, hi = np.minimum(lo, low), np.maximum(hi, high)
        known = np.isfinite(lo) & np.isfinite(hi)
        lo, hi = np.where(known, lo, np.nan), np.where(known, hi, np.nan)
        return WorldScene(paths, float(fps), lengths.pop() if lengths else 0, lo, hi)


@dataclass(frozen=True)
class WorldStage:
    """A scene fitted to one panel size: the view, the stage (pixels and the grid
    background) and each track's trail in panel pixels (``(T, 2)``, NaN absent)."""

    scene: WorldScene
    view: SeedView
    stage: Stage
    grid_step: float
    trails: dict[int, np.ndarray]

    @property
    def background(self) -> np.ndarray:
        """The panel's background: the floor grid, as :attr:`Stage.background`."""
        return self.stage.background


def grid_step(extent: float, smallest: float) -> float:
    """The smallest step of 1, 2.5 or 5 times a power of ten, at least ``smallest`` metres,
    that lays at most ``MAX_GRID_LINES`` lines over ``extent`` metres."""
    step = 10.0 ** np.floor(np.log10(smallest))
    while True:
        for mantissa in (1.0, 2.5, 5.0):
            if step * mantissa >= smallest and extent / (step * mantissa) <= MAX_GRID_LINES:
                return float(step * mantissa)
        step *= 10.0


class WorldPanel:
    """Draws the world layout: the grid under the clip's whole area, the trails, then
    everyone's bones far to near (with :func:`paint_people`, as the slots layout does).

    The fitted stage (view, grid background, trail pixels) is built once per clip and
    panel size and reused while the same :class:`WorldScene` object comes back.
    """

    def __init__(self, config: RenderConfig | None = None, palette: Palette | None = None) -> None:
        self.config = config or RenderConfig()
        self.palette = palette or Palette(self.config)
        self._stages: dict[tuple[int, int], WorldStage] = {}

    def stage(self, scene: WorldScene, height: int, width: int) -> WorldStage:
        """The stage of ``scene`` for a ``height`` x ``width`` panel (cached)."""
        cached = self._stages.get((height, width))
        if cached is None or cached.scene is not scene:
            cached = self._stages[(height, width)] = self._build_stage(scene, height, width)
        return cached

    def place(self, people: Sequence[PersonPose], scene: WorldScene, height: int, width: int
              ) -> tuple[WorldStage, list[Placed]]:
        """The stage, and where each person with 3D keypoints (world metres) lands on it."""
        ws = self.stage(scene, height, width)
        placed = []
        for i, person in enumerate(people):
            if person.keypoints_3d is not None:
                pixels, depth = ws.stage.project(ws.view, world_to_panel(person.keypoints_3d))
                placed.append(Placed(i, pixels, depth))
        return ws, placed

    def draw(self, panel: np.ndarray, people: Sequence[PersonPose], placed: Sequence[Placed], ws: WorldStage,
             frame_index: int) -> None:
        """The trails up to ``frame_index``, then everyone's bones and labels, on ``panel``
        (the stage's background)."""
        self.draw_trails(panel, ws, frame_index)
        paint_people(panel, people, placed, self.config, self.palette)

    def draw_trails(self, panel: np.ndarray, ws: WorldStage, frame_index: int) -> None:
        """Every track's pelvis path on the floor over the last ``trail_seconds`` up to
        ``frame_index``, in the track's colour fading linearly into the panel colour with
        age (the age of a segment is that of its older end). Tracks no longer present keep
        their trail until it has faded."""
        c, scene, t = self.config, ws.scene, frame_index
        count = int(np.ceil(c.trail_seconds * scene.fps))
        first = max(0, t - count)
        if count == 0 or t <= first:
            return
        age = (t - np.arange(first, t)) / scene.fps  # seconds, of each segment's older end
        opacity = 1.0 - age / c.trail_seconds
        fresh = opacity > 0
        starts, ends, alphas, bases = [], [], [], []
        for track_id, pixels in ws.trails.items():
            starts.append(pixels[first:t][fresh])
            ends.append(pixels[first + 1:t + 1][fresh])
            alphas.append(opacity[fresh])
            bases.append(np.broadcast_to(self.palette.colours(track_id).base, (int(fresh.sum()), 3)))
        if not starts:
            return
        alpha = np.concatenate(alphas)
        panel_colour = np.asarray(c.panel_colour, dtype=np.float64)
        bgr = np.rint(alpha[:, None] * np.concatenate(bases) + (1 - alpha[:, None]) * panel_colour).astype(int)
        order = np.argsort(alpha, kind="stable")  # the freshest on top where paths cross
        width = max(1, Strokes.for_height(c, panel.shape[0]).line_3d - 1)
        draw.segments(panel, np.concatenate(starts)[order], np.concatenate(ends)[order],
                      [tuple(v) for v in bgr[order].tolist()], width)

    def _build_stage(self, scene: WorldScene, height: int, width: int) -> WorldStage:
        c = self.config
        if np.isfinite(scene.lo).all():
            lo, hi = world_to_panel(scene.lo), world_to_panel(scene.hi)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)  # Y = -z swaps the ends
        else:
            lo = hi = np.array([0.0, EMPTY_DISTANCE, 0.0])
        centre = (lo[:2] + hi[:2]) / 2
        half = np.maximum((hi[:2] - lo[:2]) / 2, c.world_min_extent / 2)
        step = grid_step(float(2 * half.max()), c.grid_step)
        # Snap the floor outward to whole grid steps, so the grid fills it evenly.
        floor_lo = np.floor((centre - half) / step + 1e-9) * step
        floor_hi = np.ceil((centre + half) / step - 1e-9) * step
        bottom, top = min(0.0, float(lo[2])), max(float(hi[2]), c.headroom)
        mid = (floor_lo + floor_hi) / 2
        view = SeedView(c.world_elev, c.world_azim, float((floor_hi - floor_lo).max() / 2), (bottom, top),
                        centre_xy=(float(mid[0]), float(mid[1])))
        corners = np.array([[x, y, z] for x in (floor_lo[0], floor_hi[0]) for y in (floor_lo[1], floor_hi[1])
                            for z in (bottom, top)])
        stage = Stage.fitted(view.project(corners)[0], height, width, c)

        xs = np.arange(round(floor_lo[0] / step), round(floor_hi[0] / step) + 1) * step
        ys = np.arange(round(floor_lo[1] / step), round(floor_hi[1] / step) + 1) * step
        lines = [((x, floor_lo[1], 0.0), (x, floor_hi[1], 0.0)) for x in xs]
        lines += [((floor_lo[0], y, 0.0), (floor_hi[0], y, 0.0)) for y in ys]
        outline = np.array([(floor_lo[0], floor_lo[1], 0.0), (floor_hi[0], floor_lo[1], 0.0),
                            (floor_hi[0], floor_hi[1], 0.0), (floor_lo[0], floor_hi[1], 0.0)])
        stage.draw_floor(view, np.array(lines, dtype=np.float64), outline, c)

        trails = {}
        for track_id, root in scene.roots.items():
            on_floor = world_to_panel(root)
            on_floor[:, 2] = 0.0
            trails[track_id] = stage.project(view, on_floor)[0]
        return WorldStage(scene, view, stage, step, trails)
