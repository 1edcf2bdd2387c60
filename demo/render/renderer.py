""":class:`SkeletonRenderer`: the side-by-side output frame, composed of the 2D annotator
(left) and the 3D panel (right)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .annotate_2d import Annotator2D
from .panel_3d import Panel3D, Placed, Stage
from .person import PersonPose
from .style import Palette, PersonColours, RenderConfig
from .world_panel import WorldPanel, WorldScene, WorldStage


@dataclass(frozen=True)
class FrameLayout:
    """Sizes of the output frame for one input size: the input at columns ``[0, width)``,
    the 3D panel at ``[width, out_width)``; ``out_height`` is ``height`` rounded up to even."""

    height: int
    width: int
    panel_width: int
    out_height: int
    out_width: int


class SkeletonRenderer:
    """Draws side-by-side frames; style fixed at construction, stateless between frames.

    Composes a :class:`Palette` (colours by track id, shared by both panels), an
    :class:`Annotator2D` (left panel) and, for the right panel, a :class:`WorldPanel`
    (``RenderConfig.layout`` "world") or a :class:`Panel3D` ("slots"). Layouts, fitted
    views and grid backgrounds are cached per input size and slot count, or per clip
    (:class:`WorldScene`) and input size.

    The layouts take different 3D keypoints in :class:`PersonPose`: world metres (Y up,
    floor y = 0) for "world", the display frame (z up) for "slots".
    """

    def __init__(self, config: RenderConfig | None = None) -> None:
        self.config = config or RenderConfig()
        self.palette = Palette(self.config)
        self.annotator = Annotator2D(self.config, self.palette)
        self.panel = Panel3D(self.config, self.palette)
        self.world = WorldPanel(self.config, self.palette)
        self._layouts: dict[tuple[int, int], FrameLayout] = {}

    def colours(self, track_id: int) -> PersonColours:
        """The colours the renderer uses for ``track_id``."""
        return self.palette.colours(track_id)

    def layout(self, height: int, width: int) -> FrameLayout:
        """The output layout for a ``height`` x ``width`` input."""
        key = (height, width)
        if key not in self._layouts:
            c = self.config
            panel = c.panel_width if c.panel_width is not None else max(16, round(height * 4 / 3))
            panel += (width + panel) % 2  # H.264 in yuv420p needs an even width
            self._layouts[key] = FrameLayout(height, width, panel, height + height % 2, width + panel)
        return self._layouts[key]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of the frames rendered for a ``height`` x ``width`` input; both even."""
        layout = self.layout(height, width)
        return layout.out_height, layout.out_width

    def layout_3d(self, people: Sequence[PersonPose], height: int, width: int, *,
                  scene: WorldScene | None = None) -> list[np.ndarray | None]:
        """Where each person's 3D joints land in the output frame: ``(17, 2)`` pixels
        (x, y), NaN for missing joints, None for people without 3D keypoints; aligned with
        ``people``. The world layout needs the clip's ``scene``."""
        layout = self.layout(height, width)
        _, placed = self._place(people, height, layout.panel_width, scene, 0)
        out: list[np.ndarray | None] = [None] * len(people)
        for p in placed:
            shifted = p.pixels.copy()
            shifted[:, 0] += width
            out[p.index] = shifted
        return out

    def render(self, frame: np.ndarray, people: Sequence[PersonPose], *, scene: WorldScene | None = None,
               frame_index: int | None = None) -> np.ndarray:
        """One output frame.

        Args:
            frame: ``(H, W, 3)`` uint8 BGR input frame (not modified).
            people: the people visible in this frame, any number, in any order; their
                ``keypoints_3d`` in world metres (world layout) or the display frame (slots).
            scene: the clip's :class:`WorldScene` (the same object for every frame of a
                clip, so its fitted view and grid are reused); required by the world
                layout, ignored by the slots layout.
            frame_index: this frame's index in the clip, where the trails end; required
                by the world layout, ignored by the slots layout.

        Returns:
            ``(H', W + panel_width, 3)`` uint8 BGR with H' = H rounded up to even; the
            input with 2D skeletons at columns ``[0, W)``, the 3D panel to its right.

        Raises:
            ValueError: a frame that is not ``(H, W, 3)`` uint8, or the world layout
                without ``scene`` and ``frame_index`` (or an index outside the scene).
        """
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        layout = self.layout(h, w)
        stage, placed = self._place(people, h, layout.panel_width, scene, frame_index)

        out = np.empty((layout.out_height, layout.out_width, 3), dtype=np.uint8)
        out[:h, :w] = frame
        out[:h, w:] = stage.background
        if layout.out_height > h:  # odd input height: pad a row below each panel
            out[h:, :w] = 0
            out[h:, w:] = self.config.panel_colour
        left = out[:h, :w]
        self.annotator.annotate(left, people, out=left)  # in place
        if isinstance(stage, WorldStage):
            self.world.draw(out[:h, w:], people, placed, stage, int(frame_index or 0))
        else:
            self.panel.draw(out[:h, w:], people, placed)
        return out

    def _place(self, people: Sequence[PersonPose], height: int, panel_width: int, scene: WorldScene | None,
               frame_index: int | None) -> tuple[WorldStage | Stage, list[Placed]]:
        """The layout's stage and people, after checking the world layout got its scene."""
        if self.config.layout == "slots":
            return self.panel.place(people, height, panel_width)
        if not isinstance(scene, WorldScene) or frame_index is None:
            raise ValueError("the world layout needs the clip's WorldScene and the frame index: "
                             "render(frame, people, scene=..., frame_index=...) "
                             "(or RenderConfig(layout='slots'))")
        if frame_index < 0 or (scene.num_frames and frame_index >= scene.num_frames):
            raise ValueError(f"frame_index {frame_index} is outside the scene's {scene.num_frames} frames")
        return self.world.place(people, scene, height, panel_width)
