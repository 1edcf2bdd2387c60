"""What a Ray job will do, decided before any worker starts (no Ray import here): the
command-line options, how many workers of what size the cluster holds, and the order the
clips are handed out in.

A worker is one long-lived process with the models loaded: one per GPU (or
``--ray-workers-per-gpu`` sharing one), or one per ``--ray-cpus-per-worker`` cores on a
cluster without GPUs (or with ``--device cpu``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from ..io.video import VideoError, VideoInfo

#: The exact Ray this code is tested with; also in ``requirements-ray.txt``.
RAY_REQUIREMENT = "ray==2.60.0"
INSTALL_HINT = f"--ray needs Ray, an optional dependency: pip install -r requirements-ray.txt ({RAY_REQUIREMENT})"

#: Cores per CPU worker unless told: the models' arithmetic still scales to about 4 threads
#: and each worker holds its own models (~1.5 GB), so wide nodes get several workers.
DEFAULT_CPUS_PER_WORKER = 4


@dataclass(frozen=True)
class RayOptions:
    """How a folder job runs on Ray.

    Attributes:
        address: ``auto`` (the cluster this machine belongs to, started with ``ray start``),
            ``local`` (a private Ray on this machine for this job), or a cluster address
            (``HOST:6379``, ``ray://HOST:10001``).
        cpus_per_worker: cores each worker reserves (and its torch threads); None: 4 on CPU
            workers (at most the largest node's count), the node's cores / its workers on GPU ones.
        workers_per_gpu: workers sharing one GPU (each reserves ``1 / workers_per_gpu`` of it).
        collect: ship each clip's input and output files through Ray's object store and
            write them here, for clusters without a shared filesystem.
    """

    address: str = "auto"
    cpus_per_worker: int | None = None
    workers_per_gpu: int = 1
    collect: bool = False

    def __post_init__(self) -> None:
        if self.cpus_per_worker is not None and self.cpus_per_worker < 1:
            raise UserError(f"--ray-cpus-per-worker must be at least 1, got {self.cpus_per_worker}")
        if self.workers_per_gpu < 1:
            raise UserError(f"--ray-workers-per-gpu must be at least 1, got {self.workers_per_gpu}")


def add_ray_arguments(group: argparse._ArgumentGroup) -> None:
    """The ``cluster`` options of ``vis.py``."""
    group.add_argument("--ray", metavar="auto|local|ADDRESS",
                       help="spread the clips over a Ray cluster: auto (the cluster 'ray start' joined this "
                       "machine to), local (a private one here) or HOST:PORT / ray://HOST:10001")  # fmt: skip
    group.add_argument("--ray-cpus-per-worker", type=int, metavar="N",
                       help=f"cores per worker (its torch threads); default {DEFAULT_CPUS_PER_WORKER} on CPU nodes, "
                       "the node's cores shared out on GPU nodes")  # fmt: skip
    group.add_argument("--ray-workers-per-gpu", type=int, default=1, metavar="N",
                       help="workers sharing one GPU (see the README's GPU packing)")  # fmt: skip
    group.add_argument("--ray-collect", action="store_true",
                       help="no shared filesystem: send inputs and results through Ray and write them here")


def ray_options_from_args(args: argparse.Namespace) -> RayOptions | None:
    """The parsed ``cluster`` options, or None without ``--ray`` (the others then need it)."""
    if args.ray is None:
        extras = [name for name, on in (("--ray-collect", args.ray_collect), ("--ray-cpus-per-worker",
                  args.ray_cpus_per_worker is not None), ("--ray-workers-per-gpu", args.ray_workers_per_gpu != 1)) if on]  # fmt: skip
        if extras:
            raise UserError(f"{extras[0]} needs --ray (e.g. --ray auto)")
        return None
    return RayOptions(args.ray, args.ray_cpus_per_worker, args.ray_workers_per_gpu, args.ray_collect)


@dataclass(frozen=True)
class WorkerPlan:
    """The pool of workers a cluster holds.

    Attributes:
        num_cpus: cores each worker reserves.
        num_gpus: GPU share each worker reserves (0 on CPU workers).
        per_node: Ray node id -> workers it holds.
        labels: Ray node id -> the node's IP address (what logs and the progress bar show).
    """

    num_cpus: int
    num_gpus: float
    per_node: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def workers(self) -> int:
        return sum(self.per_node.values())

    def describe(self) -> str:
        what = f"{self.num_cpus} CPU" + (f" + {self.num_gpus:g} GPU" if self.num_gpus else "")
        return f"{self.workers} worker(s) of {what} on {len(self.per_node)} node(s)"


def plan_workers(nodes: list[dict[str, Any]], device: str, options: RayOptions) -> WorkerPlan:
    """Size the worker pool from ``ray.nodes()`` (each: ``Alive``, ``NodeID``,
    ``NodeManagerAddress``, ``Resources`` with ``CPU`` and ``GPU`` totals).

    GPU workers when ``device`` is not ``cpu`` and some node has a GPU, CPU workers otherwise.

    Raises:
        UserError: ``--device cuda`` on a cluster without GPUs, or no node big enough for one worker.
    """
    alive = [n for n in nodes if n.get("Alive", True)]
    res = {n["NodeID"]: n.get("Resources", {}) for n in alive}
    gpu_nodes = {node: r for node, r in res.items() if r.get("GPU", 0) >= 1}
    if device.startswith("cuda") and not gpu_nodes:
        raise UserError(f"--device {device}, but no node of the Ray cluster has a GPU; use --device cpu or auto")
    if device != "cpu" and gpu_nodes:
        slots = {node: int(r["GPU"]) * options.workers_per_gpu for node, r in gpu_nodes.items()}
        cpus = options.cpus_per_worker or max(1, min(int(res[node].get("CPU", 0)) // k for node, k in slots.items()))
        per_node = {node: min(k, int(res[node].get("CPU", 0)) // cpus) for node, k in slots.items()}
        gpus = 1.0 / options.workers_per_gpu
    else:
        largest = max((int(r.get("CPU", 0)) for r in res.values()), default=0)
        cpus = options.cpus_per_worker or max(1, min(DEFAULT_CPUS_PER_WORKER, largest))
        per_node = {node: int(r.get("CPU", 0)) // cpus for node, r in res.items()}
        gpus = 0.0
    per_node = {node: k for node, k in per_node.items() if k > 0}
    if not per_node:
        raise UserError(f"no node of the Ray cluster has {cpus} CPU(s) for a worker (largest: "
                        f"{max((int(r.get('CPU', 0)) for r in res.values()), default=0)}); lower --ray-cpus-per-worker")  # fmt: skip
    labels = {n["NodeID"]: n["NodeManagerAddress"] for n in alive if n["NodeID"] in per_node}
    return WorkerPlan(cpus, gpus, per_node, labels)


def clip_length(video: Path) -> float:
    """Seconds of video (declared frames / frame rate); 0 for a file that cannot be read
    (it fails quickly wherever it runs). Falls back to the file size in MB for a container
    that declares no frame count, which orders like a duration for one kind of footage."""
    try:
        info = VideoInfo.probe(video)
    except VideoError:
        return 0.0
    if info.num_frames:
        return info.num_frames / float(info.fps)
    return video.stat().st_size / 1e6


def longest_first(lengths: list[float]) -> list[int]:
    """Indices of the clips, longest first (ties: input order), so that the last clips
    handed out are short and the workers finish together."""
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
