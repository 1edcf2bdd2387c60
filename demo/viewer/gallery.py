"""The folder index: ``<out_root>/index.html``, one card per clip of a batch, each linking
to the clip's viewer page. Like the viewer it is one file with no outside reference but
the clips' own files (thumbnails, GIFs, videos, viewers), by relative URLs.
"""
from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.files import atomic_output

from .page import TEMPLATES, fill_template, viewer_name

INDEX_NAME = "index.html"


@dataclass(frozen=True)
class GalleryEntry:
    """One clip's card.

    Attributes:
        name: the clip's name as shown.
        viewer: its viewer page, relative to the index's folder (POSIX separators), or None
            (a failed clip, or one written with ``--no-html``).
        thumbnail: an image or GIF relative to the index's folder, or None.
        video: the side-by-side video relative to the index's folder, or None; shown as
            the card's picture (its first frame) where there is no thumbnail.
        duration_s: the clip's length in seconds, or None where unknown.
        people: people tracked, or None where unknown.
        status: ``done``, ``skipped`` or ``failed``.
        message: why it failed or was skipped ("" for none).
    """

    name: str
    viewer: str | None
    thumbnail: str | None = None
    video: str | None = None
    duration_s: float | None = None
    people: int | None = None
    status: str = "done"
    message: str = ""

    @classmethod
    def for_clip(cls, out_root: str | Path, out_dir: str | Path, stem: str, *, status: str = "done", message: str = "",
                 duration_s: float | None = None, people: int | None = None) -> GalleryEntry:  # fmt: skip
        """The entry of a clip whose files are in ``out_dir`` (below ``out_root``): its
        ``<stem>_viewer.html``, ``<stem>_pose.gif`` and ``<stem>_pose.mp4`` where they exist.
        A failed clip links nothing: files in its folder are an earlier run's, not this one's."""
        out_root, out_dir = Path(out_root), Path(out_dir)

        def rel(name: str) -> str | None:
            if status == "failed":
                return None
            path = out_dir / name
            return path.relative_to(out_root).as_posix() if path.is_file() and path.is_relative_to(out_root) else None

        name = out_dir.relative_to(out_root).as_posix() if out_dir.is_relative_to(out_root) else out_dir.name
        return cls(name, rel(viewer_name(stem)), rel(f"{stem}_pose.gif"), rel(f"{stem}_pose.mp4"),
                   duration_s, people, status, message)  # fmt: skip


def write_index(out_root: str | Path, clips: Sequence[GalleryEntry], *, title: str = "pose3d results") -> Path:
    """Write ``<out_root>/index.html`` (atomically) and return its path."""
    path = Path(out_root) / INDEX_NAME
    cards = "\n".join(_card(c) for c in clips) or '<p class="none">No clips.</p>'
    counts = {s: sum(c.status == s for c in clips) for s in ("done", "skipped", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no clips"
    page = (TEMPLATES / "index.html").read_text(encoding="utf-8")
    made = time.strftime("%Y-%m-%d %H:%M")
    values = {"TITLE": html.escape(title), "SUMMARY": html.escape(f"{len(clips)} clips: {summary} · {made}"),
              "CARDS": cards, "STYLE": (TEMPLATES / "index.css").read_text(encoding="utf-8")}  # fmt: skip
    page = fill_template(page, values)
    with atomic_output(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _url(rel: str) -> str:
    """A relative file path as an attribute-safe relative URL."""
    return html.escape(quote(rel, safe="/"), quote=True)


def _card(c: GalleryEntry) -> str:
    e = html.escape
    if c.thumbnail:
        picture = f'<img src="{_url(c.thumbnail)}" alt="" loading="lazy">'
    elif c.video:  # the first frame, by the browser: no thumbnail file to make
        picture = f'<video src="{_url(c.video)}#t=0.1" muted preload="metadata"></video>'
    else:
        picture = '<div class="blank">no picture</div>'
    facts = [e(c.status)]
    if c.duration_s is not None:
        facts.append(_duration(c.duration_s))
    if c.people is not None:
        facts.append(f"{c.people} {'person' if c.people == 1 else 'people'}")
    link_open, link_close = (f'<a href="{_url(c.viewer)}">', "</a>") if c.viewer else ("", "")
    message = f'<p class="message">{e(c.message)}</p>' if c.message else ""
    return (f'<article class="card {e(c.status)}">{link_open}{picture}<h2>{e(c.name)}</h2>{link_close}'
            f'<p class="facts">{" · ".join(facts)}</p>{message}</article>')  # fmt: skip


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"
