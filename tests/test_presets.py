"""Model presets (:mod:`demo.presets`): what ``auto`` picks, how ``--preset`` fills the
models on the command line and how explicit flags replace their part only, the log line
that says so, ``vis.py download``'s default, and that every preset names known weights."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest
import torch

import demo.cli
from core.errors import UserError
from demo.cli import apply_preset, build_parser, default_downloads, main
from demo.pose2d.registry import detector_entries, pose2d_entries
from demo.presets import PRESET_NAMES, PRESETS, resolve_preset
from demo.weights import all_entries
from lifter.inference import MODES
from lifter.registry import lifter_entries

PARTS = ("detector", "pose2d", "lifter", "lift_mode")


def _parts(preset) -> tuple[str, str, str, str]:
    return tuple(getattr(preset, p) for p in PARTS)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["--video", "clip.mp4", *argv])


def _apply(args: argparse.Namespace, caplog: pytest.LogCaptureFixture) -> str:
    """apply_preset(args) and its one log line."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vis"):
        apply_preset(args)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "vis"]
    return line


@pytest.fixture()
def no_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture()
def a_gpu(monkeypatch) -> None:
    """Only the device choice sees a GPU: no test here runs a model."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


# --- resolve_preset ---------------------------------------------------------------------------


def test_auto_is_fast_on_a_cpu_and_quality_on_cuda() -> None:
    preset, why = resolve_preset("auto", cuda=False)
    assert preset is PRESETS["fast"] and "no CUDA GPU" in why
    preset, why = resolve_preset("auto", cuda=True)
    assert preset is PRESETS["quality"] and "CUDA GPU" in why


@pytest.mark.parametrize("name", [n for n in PRESET_NAMES if n != "auto"])
def test_a_named_preset_is_itself_on_any_device(name: str) -> None:
    for cuda in (False, True):
        preset, why = resolve_preset(name, cuda=cuda)
        assert preset is PRESETS[name] and preset.name == name and "--preset" in why


def test_an_unknown_preset_names_the_closest() -> None:
    with pytest.raises(UserError) as info:
        resolve_preset("fsat", cuda=False)
    message = str(info.value)
    assert "'fsat'" in message and "did you mean fast?" in message
    assert all(name in message for name in PRESET_NAMES)


def test_the_preset_names_are_the_presets_and_auto() -> None:
    assert PRESET_NAMES == ("auto", *PRESETS)
    assert PRESETS["fast"].detector == "yolo26n.pt"  # the CPU preset is the small detector


# --- apply_preset on parsed arguments ---------------------------------------------------------------


def test_auto_on_a_cpu_fills_every_part_and_says_why(no_gpu, caplog) -> None:
    args = _args()
    line = _apply(args, caplog)
    fast = PRESETS["fast"]
    assert tuple(getattr(args, p) for p in PARTS) == _parts(fast)
    assert "preset fast" in line and "auto: no CUDA GPU" in line and "--preset" in line
    for value in _parts(fast):
        assert value in line
    assert "(given)" not in line
    assert "change with --preset balanced|quality|seeds or the flags" in line  # the other presets


def test_auto_with_a_gpu_is_quality(a_gpu, caplog) -> None:
    args = _args()
    line = _apply(args, caplog)
    assert tuple(getattr(args, p) for p in PARTS) == _parts(PRESETS["quality"])
    assert "preset quality" in line and "CUDA GPU" in line


@pytest.mark.parametrize("name", [n for n in PRESET_NAMES if n != "auto"])
def test_a_named_preset_fills_its_models(name: str, no_gpu, caplog) -> None:
    args = _args("--preset", name)
    line = _apply(args, caplog)
    assert tuple(getattr(args, p) for p in PARTS) == _parts(PRESETS[name])
    assert f"preset {name} (asked for with --preset)" in line


@pytest.mark.parametrize("flag,value,part", [
    ("--detector", "my_yolo.pt", "detector"),
    ("--pose2d", "hrnet-w32-256x192", "pose2d"),
    ("--lifter", "poseformerv2-81", "lifter"),
    ("--lift-mode", "centre", "lift_mode"),
])  # fmt: skip
def test_an_explicit_flag_replaces_its_part_only(flag: str, value: str, part: str, no_gpu, caplog) -> None:
    balanced = PRESETS["balanced"]
    args = _args("--preset", "balanced", flag, value)
    line = _apply(args, caplog)
    for p in PARTS:
        assert getattr(args, p) == (value if p == part else getattr(balanced, p)), p
    assert f"{flag.lstrip('-')} {value} (given)" in line and line.count("(given)") == 1
    assert "preset balanced" in line


def test_a_checkpoint_replaces_the_lifter(no_gpu, caplog, tmp_path: Path) -> None:
    checkpoint = tmp_path / "my_lifter.pth"
    args = _args("--checkpoint", str(checkpoint))
    line = _apply(args, caplog)
    fast = PRESETS["fast"]
    assert args.lifter is None and args.checkpoint == checkpoint  # the file is the lifter
    assert (args.detector, args.pose2d, args.lift_mode) == (fast.detector, fast.pose2d, fast.lift_mode)
    assert f"lifter {checkpoint} (given)" in line and fast.lifter not in line


def test_every_flag_given_leaves_the_preset_nothing(no_gpu, caplog) -> None:
    given = ("--detector", "a.pt", "--pose2d", "rtmpose-s", "--lifter", "stcformer-81", "--lift-mode", "seq2seq")
    args = _args("--preset", "seeds", *given)
    line = _apply(args, caplog)
    assert (args.detector, args.pose2d, args.lifter, args.lift_mode) == ("a.pt", "rtmpose-s", "stcformer-81", "seq2seq")
    assert line.count("(given)") == 4


def test_an_unknown_preset_on_the_command_line_is_one_error_line(tmp_path: Path, capsys) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0")  # never read: the preset is refused first
    assert main(["--video", str(video), "--preset", "fsat", "--out", str(tmp_path / "out"), "-q"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "did you mean fast?" in lines[0]


# --- vis.py download ----------------------------------------------------------------------------------


def test_download_without_names_fetches_the_auto_presets_models(no_gpu, monkeypatch) -> None:
    fetched: list[list[str]] = []
    monkeypatch.setattr(demo.cli, "ensure_downloaded", lambda names, progress=True: fetched.append(list(names)) or [])
    fast = PRESETS["fast"]
    assert default_downloads() == (fast.lifter, fast.pose2d, fast.detector)
    assert main(["download", "-q"]) == 0
    assert main(["download", "-q", "hrnet-w32-256x192"]) == 0
    assert fetched == [[fast.lifter, fast.pose2d, fast.detector], ["hrnet-w32-256x192"]]


def test_download_default_on_a_gpu_is_quality(a_gpu) -> None:
    quality = PRESETS["quality"]
    assert default_downloads() == (quality.lifter, quality.pose2d, quality.detector)


# --- the presets themselves ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_names_known_weights(name: str) -> None:
    preset = PRESETS[name]
    entries = all_entries()
    assert preset.detector in detector_entries() and preset.detector in entries
    assert preset.pose2d in pose2d_entries() and preset.pose2d in entries
    assert preset.lifter in lifter_entries() and preset.lifter in entries
    assert preset.lift_mode in MODES
    if preset.lift_mode == "seq2seq":  # whole windows are STCFormer's
        assert lifter_entries()[preset.lifter].family == "stcformer"
    assert preset.summary


def test_the_help_lists_every_preset(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, preset in PRESETS.items():
        assert f"{name}: {' '.join(preset.summary.split())}" in text
