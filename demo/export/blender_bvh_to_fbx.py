"""Blender script: import BVH files and export each as FBX, in one headless Blender run.

Run by ``demo/export/fbx.py`` as ``blender -b --factory-startup --python-exit-code 1
--python blender_bvh_to_fbx.py -- JOB.json``. It runs inside Blender's own Python, so it
uses only the standard library and ``bpy`` (never the project's modules).

JOB.json: ``{"files": [{"bvh": PATH, "fbx": PATH or null}], "probe_frames": [int, ...],
"report": PATH}``. For each file the BVH is imported into an empty scene (metres, Y up in
the file, Blender's Z up in the scene; its first frame at scene frame 0, so the FBX's
first key is at time 0), the scene's frame range and rate set from it, and
the armature exported as FBX (``fbx`` null: import only). With probe frames the report
JSON lists per file the armature's bone names, the action's frame range and, for each
probe frame (the BVH's frame index, from 0), every bone's head in Blender world
coordinates, metres; ``fbx_probe`` says the same of the FBX imported back.
"""
from __future__ import annotations

import builtins
import json
import sys

import bpy


def _open_without_u(file, mode="r", *args, **kwargs):
    """``open`` for Blender 3.4's BVH importer, which asks for mode 'rU' (rejected since Python 3.11)."""
    return builtins.open(file, mode.replace("U", ""), *args, **kwargs)


def _patch_bvh_importer() -> None:
    from io_anim_bvh import import_bvh

    import_bvh.open = _open_without_u  # the module's global shadows the builtin


def _empty_scene() -> None:
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for collection in (bpy.data.armatures, bpy.data.actions):
        for block in list(collection):
            collection.remove(block)


def import_bvh(path: str, frame_start: int = 0) -> bpy.types.Object:
    """Import one BVH into an emptied scene, its first frame at Blender frame
    ``frame_start`` (the video frame where the person appears, so the FBX's keys line up
    with the video); returns the armature object."""
    _empty_scene()
    _patch_bvh_importer()
    result = bpy.ops.import_anim.bvh(
        filepath=path, global_scale=1.0, rotate_mode="NATIVE", use_fps_scale=False,
        update_scene_fps=True, update_scene_duration=True, frame_start=frame_start,
    )  # fmt: skip
    if "FINISHED" not in result:
        raise RuntimeError(f"Blender could not import {path}: {result}")
    armature = bpy.context.view_layer.objects.active
    scene = bpy.context.scene
    # the importer only ever extends the scene's range (the factory default ends at 250): set it
    first, last = armature.animation_data.action.frame_range
    scene.frame_start, scene.frame_end = round(first), round(last)
    # the importer rounds the rate to an integer: keep a fractional one (29.97) exactly
    frame_time = _frame_time(path)
    if frame_time > 0:
        fps = 1.0 / frame_time
        scene.render.fps = max(1, round(fps))
        scene.render.fps_base = scene.render.fps / fps
    return armature


def _frame_time(path: str) -> float:
    with builtins.open(path, encoding="ascii") as f:
        for line in f:
            if line.startswith("Frame Time:"):
                return float(line.split(":", 1)[1])
    return 0.0


def export_fbx(armature: bpy.types.Object, path: str) -> None:
    """The armature and its animation (every frame, unsimplified) as FBX, Y up, metres."""
    bpy.ops.object.select_all(action="DESELECT")
    armature.select_set(True)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.export_scene.fbx(
        filepath=path, check_existing=False, use_selection=True, object_types={"ARMATURE"},
        add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
        bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0, axis_forward="-Z", axis_up="Y",
    )  # fmt: skip


def import_fbx(path: str) -> bpy.types.Object:
    """Import an FBX into an emptied scene; returns its armature object."""
    _empty_scene()
    bpy.ops.import_scene.fbx(filepath=path)
    return next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")


def probe(armature: bpy.types.Object, frames: list[int]) -> dict:
    """Bone names, the action's frame range, and bone heads (world, metres) at BVH frames."""
    scene = bpy.context.scene
    action = armature.animation_data.action
    first = round(action.frame_range[0])  # the BVH's frame 0
    heads = {}
    for frame in frames:
        scene.frame_set(first + frame)
        heads[str(frame)] = {b.name: list(armature.matrix_world @ b.head) for b in armature.pose.bones}
    return {
        "bones": [b.name for b in armature.data.bones],
        "frame_range": list(action.frame_range),
        "scene_frames": [scene.frame_start, scene.frame_end],
        "fps": scene.render.fps / scene.render.fps_base,
        "heads": heads,
    }


def main(argv: list[str]) -> None:
    job_path = argv[argv.index("--") + 1]
    with builtins.open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    report = []
    for item in job["files"]:
        armature = import_bvh(item["bvh"], int(item.get("frame_start", 0)))
        entry = {"bvh": item["bvh"], "fbx": item.get("fbx")}
        if job.get("probe_frames"):
            entry.update(probe(armature, job["probe_frames"]))
        if item.get("fbx"):
            export_fbx(armature, item["fbx"])
            if job.get("probe_frames"):  # read the FBX back: what another tool would get from it
                entry["fbx_probe"] = probe(import_fbx(item["fbx"]), job["probe_frames"])
        report.append(entry)
    with builtins.open(job["report"], "w", encoding="utf-8") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv)
