"""``python -m lifter``: info, list and lift, with one-line errors and no half-written output."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lifter.cli import main
from lifter.registry import create_lifter, get_entry

from .conftest import REPO, fixture_path


@pytest.fixture()
def seeds_keypoints(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """The seeds' input_2D/keypoints.npz layout: reconstruction (1, T, 17, 2)."""
    with np.load(fixture_path("lifting_ref.npz")) as data:
        ref = {k: data[k] for k in data.files}
    path = tmp_path / "keypoints.npz"
    np.savez_compressed(path, reconstruction=ref["track"][None])
    return path, ref


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_lift_writes_3d_matching_the_reference(seeds_keypoints, tmp_path: Path, capsys) -> None:
    kp, ref = seeds_keypoints
    out = tmp_path / "out" / "pose3d.npz"
    rc = main(["lift", str(kp), "--checkpoint", str(fixture_path("poseformerv2_ref_f27_k3_c3.bin")),
               "--frames", "27", "--size", "1280", "720", "--out", str(out)])  # fmt: skip
    assert rc == 0
    with np.load(out) as res:
        assert res["camera"].shape == (1, 40, 17, 3)
        assert np.abs(res["camera"][0] - ref["poseformerv2_f27_camera"]).max() <= 1e-5
        assert np.abs(res["world"][0] - ref["poseformerv2_f27_world"]).max() <= 1e-5
        assert not res["filled"].any() and str(res["mode"]) == "centre" and int(res["window"]) == 27
    assert "lifting" in capsys.readouterr().err  # the progress bar


def test_lift_seq2seq_and_plain_track_layout(tmp_path: Path) -> None:
    track = np.load(fixture_path("lifting_ref.npz"))["track"]
    kp = tmp_path / "kp.npz"
    np.savez(kp, reconstruction=track)  # (T, 17, 2) without the person axis
    out = tmp_path / "o.npz"
    rc = main(["-q", "lift", str(kp), "--checkpoint", str(fixture_path("stcformer_ref.pth")), "--frames", "27",
               "--size", "1280", "720", "--out", str(out), "--mode", "seq2seq", "--overlap", "6"])  # fmt: skip
    assert rc == 0
    assert np.load(out)["camera"].shape == (1, 40, 17, 3)


def test_info_on_a_fixture(capsys) -> None:
    assert main(["info", str(fixture_path("stcformer_ref.pth")), "--frames", "27"]) == 0
    out = capsys.readouterr().out
    assert "family:       stcformer" in out and "layers=2, d_hid=128, heads=8" in out
    assert "parameters:   398,544" in out and "no official checkpoint has this layout" in out
    assert "loads:        yes" in out


def test_info_on_an_official_layout(capsys) -> None:
    entry = get_entry("poseformerv2-243-27-27")
    torch.save({"model_pos": create_lifter(entry.name).state_dict()}, entry.path)
    assert main(["info", str(entry.path)]) == 0
    out = capsys.readouterr().out
    assert "official:     poseformerv2-243-27-27 (window 243, reported H36M MPJPE 45.2 mm)" in out
    assert "window:       243 frames (registry entry poseformerv2-243-27-27)" in out
    assert "parameters:   14,381,899" in out


def test_list_shows_every_entry(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "stcformer-27" in out and "poseformerv2-243-27-27" in out and "27_243_45.2.bin" in out


@pytest.mark.parametrize(
    "case,expected",
    [
        ("missing_keypoints", "keypoints file .*missing.npz does not exist"),
        ("no_reconstruction", "has no 'reconstruction' array .* found: points"),
        ("wrong_shape", r"expected keypoints of shape \(P, T, 17, 2\) or \(T, 17, 2\), got \(1, 40, 16, 2\)"),
        ("hrnet_checkpoint", "is an HRNet 2D keypoint checkpoint, not a lifter"),
        ("missing_registry_file", "checkpoint 'stcformer-27' is not downloaded"),
        ("cuda_without_gpu", "no CUDA GPU here"),
    ],
)
def test_errors_are_one_line_and_write_nothing(seeds_keypoints, tmp_path: Path, capsys, case: str, expected: str) -> None:
    kp, ref = seeds_keypoints
    checkpoint = [str(fixture_path("stcformer_ref.pth")), "--frames", "27"]
    extra: list[str] = []
    if case == "missing_keypoints":
        kp = tmp_path / "missing.npz"
    elif case == "no_reconstruction":
        np.savez(kp, points=ref["track"])
    elif case == "wrong_shape":
        np.savez(kp, reconstruction=ref["track"][None, :, :16])
    elif case == "hrnet_checkpoint":
        checkpoint = [str(fixture_path("hrnet_ref.pth")), "--frames", "27"]
    elif case == "missing_registry_file":
        checkpoint = ["stcformer-27"]
    elif case == "cuda_without_gpu":
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
        extra = ["--device", "cuda"]
    out = tmp_path / "result.npz"
    rc = main(["lift", str(kp), "--checkpoint", *checkpoint, "--size", "1280", "720", "--out", str(out), *extra])
    assert rc == 1
    assert re.search(expected, _one_error_line(capsys.readouterr().err))
    assert not out.exists() and not list(tmp_path.glob(".result.npz*"))


def test_module_entry_point_runs_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lifter", "info", str(tmp_path / "nothing.pth")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no checkpoint file or lifter name" in _one_error_line(proc.stderr)
