"""Exports of the 3D result for other tools (``--export``, dispatched by ``writers``): a
joints table (``csv_table``), BVH files (``bvh``, their rig in ``rig``) and, where Blender
is installed, FBX files converted from the BVH files (``fbx``)."""
