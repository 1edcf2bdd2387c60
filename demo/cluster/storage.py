"""Files on a cluster: whether every node sees the output folder (checked once at start),
and the leftovers of a worker that was killed while writing.

Light on purpose: :func:`storage_problem` runs as a Ray task on every node, and importing
the models' stack there would cost seconds per node.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import UserError
from core.files import temp_path_beside

# What core.files.temp_path_beside names a file being written (".<name>.<8 hex><suffix>", the
# suffix ".part", ".part.mp4", ".part.gif" or an FBX's ".fbx"): published by a rename, so a
# killed writer leaves only these behind.
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.(part(\.\w+)?|fbx)$")


def storage_problem(probe: str, token: str, video: str) -> str:
    """Run on a node: why it cannot share the driver's files ("" when it can).

    Args:
        probe: a file the driver wrote in the output folder.
        token: what the driver wrote in it (another machine's folder of the same name would
            not hold it).
        video: an input video every node must read.
    """
    path = Path(probe)
    try:
        seen = path.read_text()
    except OSError:
        seen = ""
    if seen != token:
        return f"{path.parent} is not the driver's folder there (not a shared filesystem)"
    try:
        temp_path_beside(path.parent / ".write-test").unlink()
    except UserError as e:
        return str(e)
    if not os.access(video, os.R_OK):
        return f"cannot read the input {video}"
    return ""


def remove_partial_files(out_dir: Path) -> int:
    """Delete the temporary files a killed writer left in ``out_dir`` (recursively); the
    finished files it had published stay. Returns how many were removed."""
    if not out_dir.is_dir():
        return 0
    removed = 0
    for path in out_dir.rglob(".*"):
        if path.is_file() and _TEMP_NAME.match(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
