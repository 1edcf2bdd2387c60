"""Drawing one output frame: the input frame with every person's 2D skeleton on the
left, everyone's 3D skeleton on a ground grid on the right.

Modules, one job each:
- :mod:`.person`: :class:`PersonPose`, what is drawn for one person in one frame.
- :mod:`.display_frame`: the seeds' display frame (z up) the slots layout draws in.
- :mod:`.side_by_side`: the rendered files: the side-by-side video and the GIF, streamed
  from the decoder through the renderer into the encoders (:mod:`.gif`).
- :mod:`.style`: :class:`RenderConfig`, person colours (:class:`Palette`), stroke sizes.
- :mod:`.draw`: cv2 primitives (clipped and dashed lines, dots, labels, translucent layers).
- :mod:`.annotate_2d`: :class:`Annotator2D`, the 2D skeletons over the input frame.
- :mod:`.panel_3d`: :class:`SeedView` (the seeds' projection) and :class:`Panel3D`
  (the slots layout), and the painter both layouts draw people with.
- :mod:`.world_panel`: :class:`WorldScene` (a clip's paths) and :class:`WorldPanel`
  (the world layout).
- :mod:`.renderer`: :class:`SkeletonRenderer`, both panels side by side.

Conventions
- Images are BGR ``uint8`` as OpenCV decodes them; the output is BGR too (hand it to
  an encoder as ``bgr24``).
- 2D keypoints are pixels of the input frame, ``(17, 2)`` in Human3.6M or COCO order.
- 3D keypoints are ``(17, 3)`` metres in Human3.6M order. Layout "world" (the default,
  ``RenderConfig.layout``): world space, Y up, floor at y = 0, z toward the camera. Layout
  "slots": the display frame of ``demo.render.display_frame.world_for_display``: z up, the
  lowest joint at z = 0.

World layout: everyone stands where they are on one floor grid that covers the whole clip:
the view (elev ``world_elev``, azim ``world_azim``, from the camera's side) is fitted once
per clip to every path and body (:class:`WorldScene`, at least ``world_min_extent`` metres
of floor each way), so it never jumps; the grid step grows with the area (0.25, 0.5, 1,
2.5, ... m, at most 24 lines each way). Each person leaves a trail on the floor under
their pelvis over the last ``trail_seconds``, in their colour fading into the panel's.
Bones, faded joints, dashes and labels are drawn as in the slots layout.

Slots layout: the 3D view is the seeds' matplotlib figure re-implemented in numpy: the
same perspective as matplotlib's default 3D projection (eye 10 box-units from the box
centre, focal length 1; the world layout uses it too) at elev 15, azim 70, each person in the seeds' box (x, y within ``radius`` = 0.72 m of the
pelvis, z in [0, 1.44] m). Unlike matplotlib >= 3.3's default 4:4:3 box, the box keeps
equal scale on all axes (as the seeds' figures had under matplotlib 2.2), so people keep
their proportions; ``RenderConfig.box_aspect = (4, 4, 3)`` gives the squashed look back.
The view is fitted with ``headroom`` metres above the floor because a 1.7 m person's head
reaches above the 1.44 m box.

Slots with several people: everyone stands on one shared ground grid, each person centred on
their own pelvis (x, y) and placed in a slot 2 * ``radius`` wide along the screen's
horizontal, ordered left to right as they appear in the input frame (the mean x of their
2D keypoints; the track id breaks ties and orders people without 2D keypoints last). The
camera is fitted to ``slots`` slots so it does not zoom as people come and go; only when
more people than that are visible does it zoom out to fit them all.

Colours: each track id picks a palette colour (the same in both panels and in every
frame); within a person, left limbs are a lighter tint, right limbs a darker shade and the
torso and head the palette colour itself.

Confidence: a joint whose 2D score is below ``RenderConfig.min_score`` (or NaN) is drawn
faded, at ``faded_opacity`` (35 %), with every bone touching it, in both panels (the 3D
joint takes its 2D joint's score). An interpolated pose (``PersonPose.filled``: the
tracker missed the person and the pose was filled in between detections) has dashed
bones, hollow joint rings in the 2D panel and an "interp." tag beside its id label.
Joints with NaN coordinates are not drawn.
"""
from __future__ import annotations

from .annotate_2d import Annotator2D
from .panel_3d import MPL_BOX_DIAGONAL, MPL_EYE_DISTANCE, Panel3D, SeedView
from .person import JOINT_SIDES, PersonPose, Skeleton2D
from .renderer import FrameLayout, SkeletonRenderer
from .style import (
    DEFAULT_PALETTE,
    LAYOUTS,
    Palette,
    PersonColours,
    RenderConfig,
    Strokes,
    person_colours,
)
from .world_panel import WorldPanel, WorldScene, world_to_panel

__all__ = [
    "DEFAULT_PALETTE",
    "JOINT_SIDES",
    "LAYOUTS",
    "MPL_BOX_DIAGONAL",
    "MPL_EYE_DISTANCE",
    "Annotator2D",
    "FrameLayout",
    "Palette",
    "Panel3D",
    "PersonColours",
    "PersonPose",
    "RenderConfig",
    "SeedView",
    "Skeleton2D",
    "SkeletonRenderer",
    "Strokes",
    "WorldPanel",
    "WorldScene",
    "person_colours",
    "world_to_panel",
]
