"""The look of the output: :class:`RenderConfig`, person colours (:class:`Palette`) and the
stroke sizes for a frame height (:class:`Strokes`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from core.joints import Side

BGR = tuple[int, int, int]

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

#: The 3D panel's layouts (``RenderConfig.layout``); the first is the default.
LAYOUTS: tuple[str, ...] = ("world", "slots")
#: What the left panel can draw: the 2D keypoints that were lifted (smoothed), or the 2D model's raw output.
KEYPOINTS_2D: tuple[str, ...] = ("lifted", "raw")


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
        min_score: joints whose 2D score is below this (or NaN) are drawn faded, with the
            bones touching them, in both panels.
        faded_opacity: opacity of faded joints and bones (0..1): 2D ones are blended over
            the frame, 3D ones mixed with ``panel_colour``.
        show_ids: draw each person's track id next to them in both panels.
        filled_tag: text of the tag beside the id of a person whose pose was interpolated
            (``PersonPose.filled``); "" draws none (the dashed bones still show it).
        layout: how the 3D panel places people. "world": where they stand in the world
            frame (``PersonPose.keypoints_3d`` in world metres, Y up), in a view fitted once
            per clip to everyone's whole path (:class:`demo.render.WorldScene`), with a
            trail of each person's path on the floor. "slots": side by side, one slot each,
            in the seeds' view (``keypoints_3d`` in the display frame, z up).
        trail_seconds: how far back the world layout's floor trails reach; 0 draws none.
        world_elev, world_azim: the world layout's view angles in degrees, in the panel
            frame (x = world x, y = -world z, z = world y): azim -90 would look along the
            camera's axis; -75 looks from the camera's side turned 15 degrees to the right,
            so the video's left stays on the panel's left while a path toward the camera
            shows beside the body instead of behind it.
        world_min_extent: the smallest floor area in metres (each way) the world view
            frames, so a lone person standing still is not blown up to the panel's size.
        keypoints_2d: what the left panel draws: ``lifted``, the 2D keypoints the lifter
            saw (after ``--smooth``; the default), or ``raw``, the 2D model's own output.
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
    faded_opacity: float = 0.35
    show_ids: bool = True
    filled_tag: str = "interp."
    layout: str = "world"
    trail_seconds: float = 3.0
    world_elev: float = 25.0
    world_azim: float = -75.0
    world_min_extent: float = 2.0
    keypoints_2d: str = "lifted"

    def __post_init__(self) -> None:
        if self.keypoints_2d not in KEYPOINTS_2D:
            raise ValueError(f"keypoints_2d must be one of {', '.join(KEYPOINTS_2D)}, got {self.keypoints_2d!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if not (self.trail_seconds >= 0 and self.world_min_extent > 0):
            raise ValueError(f"trail_seconds must be >= 0 and world_min_extent > 0, got "
                             f"{self.trail_seconds}, {self.world_min_extent}")
        if self.radius <= 0 or self.z_range[1] <= self.z_range[0]:
            raise ValueError(f"radius must be > 0 and z_range increasing, got {self.radius}, {self.z_range}")
        if self.slots < 1 or not self.palette:
            raise ValueError("slots must be >= 1 and palette non-empty")
        if self.panel_width is not None and self.panel_width < 16:
            raise ValueError(f"panel_width must be at least 16 pixels, got {self.panel_width}")
        if not 0.0 <= self.faded_opacity <= 1.0:
            raise ValueError(f"faded_opacity must be in [0, 1], got {self.faded_opacity}")


@dataclass(frozen=True)
class PersonColours:
    """BGR colours of one person: ``by_side[Side]`` for bones, ``base`` for the label."""

    base: BGR
    by_side: dict[Side, BGR] = field(hash=False)
    text: BGR


def _bgr(c: np.ndarray) -> BGR:
    b, g, r = (int(round(float(v))) for v in c)
    return (b, g, r)


def person_colours(track_id: int, config: RenderConfig) -> PersonColours:
    """The colours of ``track_id``: the same for every frame and both panels."""
    base = np.array(config.palette[track_id % len(config.palette)], dtype=np.float64)
    tint = base + (255.0 - base) * config.left_tint
    shade = base * (1.0 - config.right_shade)
    # Rec. 601 luma on B, G, R: dark text on light colours, light text on dark ones.
    luma = 0.114 * base[0] + 0.587 * base[1] + 0.299 * base[2]
    return PersonColours(
        base=_bgr(base),
        by_side={Side.CENTRE: _bgr(base), Side.LEFT: _bgr(tint), Side.RIGHT: _bgr(shade)},
        text=(0, 0, 0) if luma > 140 else (255, 255, 255),
    )


def mix(colour: BGR, background: BGR, opacity: float) -> BGR:
    """``colour`` at ``opacity`` over ``background``."""
    return _bgr(opacity * np.asarray(colour, np.float64) + (1.0 - opacity) * np.asarray(background, np.float64))


class Palette:
    """Person colours by track id, computed once per id."""

    def __init__(self, config: RenderConfig) -> None:
        self.config = config
        self._colours: dict[int, PersonColours] = {}

    def colours(self, track_id: int) -> PersonColours:
        if track_id not in self._colours:
            self._colours[track_id] = person_colours(track_id, self.config)
        return self._colours[track_id]


@dataclass(frozen=True)
class Strokes:
    """Line widths and text size for images of one height."""

    line_2d: int
    line_3d: int
    font_scale: float

    @staticmethod
    @lru_cache(maxsize=32)
    def for_height(config: RenderConfig, height: int) -> Strokes:
        auto_line = max(2, round(height / 240))
        return Strokes(
            line_2d=config.line_width_2d or auto_line,
            line_3d=config.line_width_3d or auto_line,
            font_scale=max(0.35, height / 1200),
        )
