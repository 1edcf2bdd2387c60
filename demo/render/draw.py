"""Drawing primitives on BGR ``uint8`` images (cv2, antialiased, subpixel): clipped bone
segments, dashes, joint dots and rings, id labels, and translucent layers."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cv2
import numpy as np

from .style import BGR

# cv2 fixed-point drawing: coordinates carry 4 fractional bits, so bones move smoothly
# instead of snapping to whole pixels from frame to frame.
SHIFT = 4
ONE = 1 << SHIFT

#: Joint dots' dark rim.
RIM: BGR = (20, 20, 20)
#: Background of the tag beside the id label of an interpolated pose.
TAG_FILL: BGR = (40, 40, 40)


def clip_segments(a: np.ndarray, b: np.ndarray, lo: tuple[float, float], hi: tuple[float, float]
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


def segments(image: np.ndarray, starts: np.ndarray, ends: np.ndarray, colours: Sequence[BGR], width: int) -> None:
    """Antialiased lines with subpixel ends; parts outside ``image`` are clipped away."""
    if len(starts) == 0:
        return
    h, w = image.shape[:2]
    pad = 2.0 * width
    a, b, keep = clip_segments(np.asarray(starts, np.float64), np.asarray(ends, np.float64),
                               (-pad, -pad), (w + pad, h + pad))
    a = np.round(a * ONE).astype(np.int64)
    b = np.round(b * ONE).astype(np.int64)
    for k in np.flatnonzero(keep):
        cv2.line(image, (int(a[k, 0]), int(a[k, 1])), (int(b[k, 0]), int(b[k, 1])), colours[k], width,
                 cv2.LINE_AA, SHIFT)


def dash_pattern(width: int) -> tuple[float, float]:
    """``(dash, gap)`` lengths in pixels, centre to centre of the round caps, for lines
    ``width`` pixels thick: the gap stays open between the caps."""
    return 2.5 * width + 2.0, 2.0 * width + 3.0


def dashes(starts: np.ndarray, ends: np.ndarray, dash: float, gap: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split segments ``starts -> ends`` (``(n, 2)`` pixels) into dashes.

    Each segment starts with a dash at its start; the last dash ends at its end, so both
    joints stay connected. Returns the dashes' starts and ends and, for each dash, the
    index of its segment. Non-finite segments give no dashes.
    """
    starts, ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    d = ends - starts
    length = np.hypot(d[:, 0], d[:, 1])
    finite = np.isfinite(length)
    # A segment reaching far off-screen stays one dash (then clipped): no millions of dashes.
    split = finite & (length < 1e5)
    period = dash + gap
    count = finite.astype(np.int64)
    count[split] = np.maximum(1, np.ceil(length[split] / period)).astype(np.int64)
    owner = np.repeat(np.arange(len(starts)), count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)  # dash number within its segment
    per_pixel = np.zeros(len(starts))
    per_pixel[split & (length > 0)] = 1.0 / length[split & (length > 0)]
    t0 = np.clip(k * period * per_pixel[owner], 0.0, 1.0)
    t1 = np.clip((k * period + dash) * per_pixel[owner], 0.0, 1.0)
    t1[k == count[owner] - 1] = 1.0  # the last dash reaches the end joint
    base, step = starts[owner], d[owner]
    return base + t0[:, None] * step, base + t1[:, None] * step, owner


def shorten(starts: np.ndarray, ends: np.ndarray, by: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments pulled in by ``by`` pixels at both ends; one shorter than ``2 * by``
    shrinks to its midpoint."""
    d = ends - starts
    length = np.hypot(d[:, 0], d[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length > 0, np.minimum(0.5, by / length), 0.5)[:, None]
    return starts + t * d, ends - t * d


def dots(image: np.ndarray, centres: np.ndarray, colours: Sequence[BGR], radius: int, hollow: bool = False) -> None:
    """Joint dots at ``centres`` (``(n, 2)`` finite pixels near ``image``): a filled disc
    with a dark rim, or (``hollow``) a coloured ring around a dark one, open in the middle."""
    fixed = np.round(np.asarray(centres, np.float64) * ONE).astype(np.int64)
    for (x, y), colour in zip(fixed, colours):
        centre = (int(x), int(y))
        if hollow:  # a ring as wide as the dot: its dark rim outside, the open middle inside
            # Concentric 1 px circles: cv2's thick antialiased circles are several times slower.
            ring = max(1, radius // 2)
            cv2.circle(image, centre, round((radius + (ring + 1) / 2) * ONE), RIM, 1, cv2.LINE_AA, SHIFT)
            for k in range(ring):
                r = radius + k - (ring - 1) / 2
                cv2.circle(image, centre, round(r * ONE), colour, 1, cv2.LINE_AA, SHIFT)
        else:
            cv2.circle(image, centre, radius * ONE, colour, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(image, centre, radius * ONE, RIM, 1, cv2.LINE_AA, SHIFT)


def label(image: np.ndarray, text: str, anchor: tuple[float, float], fill: BGR, ink: BGR, font_scale: float,
          tag: str = "") -> None:
    """``text`` in a box of colour ``fill`` centred above ``anchor`` and kept inside
    ``image``; with ``tag``, a smaller dark box outlined in ``fill`` right beside it."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, font, font_scale, thickness)
    pad = max(2, th // 4)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    if tag:
        tag_scale = max(0.35, 0.8 * font_scale)
        tag_thickness = max(1, round(tag_scale * 2))
        (gw, gh), _ = cv2.getTextSize(tag, font, tag_scale, tag_thickness)
        gw_box = gw + 2 * pad
    else:
        gw_box = 0
    h, w = image.shape[:2]
    total = bw + gw_box
    x0 = int(np.clip(anchor[0] - total / 2, 0, max(0, w - total)))
    y0 = int(np.clip(anchor[1] - bh, 0, max(0, h - bh)))
    cv2.rectangle(image, (x0, y0), (x0 + bw - 1, y0 + bh - 1), fill, -1)
    cv2.putText(image, text, (x0 + pad, y0 + pad + th), font, font_scale, ink, thickness, cv2.LINE_AA)
    if tag:
        gx = x0 + bw
        cv2.rectangle(image, (gx, y0), (gx + gw_box - 1, y0 + bh - 1), TAG_FILL, -1)
        cv2.rectangle(image, (gx, y0), (gx + gw_box - 1, y0 + bh - 1), fill, 1)
        baseline_y = y0 + (bh + gh) // 2
        cv2.putText(image, tag, (gx + pad, baseline_y), font, tag_scale, fill, tag_thickness, cv2.LINE_AA)


@contextmanager
def translucent(image: np.ndarray, box: tuple[float, float, float, float], opacity: float) -> Iterator[
        tuple[np.ndarray, tuple[int, int]]]:
    """Draw on a layer that is blended over ``image`` at ``opacity`` on exit.

    ``box`` = (x0, y0, x1, y1) pixels bounds what will be drawn (clipped to the image);
    yields the layer (a copy of that part of ``image``) and its top-left pixel, to subtract
    from coordinates. Pixels left untouched on the layer keep their value.
    """
    h, w = image.shape[:2]
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(w, np.ceil(box[2]) + 1)), int(min(h, np.ceil(box[3]) + 1))
    if x1 <= x0 or y1 <= y0:  # nothing of it on the image: draw on a scrap
        yield np.zeros((1, 1, 3), np.uint8), (x0, y0)
        return
    under = image[y0:y1, x0:x1]
    layer = under.copy()
    yield layer, (x0, y0)
    cv2.addWeighted(layer, opacity, under, 1.0 - opacity, 0.0, dst=under)
