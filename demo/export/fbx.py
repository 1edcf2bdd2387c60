"""FBX export: each BVH converted by Blender run headless (``--export fbx``).

Blender is optional and found as ``$POSE3D_BLENDER`` or ``blender`` on the PATH; one
Blender process converts all the files of a clip (its start-up costs seconds). Each FBX
(``<clip>_person<id>.fbx`` beside its BVH) holds the armature and its animation baked on
every frame of the person's lifetime, starting at the video frame where they appear
(the BVH's ``first_frame``), metres, Y up, written under a temporary name and renamed when Blender
succeeded. The conversion script is ``blender_bvh_to_fbx.py`` beside this file.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.files import temp_path_beside

BLENDER_ENV = "POSE3D_BLENDER"
SCRIPT = Path(__file__).with_name("blender_bvh_to_fbx.py")
INSTALL_HINT = (
    "FBX export needs Blender 2.80 or newer: install it (e.g. `apt install blender`, or from blender.org) "
    f"and put `blender` on the PATH or set {BLENDER_ENV} to its executable"
)
HELP = (
    "fbx: also write <clip>_person<id>.fbx beside each BVH, converted by Blender run headless "
    f"(Blender 2.80 or newer, tested with 3.4; `blender` on the PATH or {BLENDER_ENV} set to its executable)"
)


@dataclass
class BlenderImport:
    """What Blender saw of one BVH: its armature's ``bones``, the action's ``frame_range``
    (first, last: the BVH's first frame is imported at Blender frame ``first_frame`` of its
    side JSON, the video frame where the person appears, so that the FBX's keys line up
    with the video: its first key is at time first_frame / fps), the scene's
    ``fps``, and per probed BVH frame each bone's head in Blender's world (metres, Z up:
    BVH ``(x, y, z)`` is Blender ``(x, -z, y)``)."""

    bvh: Path
    fbx: Path | None
    bones: list[str] = field(default_factory=list)
    frame_range: tuple[float, float] = (0.0, 0.0)
    fps: float = 0.0
    heads: dict[int, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    #: with probe frames: the same of the FBX imported back into Blender
    fbx_probe: BlenderImport | None = None

    @classmethod
    def from_report(cls, entry: dict, fbx: Path | None) -> BlenderImport:
        """From one entry of the Blender script's report."""
        return cls(
            bvh=Path(entry["bvh"]),
            fbx=fbx,
            bones=entry.get("bones", []),
            frame_range=tuple(entry.get("frame_range", (0.0, 0.0))),
            fps=entry.get("fps", 0.0),
            heads={int(f): {k: tuple(v) for k, v in h.items()} for f, h in entry.get("heads", {}).items()},
            fbx_probe=cls.from_report({"bvh": entry["bvh"], **entry["fbx_probe"]}, fbx) if "fbx_probe" in entry else None,
        )


def find_blender() -> Path | None:
    """Blender's executable: ``$POSE3D_BLENDER`` if set, else ``blender`` on the PATH; None if neither."""
    configured = os.environ.get(BLENDER_ENV)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    found = shutil.which("blender")
    return Path(found) if found else None


def bvh_to_fbx(bvh_paths: Sequence[str | Path], *, blender: str | Path | None = None) -> list[Path]:
    """Convert each BVH to an FBX beside it (same name, ``.fbx``) in one Blender run.

    Raises:
        UserError: Blender is missing, or it failed (the last lines of its output say why).
    """
    results = run_blender(bvh_paths, blender=blender, fbx=True)
    return [r.fbx for r in results if r.fbx is not None]


def run_blender(
    bvh_paths: Sequence[str | Path],
    *,
    blender: str | Path | None = None,
    fbx: bool = True,
    probe_frames: Sequence[int] = (),
    timeout_s: float | None = None,
) -> list[BlenderImport]:
    """Import each BVH in one headless Blender run; optionally export FBX and probe poses.

    Args:
        bvh_paths: the BVH files.
        blender: Blender's executable (default: :func:`find_blender`).
        fbx: write ``<name>.fbx`` beside each BVH.
        probe_frames: BVH frame indices (from 0) at which to report the bones' heads.
        timeout_s: Blender's time limit for all files; default 2 minutes plus 30 s per MB
            of BVH (Blender 3.4 converts a 9000-frame, 4.6 MB file in about 25 s).

    Raises:
        UserError: Blender is missing, failed, or timed out.
    """
    exe = Path(blender) if blender is not None else find_blender()
    if exe is None or not exe.is_file():
        raise UserError(INSTALL_HINT)
    bvh_paths = [Path(p).resolve() for p in bvh_paths]
    if not bvh_paths:
        return []
    missing = [p.name for p in bvh_paths if not p.is_file()]
    if missing:
        raise UserError(f"no BVH file to convert: {', '.join(missing)}")
    if timeout_s is None:
        timeout_s = 120.0 + 30.0 * sum(p.stat().st_size for p in bvh_paths) / 1e6
    finals = [p.with_suffix(".fbx") for p in bvh_paths] if fbx else [None] * len(bvh_paths)
    # Blender's exporter adds ".fbx" to a name without it: the temporary names keep the suffix
    temps = [temp_path_beside(f, suffix=".fbx") if f else None for f in finals]
    try:
        with tempfile.TemporaryDirectory(prefix="pose3d_blender_") as work:
            job = Path(work) / "job.json"
            report = Path(work) / "report.json"
            files = [{"bvh": str(b), "fbx": str(t) if t else None, "frame_start": _first_frame(b)}
                     for b, t in zip(bvh_paths, temps)]  # fmt: skip
            job.write_text(json.dumps({"files": files, "probe_frames": list(probe_frames), "report": str(report)}))
            command = [
                str(exe), "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                "--python", str(SCRIPT), "--", str(job),
            ]  # fmt: skip
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
            except subprocess.TimeoutExpired:
                raise UserError(f"Blender did not finish converting {len(bvh_paths)} BVH file(s) in {timeout_s:.0f} s") from None
            except OSError as e:
                raise UserError(f"cannot run Blender ({exe}): {e.strerror or e}") from None
            if done.returncode != 0 or not report.is_file():
                tail = " | ".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-3:])
                raise UserError(f"Blender failed (exit {done.returncode}) converting BVH to FBX: {tail}")
            entries = json.loads(report.read_text())
        results = []
        for entry, temp, final in zip(entries, temps, finals):
            if temp is not None:
                if temp.stat().st_size == 0:
                    raise UserError(f"Blender wrote no FBX for {entry['bvh']}")
                os.replace(temp, final)
            results.append(BlenderImport.from_report(entry, final))
        return results
    finally:
        for temp in temps:
            if temp is not None:
                temp.unlink(missing_ok=True)


def _first_frame(bvh: Path) -> int:
    """The video frame of the BVH's frame 0 (``first_frame`` in its side JSON; 0 without
    one): the FBX's animation starts there, so it lines up with the video."""
    try:
        return int(json.loads(bvh.with_suffix(".json").read_text()).get("first_frame", 0))
    except (OSError, ValueError, TypeError):
        return 0
