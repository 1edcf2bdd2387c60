"""Writing a clip's viewer page: ``<clip>_viewer.html``, one self-contained file.

The page is ``templates/viewer.html`` with the stylesheet, the vendored three.js bundle
(``vendor/``), the viewer script and the clip's pose data (:mod:`demo.viewer.data`, as
JSON) inlined, so it works from ``file://`` with no network and no server. Its only outside
reference is the clip's side-by-side video, by a relative URL (the file beside the page).
A Content-Security-Policy in the page forbids any other load.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.files import atomic_output
from demo.render.style import Palette, RenderConfig

from . import data as pose_data
from .data import DATA_BUDGET_BYTES, TrackLike

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
THREE_BUNDLE = HERE / "vendor" / "three.viewer.min.js"
VIEWER_SUFFIX = "_viewer.html"
#: Version of the embedded data's layout (``data.format`` in the page).
DATA_FORMAT = 1


def viewer_name(stem: str) -> str:
    """The page's file name for a clip."""
    return f"{stem}{VIEWER_SUFFIX}"


def viewer_data(stem: str, pose3d: Any, video_file: str | None, *, palette: Palette | None = None,
                budget: int = DATA_BUDGET_BYTES) -> dict[str, Any]:  # fmt: skip
    """Everything the page shows, as the JSON object it embeds.

    Args:
        stem: the clip's name (shown as the title).
        pose3d: a :class:`demo.pose3d.Pose3DResult`: ``video`` (fps, num_frames, width,
            height), ``tracks`` (``track_id``, ``start``, ``state``, ``world`` in world
            metres, Y up, over each track's span) and, where present, ``camera`` and
            ``ground`` (without them: no frustum).
        video_file: the video's path relative to the page (percent-encoded here), or None.
        palette: person colours (default: the renderer's default palette).
        budget: most bytes of packed pose data (see :func:`demo.viewer.data.pack_tracks`).
    """
    video = pose3d.video
    tracks: list[TrackLike] = list(pose3d.tracks)
    packed, stride = pose_data.pack_tracks(tracks, budget)
    palette = palette or Palette(RenderConfig())
    extent = pose_data.scene_extent(tracks)
    camera = pose_data.camera_json(getattr(pose3d, "camera", None), getattr(pose3d, "ground", None),
                                   None if extent is None else extent[2])  # fmt: skip
    notes = []
    if stride > 1:
        notes.append(f"Long clip: the 3D data keeps every {_ordinal(stride)} frame to stay under "
                     f"{budget / 1e6:.0f} MB (the frames between show the last kept one).")  # fmt: skip
    ground = getattr(pose3d, "ground", None)
    return {
        "format": DATA_FORMAT,
        "clip": stem,
        "fps": float(video.fps),
        "numFrames": int(video.num_frames),
        "width": int(video.width),
        "height": int(video.height),
        "video": None if video_file is None else quote(video_file, safe="/"),
        "stride": stride,
        "notes": notes,
        "skeleton": pose_data.skeleton_json(),
        "camera": camera,
        "groundMethod": getattr(ground, "method", None),
        "view": pose_data.initial_view(extent, camera),
        "grid": pose_data.grid_json(extent, camera),
        "people": [
            {"id": p.track_id, **pose_data.person_style(p.track_id, palette), "first": p.first, "count": p.count,
             "bits": p.bits, "deltas": p.deltas, "state": p.state}
            for p in packed
        ],
    }


def render_page(page_data: dict[str, Any]) -> str:
    """The page's HTML for :func:`viewer_data`'s object."""
    template = (TEMPLATES / "viewer.html").read_text(encoding="utf-8")
    return fill_template(template, {
        "TITLE": html.escape(f"{page_data['clip']} · 3D viewer"),
        "STYLE": (TEMPLATES / "viewer.css").read_text(encoding="utf-8"),
        "THREE": _script_text(THREE_BUNDLE.read_text(encoding="utf-8")),
        "VIEWER": _script_text((TEMPLATES / "viewer.js").read_text(encoding="utf-8")),
        "DATA": json_for_script(page_data),
    })  # fmt: skip


def write_viewer(out_dir: str | Path, stem: str, pose3d: Any, *, video_file: str | None,
                 palette: Palette | None = None, budget: int = DATA_BUDGET_BYTES) -> Path:  # fmt: skip
    """Write ``<out_dir>/<stem>_viewer.html`` (atomically) and return its path.

    Args:
        out_dir: the clip's output folder.
        stem: the clip's name.
        pose3d: the clip's :class:`demo.pose3d.Pose3DResult`.
        video_file: the side-by-side video's file name relative to ``out_dir`` (normally
            ``<stem>_pose.mp4``), or None for a page with a timeline only (``--no-video``).
        palette: person colours; pass the renderer's so the page matches the video.
        budget: most bytes of pose data embedded (default :data:`DATA_BUDGET_BYTES`);
            longer clips keep every n-th frame and the page says so.
    """
    path = Path(out_dir) / viewer_name(stem)
    page = render_page(viewer_data(stem, pose3d, video_file, palette=palette, budget=budget))
    with atomic_output(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def json_for_script(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: ``<``, ``>`` and ``&``
    escaped, so no clip name can close the element or start a comment."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script_text(js: str) -> str:
    """Script source that cannot end its ``<script>`` element early."""
    if re.search(r"</script|<!--", js, re.IGNORECASE):
        raise ValueError("script text contains '</script' or '<!--', which would break the inlined page")
    return js


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace each ``{{NAME}}`` in one pass (inserted text is never scanned again)."""
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values[m.group(1)], template)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
