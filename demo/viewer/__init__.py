"""The browser viewer: a self-contained HTML page per clip (video and orbitable 3D
skeletons in sync, three.js inlined) and a gallery page for a folder of clips.

    from demo.viewer import write_viewer, write_index, GalleryEntry
    page = write_viewer(out_dir, "clip", pose3d, video_file="clip_pose.mp4")
    write_index(out_root, [GalleryEntry.for_clip(out_root, out_dir, "clip", people=2, duration_s=12.0)])
"""
from .data import DATA_BUDGET_BYTES
from .gallery import INDEX_NAME, GalleryEntry, write_index
from .page import viewer_name, write_viewer

__all__ = ["DATA_BUDGET_BYTES", "INDEX_NAME", "GalleryEntry", "viewer_name", "write_index", "write_viewer"]
