"""``python -m lifter``: info, list and lift, with one-line errors and no half-written output."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lifter.checkpoints import load_lifter
from lifter.cli import build_parser, main
from lifter.inference import LiftOptions, lift_tracks
from lifter.options import add_lift_arguments, lift_options_from_args
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
               "--frames", "27", "--size", "1280", "720", "--out", str(out), "--precision", "fp32"])  # fmt: skip
    assert rc == 0
    with np.load(out) as res:
        assert res["camera"].shape == (1, 40, 17, 3)
        assert np.abs(res["camera"][0] - ref["poseformerv2_f27_camera"]).max() <= 1e-5
        assert "world" not in res.files  # the display frame is the app's, not the lifter's
        assert not res["filled"].any() and res["present"].all()
        assert str(res["mode"]) == "centre" and int(res["window"]) == 27 and str(res["precision"]) == "fp32"
    err = capsys.readouterr().err
    assert "lifting" in err  # the progress bar
    assert "lifted 1 person(s) x 40 frames" in err and "world" not in err


def test_lift_splits_at_absences_and_honours_valid(tmp_path: Path) -> None:
    """Two people: one absent (all NaN) in frames 10-14, one marked not valid in frames
    0-4 (the 2D stage's export holds a copied pose there). Both come out NaN there, and
    the rest equals lift_tracks on the same tracks."""
    with np.load(fixture_path("lifting_ref.npz")) as data:
        track = data["track"]
    people = np.stack([track, track[::-1] + 5])
    people[0, 10:15] = np.nan
    valid = np.ones((2, 40), bool)
    valid[1, :5] = False
    kp, out = tmp_path / "kp.npz", tmp_path / "o.npz"
    np.savez(kp, reconstruction=people, valid=valid)
    checkpoint = fixture_path("stcformer_ref.pth")
    assert main(["-q", "lift", str(kp), "--checkpoint", str(checkpoint), "--frames", "27", "--size", "1280", "720",
                 "--out", str(out), "--precision", "fp32"]) == 0  # fmt: skip
    with np.load(out) as res:
        present, camera = res["present"], res["camera"]
    assert present.sum(axis=1).tolist() == [35, 35] and not present[0, 10:15].any() and not present[1, :5].any()
    assert np.isnan(camera[~present]).all() and np.isfinite(camera[present]).all()
    people[1, :5] = np.nan
    expected = lift_tracks(list(people), 1280, 720, load_lifter(checkpoint, frames=27))
    assert np.nanmax(np.abs(camera - np.stack([r.camera for r in expected]))) <= 1e-5


@pytest.mark.parametrize("flag", ["--lift-mode", "--mode"])  # --mode: the old name, kept as a hidden alias
def test_lift_seq2seq_and_plain_track_layout(tmp_path: Path, flag: str) -> None:
    track = np.load(fixture_path("lifting_ref.npz"))["track"]
    kp = tmp_path / "kp.npz"
    np.savez(kp, reconstruction=track)  # (T, 17, 2) without the person axis
    out = tmp_path / "o.npz"
    rc = main(["-q", "lift", str(kp), "--checkpoint", str(fixture_path("stcformer_ref.pth")), "--frames", "27",
               "--size", "1280", "720", "--out", str(out), flag, "seq2seq", "--overlap", "6"])  # fmt: skip
    assert rc == 0
    with np.load(out) as res:
        assert res["camera"].shape == (1, 40, 17, 3) and str(res["mode"]) == "seq2seq"


def test_lift_bf16_on_the_cpu(seeds_keypoints, tmp_path: Path) -> None:
    kp, ref = seeds_keypoints
    out = tmp_path / "o.npz"
    rc = main(["-q", "lift", str(kp), "--checkpoint", str(fixture_path("stcformer_ref.pth")), "--frames", "27",
               "--size", "1280", "720", "--out", str(out), "--precision", "bf16", "--device", "cpu"])  # fmt: skip
    assert rc == 0
    with np.load(out) as res:
        assert str(res["precision"]) == "bf16"
        assert np.abs(res["camera"][0] - ref["stcformer_f27_camera"]).max() < 1.5e-2  # see test_lifter_inference


def test_lift_options_are_shared_with_the_app() -> None:
    """The same four options, parsed the same way, as the app gets from add_lift_arguments."""
    import argparse

    parser = argparse.ArgumentParser()
    add_lift_arguments(parser)
    args = parser.parse_args(["--lift-mode", "seq2seq", "--overlap", "4", "--no-flip", "--batch-size", "16"])
    assert lift_options_from_args(args, "bf16") == LiftOptions("seq2seq", False, 16, 4, "bf16", False)
    assert lift_options_from_args(parser.parse_args([]), "fp32") == LiftOptions()
    help_text = build_parser()._subparsers._group_actions[0].choices["lift"].format_help()
    assert "--lift-mode" in help_text and "--mode " not in help_text and "auto" in help_text


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
        ("fp16_on_cpu", "fp16 needs a CUDA GPU"),
        ("all_absent", "has no frame with any 2D keypoint to lift"),
        ("valid_wrong_shape", r"'valid' must have shape \(T,\) or \(P, T\) = \(1, 40\), got \(39,\)"),
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
    elif case == "fp16_on_cpu":
        extra = ["--device", "cpu", "--precision", "fp16"]
    elif case == "all_absent":
        np.savez(kp, reconstruction=np.full((2, 40, 17, 2), np.nan, np.float32))
    elif case == "valid_wrong_shape":
        np.savez(kp, reconstruction=ref["track"][None], valid=np.ones(39, bool))
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
