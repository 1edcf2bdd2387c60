"""Exports of the 3D result for other tools (``--export``; the format names are parsed in
:mod:`.formats`, the writers that run them are in :mod:`demo.outputs`): a joints table
(:mod:`.csv_table`), BVH files (:mod:`.bvh`: where a BVH is written; its rig in
:mod:`.rig`) and, where Blender is installed, FBX files converted from the BVH files
(:mod:`.fbx`, with the script Blender runs in :mod:`.blender_bvh_to_fbx`)."""
