"""The left panel: each person's 2D skeleton drawn over the input frame."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import draw
from .person import JOINT_SIDES, PersonPose
from .style import Palette, RenderConfig, Strokes


class Annotator2D:
    """Draws people's 2D skeletons on a frame: bones, joint dots and id labels.

    Confident joints are solid; joints scoring below ``config.min_score`` and the bones
    touching them are blended over the frame at ``config.faded_opacity``. An interpolated
    pose (``PersonPose.filled``) has dashed bones, hollow joints and a tag by its id.
    """

    def __init__(self, config: RenderConfig | None = None, palette: Palette | None = None) -> None:
        self.config = config or RenderConfig()
        self.palette = palette or Palette(self.config)

    def annotate(self, frame: np.ndarray, people: Sequence[PersonPose], out: np.ndarray | None = None) -> np.ndarray:
        """``frame`` with everyone's 2D skeleton: into ``out`` (which may be ``frame``
        itself to draw in place), or into a new copy of ``frame`` when ``out`` is None."""
        if out is None:
            out = frame.copy()
        elif out is not frame:
            out[:] = frame
        strokes = Strokes.for_height(self.config, out.shape[0])
        for person in people:
            if person.keypoints_2d is not None:
                self._person(out, person, strokes)
        return out

    def _person(self, image: np.ndarray, person: PersonPose, strokes: Strokes) -> None:
        c = self.config
        xy = person.keypoints_2d
        finite = np.isfinite(xy).all(axis=1)
        confident = person.confident_2d(c.min_score)
        colours = self.palette.colours(person.track_id)
        skeleton = person.skeleton_2d
        bones = np.array(skeleton.bones, dtype=np.intp)
        drawn = finite[bones[:, 0]] & finite[bones[:, 1]]
        solid_bone = drawn & confident[bones[:, 0]] & confident[bones[:, 1]]
        bone_colours = np.array([colours.by_side[s] for s in skeleton.bone_sides])

        line = strokes.line_2d
        radius = line + 1
        h, w = image.shape[:2]
        with np.errstate(invalid="ignore"):  # NaN joints are already not finite
            inside = finite & (np.abs(xy[:, 0] - w / 2) < w / 2 + radius) & (np.abs(xy[:, 1] - h / 2) < h / 2 + radius)
        joint_colours = np.array([colours.by_side[s] for s in JOINT_SIDES[skeleton]])

        def skeleton_part(target: np.ndarray, bone_mask: np.ndarray, joint_mask: np.ndarray,
                          offset: tuple[float, float] = (0.0, 0.0)) -> None:
            shift = np.asarray(offset, np.float64)
            starts, ends = xy[bones[bone_mask, 0]] - shift, xy[bones[bone_mask, 1]] - shift
            bone_bgr = bone_colours[bone_mask]
            if person.filled:  # dashes from ring to ring, leaving the hollow joints open
                starts, ends = draw.shorten(starts, ends, radius + 1)
                starts, ends, owner = draw.dashes(starts, ends, *draw.dash_pattern(line))
                bone_bgr = bone_bgr[owner]
            draw.segments(target, starts, ends, [tuple(map(int, b)) for b in bone_bgr], line)
            draw.dots(target, xy[joint_mask] - shift, [tuple(map(int, j)) for j in joint_colours[joint_mask]],
                      radius, hollow=person.filled)

        faded_bone = drawn & ~solid_bone
        faded_joint = inside & ~confident
        if faded_bone.any() or faded_joint.any():
            # The faded part first, under the solid one, on a layer blended over the frame.
            ends = np.concatenate([xy[bones[faded_bone].ravel()], xy[faded_joint]])
            ends = np.clip(ends, -4.0 * radius, np.array([w, h]) + 4.0 * radius)
            lo, hi = ends.min(axis=0) - 2 * radius, ends.max(axis=0) + 2 * radius
            with draw.translucent(image, (lo[0], lo[1], hi[0], hi[1]), c.faded_opacity) as (layer, origin):
                skeleton_part(layer, faded_bone, faded_joint, origin)
        skeleton_part(image, solid_bone, inside & confident)

        if c.show_ids and inside.any():
            shown = xy[inside]
            centre_x = (shown[:, 0].min() + shown[:, 0].max()) / 2
            anchor = (float(centre_x), float(shown[:, 1].min()) - 2 * radius)
            draw.label(image, str(person.track_id), anchor, colours.base, colours.text, strokes.font_scale,
                       tag=c.filled_tag if person.filled else "")
