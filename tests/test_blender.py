"""Blender reads our BVH files (and the FBX files it converts them to) as we meant them.

One headless Blender run imports every BVH written here, reports the armature, frame
range and bone heads, exports each as FBX and reads that back. Skips where Blender is
not installed (Debian: ``apt install blender``; or set POSE3D_BLENDER).
"""
from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.joints import H36M_JOINTS
from demo.export import bvh, fbx

from .test_export_bvh import walking

PROBES = [0, 17, 39]  # BVH frame indices; 17 is a filled frame of person 2


def to_blender(points: np.ndarray) -> np.ndarray:
    """Our world (Y up, z toward the camera) as Blender's importer places it (Z up): (x, -z, y)."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    blender = fbx.find_blender()
    if blender is None:
        pytest.skip("Blender is not installed (Debian: apt install blender; or set POSE3D_BLENDER)")
    out = tmp_path_factory.mktemp("blender")
    walk, _ = walking(48)
    gaps = walk.copy()
    gaps[:, 11:17] += np.array([0.0, -0.03, 0.02])  # not the rig's geometry: normalised
    present = np.ones(48, bool)
    present[15:20] = False
    gaps[~present] = np.nan
    spin, _ = walking(40, fps=29.97)
    people = {
        "clip_person1.bvh": (walk, np.ones(48, bool), 30),
        "clip_person2.bvh": (gaps, present, 30),
        "ntsc_person7.bvh": (spin, np.ones(40, bool), 29.97),
    }
    paths, expected = [], {}
    for name, (world, mask, fps) in people.items():
        paths.append(bvh.write_bvh(out / name, world, mask, fps).bvh)
        expected[name] = (bvh.bvh_positions(world, mask), fps)
    results = fbx.run_blender(paths, blender=blender, fbx=True, probe_frames=PROBES)
    return {"out": out, "results": {r.bvh.name: r for r in results}, "expected": expected}


def test_blender_imports_every_bvh_as_written(converted: dict) -> None:
    assert sorted(converted["results"]) == sorted(converted["expected"])
    for name, result in converted["results"].items():
        positions, fps = converted["expected"][name]
        assert result.bones == list(H36M_JOINTS), name
        first, last = result.frame_range
        assert last - first + 1 == len(positions), name  # one Blender frame per video frame
        assert result.fps == pytest.approx(fps, rel=1e-6)
        for frame in PROBES:
            heads = np.array([result.heads[frame][joint] for joint in H36M_JOINTS])
            assert np.abs(heads - to_blender(positions[frame])).max() < 1e-3, (name, frame)


def test_fbx_files_hold_the_same_animation(converted: dict) -> None:
    for name, result in converted["results"].items():
        positions, fps = converted["expected"][name]
        assert result.fbx == converted["out"] / name.replace(".bvh", ".fbx")
        assert result.fbx.read_bytes()[:18] == b"Kaydara FBX Binary"
        back = result.fbx_probe
        assert back.bones == list(H36M_JOINTS)
        assert back.fps == pytest.approx(fps, rel=1e-6)
        if fps != int(fps):
            continue  # Blender's FBX importer times keys at the rounded rate (30, not 29.97)
        assert back.frame_range[1] - back.frame_range[0] + 1 == len(positions)
        for frame in PROBES:
            heads = np.array([back.heads[frame][joint] for joint in H36M_JOINTS])
            assert np.abs(heads - to_blender(positions[frame])).max() < 1e-3, (name, frame)
    leftovers = [p.name for p in converted["out"].iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_missing_blender_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fbx.BLENDER_ENV, str(tmp_path / "no-blender"))
    assert fbx.find_blender() is None
    with pytest.raises(UserError, match="FBX export needs Blender .* set POSE3D_BLENDER"):
        fbx.bvh_to_fbx([tmp_path / "a.bvh"])


def test_failing_blender_is_reported_and_leaves_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "blender"
    fake.write_text("#!/bin/sh\necho 'Error: cannot open display' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    walk, _ = walking(5)
    path = bvh.write_bvh(tmp_path / "out" / "c_person1.bvh", walk, np.ones(5, bool), 30).bvh
    with pytest.raises(UserError, match=r"Blender failed \(exit 3\).*cannot open display"):
        fbx.bvh_to_fbx([path], blender=fake)
    assert sorted(p.name for p in path.parent.iterdir()) == ["c_person1.bvh", "c_person1.json"]
    with pytest.raises(UserError, match="no BVH file to convert: gone.bvh"):
        fbx.bvh_to_fbx([tmp_path / "gone.bvh"], blender=fake)
