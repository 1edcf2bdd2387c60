"""The body of a Ray worker: one long-lived process that loads the models once
(:class:`demo.pipeline.Pipeline`) and processes the clips it is handed with
:func:`demo.batch.process_clip`, exactly as a local batch does.

With a shared filesystem a clip is read and written in place. Without one (``--ray-collect``)
the driver sends the video's bytes and the clip's cache files (``done.json``, the 2D
result), the clip is processed in a temporary folder, and its files come back as bytes
with every mention of the temporary paths replaced by the real ones.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.runtime import configure_runtime

from ..batch import ClipReport, process_clip
from ..cache import DONE_MARKER
from ..options import PipelineOptions
from ..pipeline import Pipeline
from ..pose2d.result import RESULT_JSON, RESULT_NPZ, SEEDS_KEYPOINTS
from ..pose3d.result import RESULT_NPZ as POSE3D_NPZ

#: Files of an output folder that decide whether a clip is skipped, its 2D stage reused or
#: its lost outputs rebuilt (from the 3D arrays).
CACHE_FILES: tuple[str, ...] = (DONE_MARKER, RESULT_JSON, RESULT_NPZ, str(SEEDS_KEYPOINTS), POSE3D_NPZ)


@dataclass(frozen=True)
class WorkerInfo:
    """Who a worker is, reported once it has started.

    Attributes:
        node: the node's IP address.
        pid: the worker's process id.
        device: where its models run.
        threads: its torch threads (its CPU share, see :func:`cpu_share`).
        error: why the pipeline could not be set up ("" when it could).
    """

    node: str
    pid: int
    device: str = ""
    threads: int = 0
    error: str = ""


class ClipWorker:
    """A Ray actor (wrapped by ``ray.remote`` in the driver, so that this module needs no Ray).

    Args:
        options: the pipeline's options (file paths absolute, progress bars off).
        log_level: the driver's logging level.
    """

    def __init__(self, options: PipelineOptions, log_level: int = logging.WARNING) -> None:
        logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s", force=True)
        import ray

        self.info = WorkerInfo(ray.util.get_node_ip_address(), os.getpid())
        self.pipeline: Pipeline | None = None
        try:
            runtime = configure_runtime(options.device, options.threads or cpu_share(ray), options.precision, options.backend)
            self.pipeline = Pipeline(options, runtime)
            self.info = replace(self.info, device=str(runtime.device), threads=runtime.threads)
        except UserError as e:
            self.info = replace(self.info, error=str(e))

    def ready(self) -> WorkerInfo:
        return self.info

    def process(self, video: str, out_dir: str) -> ClipReport:
        """One clip in place (shared filesystem)."""
        if self.pipeline is None:
            return ClipReport(Path(video), Path(out_dir), "failed", self.info.error)
        return _portable(process_clip(self.pipeline, Path(video), Path(out_dir)))

    def process_shipped(self, video: str, out_dir: str, data: bytes, cached: dict[str, bytes],
                        present: list[str] | None = None) -> tuple[ClipReport, dict[str, bytes]]:  # fmt: skip
        """One clip from its bytes (``--ray-collect``): its report (with the real paths) and,
        when it was done, every file of its output folder (relative path -> bytes).
        ``present``: the output files the driver's folder has (a finished clip with all of
        them is skipped; one missing some is rebuilt from the shipped arrays)."""
        real_video, real_out = Path(video), Path(out_dir)
        if self.pipeline is None:
            return ClipReport(real_video, real_out, "failed", self.info.error), {}
        with tempfile.TemporaryDirectory(prefix="pose3d-clip-") as tmp:
            local_video, local_out = Path(tmp) / "in" / real_video.name, Path(tmp) / "out"
            local_video.parent.mkdir()
            local_video.write_bytes(data)
            for rel, content in cached.items():
                (local_out / rel).parent.mkdir(parents=True, exist_ok=True)
                (local_out / rel).write_bytes(content)
            report = process_clip(self.pipeline, local_video, local_out, None if present is None else set(present))
            moves = ((str(local_video), str(real_video)), (str(local_out), str(real_out)))
            files = {}
            if report.status == "done":
                files = {str(p.relative_to(local_out)): _rewrite(p.read_bytes(), moves)
                         for p in sorted(local_out.rglob("*")) if p.is_file() and not p.name.startswith(".")}  # fmt: skip
        report = replace(report, video=real_video, out_dir=real_out, message=_rewrite_text(report.message, moves),
                         outputs=[real_out / p.relative_to(local_out) for p in report.outputs])  # fmt: skip
        return _portable(report), files


def cpu_share(ray: Any) -> int:
    """The cores Ray reserved for this worker: its torch threads.

    Not ``OMP_NUM_THREADS``: Ray sets it to the share only where the environment it
    inherited has none, and Ultralytics sets it to 1 in any process that imports it, so a
    local Ray started by a driver that has imported the pipeline would leave every worker
    on one thread.
    """
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    return max(1, int(cpus))


def cached_files(out_dir: Path) -> dict[str, bytes]:
    """The files of ``out_dir`` a worker needs to skip a finished clip or reuse its 2D result."""
    return {rel: (out_dir / rel).read_bytes() for rel in CACHE_FILES if (out_dir / rel).is_file()}


def _rewrite_text(text: str, moves: tuple[tuple[str, str], ...]) -> str:
    for old, new in moves:
        # As written in plain text and inside JSON strings (escaped).
        text = text.replace(old, new).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return text


def _rewrite(data: bytes, moves: tuple[tuple[str, str], ...]) -> bytes:
    """Replace the temporary paths in a text file (JSON, HTML, CSV); binary files unchanged.
    The temporary folder's name is random, so nothing else can match."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    new = _rewrite_text(text, moves)
    return data if new == text else new.encode("utf-8")


def _portable(report: ClipReport) -> ClipReport:
    """The report as it can travel back: an exception that does not pickle is replaced by
    one naming it (its traceback was logged on the worker)."""
    if report.error is None:
        return report
    try:
        pickle.dumps(report.error)
    except Exception:  # noqa: BLE001 - any pickling failure
        return replace(report, error=RuntimeError(f"{type(report.error).__name__}: {report.error}"))
    return report
