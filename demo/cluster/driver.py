"""The driver of a Ray folder job: connects to the cluster, checks the output folder is
shared, starts the pool of workers and hands them clips longest first, one at a time as
each becomes free, and turns what comes back into the same :class:`demo.batch.ClipReport`
rows a local batch gives.

Faults: a clip that raises is a failed row (inside the worker, as locally). A worker whose
process dies (killed, out of memory, node lost, its result object lost) is replaced and
its clip handed out once more; a second death makes it a failed row. A worker that is
only unreachable may still be writing, so its clip is a failed row, not retried, and its
folder is left alone (:meth:`_Job._settle` lists every Ray error and what it becomes).
Ctrl-C kills the workers and removes the temporary files of the clips they were writing:
a clip's ``done.json`` is written last, so an unfinished folder never looks done.

Why not ``ray.util.ActorPool`` (evaluated on Ray 2.60): its ``get_next_unordered`` raises
a failed call's error without saying which clip it was, and it drops an actor only on
``ActorDiedError``: after ``NodeDiedError``, ``ActorUnavailableError`` or a lost result
object it puts the actor back among the idle ones, so the next clip would go to a lost
worker. The retry-on-death layer this job needs (which clip, which node, a new worker, no
retry while a worker may still write) would have to undo both. The pull loop below is that layer and nothing more: a free
worker takes the next clip of the queue.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm.auto import tqdm

from core.errors import UserError, brief
from core.files import atomic_output, temp_path_beside
from core.weights import CHECKPOINT_DIR_ENV, REPO_ROOT, checkpoints_dir

from .. import cache
from ..batch import ClipReport
from ..cache import DONE_MARKER
from ..options import PipelineOptions
from .plan import (
    INSTALL_HINT,
    RayOptions,
    WorkerPlan,
    clip_length,
    longest_first,
    plan_workers,
)
from .storage import remove_partial_files, storage_problem
from .worker import ClipWorker, WorkerInfo, cached_files

log = logging.getLogger(__name__)

#: The project's packages, shipped to every node with the job (``runtime_env.working_dir``).
PACKAGES = ("core", "demo", "lifter")
#: Environment passed on to the workers: where weights live, offline switches, Ultralytics' settings.
FORWARDED_ENV = ("POSE3D_", "YOLO_")
#: Files probed at once for their length (mostly waiting on the filesystem).
PROBE_THREADS = 16
#: Times a clip is handed out when its worker keeps dying.
MAX_TRIES = 2
#: Logged (DEBUG, ``-v``) per clip: name, seconds from hand-out to result, seconds the
#: pipeline took on the worker, the node; the difference is the Ray path's cost per clip.
ROUND_TRIP_LOG = "%s: %.3f s round trip, %.3f s in the pipeline on %s"


def import_ray() -> ModuleType:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


def job_runtime_env() -> dict[str, Any]:
    """The Ray job's ``runtime_env``: this project's code and its weights manifest on every
    node (a copy, made the workers' working folder; nothing else of the checkout, no weights).
    Pass it to your own ``ray.init`` before calling :func:`run_on_ray` with Ray already initialised."""
    others = [f"/{p.name}" for p in REPO_ROOT.iterdir() if p.name not in (*PACKAGES, "checkpoints")]
    return {"working_dir": str(REPO_ROOT),
            "excludes": [*others, "/checkpoints/*", "!/checkpoints/manifest.json", "__pycache__/"]}  # fmt: skip


def worker_env() -> dict[str, str]:
    """Environment of the workers: the driver's checkpoint folder (absolute: the workers'
    copy of the code lives elsewhere) and its POSE3D_* / YOLO_* settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
    env[CHECKPOINT_DIR_ENV] = str(checkpoints_dir().resolve())
    return env


@contextmanager
def connected(ray: ModuleType, address: str) -> Iterator[None]:
    """Ray initialised for the block: the caller's if it already is (left running),
    otherwise connected to ``address`` (or a private local one) and shut down after."""
    if ray.is_initialized():
        yield
        return
    common = {"runtime_env": job_runtime_env(), "logging_level": logging.WARNING, "log_to_driver": True}
    _check_reachable(address)
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **common)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, ValueError, RuntimeError) as e:
        hint = " (start one with 'ray start --head', or use --ray local)" if address == "auto" else ""
        raise UserError(f"cannot connect to the Ray cluster at {address}{hint}: {brief(e)}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` or ``ray://HOST:PORT`` address that accepts no connection is one line
    now (``ray.init`` would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # auto, local
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise UserError(f"cannot reach the Ray cluster at {address}: {brief(e)} (is 'ray start --head' running there?)") from None


def check_shared_storage(ray: ModuleType, plan: WorkerPlan, out_root: Path, sample_video: Path) -> None:
    """Make sure every node that will hold workers sees ``out_root`` (and can write it) and
    can read the inputs.

    Raises:
        UserError: naming each node that cannot, and what to do.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe, token = temp_path_beside(out_root / ".ray-shared-check"), secrets.token_hex(8)
    try:
        probe.write_text(token)
        check = ray.remote(num_cpus=0)(storage_problem)
        refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                .remote(str(probe), token, str(sample_video)) for node in plan.per_node]  # fmt: skip
        problems = [f"{plan.labels[node]}: {p}" for node, p in zip(plan.per_node, ray.get(refs)) if p]
    finally:
        probe.unlink(missing_ok=True)
    if problems:
        raise UserError(f"--out {out_root} must be a folder every Ray node shares (or use --ray-collect): "
                        + "; ".join(problems))  # fmt: skip


def worker_options(options: PipelineOptions) -> PipelineOptions:
    """The options as workers need them: model files by absolute path (a worker's working
    folder is not the driver's), no progress bars (the driver draws one)."""

    def absolute(value: str) -> str:
        path = Path(value).expanduser()
        return str(path.resolve()) if path.exists() else value

    pose2d = replace(options.pose2d, pose_model=absolute(options.pose2d.pose_model),
                     detector=replace(options.pose2d.detector, model=absolute(options.pose2d.detector.model)))  # fmt: skip
    return replace(options, pose2d=pose2d, lifter=absolute(options.lifter), progress=False)


def run_on_ray(options: PipelineOptions, videos: list[Path], out_dirs: list[Path],
               cluster: RayOptions | None = None) -> list[ClipReport]:  # fmt: skip
    """Process clips on a Ray cluster; the same reports (in the same order) and files as
    :func:`demo.batch.run_clips` gives on one machine.

    Args:
        options: the pipeline's options (as for :class:`demo.pipeline.Pipeline`).
        videos: the inputs; out_dirs: their output folders (see :func:`demo.batch.clip_output_dirs`).
        cluster: where and how (see :class:`RayOptions`). With Ray already initialised
            (``ray.init(runtime_env=job_runtime_env())``), that cluster is used and left running.

    Raises:
        UserError: Ray missing or unreachable, ``--out`` not shared, or the workers cannot start.
    """
    cluster = cluster or RayOptions()
    ray = import_ray()
    if not videos:
        return []
    abs_videos, abs_outs = [Path(v).resolve() for v in videos], [Path(o).resolve() for o in out_dirs]
    with connected(ray, cluster.address):
        plan = plan_workers(ray.nodes(), options.device, cluster)
        if not cluster.collect:
            out_root = Path(os.path.commonpath([o.parent for o in abs_outs]))
            check_shared_storage(ray, plan, out_root, abs_videos[0])
        with ThreadPoolExecutor(PROBE_THREADS) as pool:  # 100,000 files on a network filesystem: minutes, not an hour
            order = longest_first(list(pool.map(clip_length, abs_videos)))
        log.info("ray: %s for %d clip(s)", plan.describe(), len(videos))
        reports = _Job(ray, options, abs_videos, abs_outs, plan, cluster.collect).run(order)
    # The caller's paths, as a local batch reports them (workers were given absolute ones).
    return [replace(r, video=Path(v), out_dir=Path(o), outputs=[_moved(p, a, Path(o)) for p in r.outputs])
            for r, v, o, a in zip(reports, videos, out_dirs, abs_outs)]  # fmt: skip


def _moved(path: Path, old: Path, new: Path) -> Path:
    return new / path.relative_to(old) if path.is_relative_to(old) else path


@dataclass(eq=False)
class _Slot:
    """A worker of the pool and what is known about it."""

    actor: Any
    info: WorkerInfo | None = None

    @property
    def node(self) -> str:
        return self.info.node if self.info else "?"


class _Job:
    """The pull loop: each free worker is handed the next clip of the queue."""

    def __init__(self, ray: ModuleType, options: PipelineOptions, videos: list[Path], out_dirs: list[Path],
                 plan: WorkerPlan, collect: bool) -> None:  # fmt: skip
        self.ray, self.videos, self.out_dirs, self.collect = ray, videos, out_dirs, collect
        self.progress = options.progress
        self.options = worker_options(options)
        self.actor_class = ray.remote(ClipWorker).options(
            num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=0, runtime_env={"env_vars": worker_env()})
        self.size = min(plan.workers, len(videos))
        self.queue: deque[int] = deque()
        self.pending: dict[Any, tuple[_Slot, int | None]] = {}  # ObjectRef -> (worker, clip or None for ready())
        self.slots: list[_Slot] = []
        self.tries: Counter[int] = Counter()
        self.reports: dict[int, ClipReport] = {}
        self.per_node: Counter[str] = Counter()
        self.sent: dict[int, float] = {}
        self.start_error = ""

    def run(self, order: list[int]) -> list[ClipReport]:
        self.queue.extend(order)
        for _ in range(self.size):
            self._start_worker()
        bar = tqdm(total=len(self.videos), unit="clip", desc="clips", disable=not self.progress)
        try:
            with bar:
                while self.pending:
                    (ref,), _ = self.ray.wait(list(self.pending), num_returns=1)
                    slot, clip = self.pending.pop(ref)
                    self._settle(ref, slot, clip, bar)
        except KeyboardInterrupt:
            log.warning("interrupted: stopping the workers; clips in progress are left unfinished (no %s)", DONE_MARKER)
            raise
        finally:
            self._stop()
        if len(self.reports) < len(self.videos):
            raise UserError(f"no Ray worker could start: {self.start_error or 'they all died'}")
        return [self.reports[i] for i in range(len(self.videos))]

    def _start_worker(self) -> None:
        slot = _Slot(self.actor_class.remote(self.options, logging.getLogger().getEffectiveLevel()))
        self.slots.append(slot)
        self.pending[slot.actor.ready.remote()] = (slot, None)

    def _submit(self, slot: _Slot) -> None:
        """Hand ``slot`` the next clip, or let it go when there is none (its resources free up)."""
        if not self.queue:
            self._release(slot)
            return
        i = self.queue.popleft()
        video, out = str(self.videos[i]), str(self.out_dirs[i])
        if self.collect:
            ref = slot.actor.process_shipped.remote(video, out, self.videos[i].read_bytes(), cached_files(self.out_dirs[i]),
                                                    cache.present_outputs(self.out_dirs[i]))  # fmt: skip
        else:
            ref = slot.actor.process.remote(video, out)
        self.pending[ref] = (slot, i)
        self.sent[i] = time.perf_counter()

    def _settle(self, ref: Any, slot: _Slot, clip: int | None, bar: tqdm) -> None:
        """Take one finished call's result. Ray's errors, by what they mean for the clip:

        - ``ActorUnavailableError``: the worker is unreachable, perhaps only for a moment,
          and may still be writing the clip: it is stopped and the clip is a failed row;
          its folder is left alone (deleting temporary files under a live writer, or a
          second worker writing the same folder, would be worse than one failed clip).
        - the worker or its node is gone (``RayActorError``, ``WorkerCrashedError``,
          ``OutOfMemoryError``, ``NodeDiedError``, ``ActorUnschedulableError``), or the
          returned object was lost with its owner (``ObjectLostError``, ``OwnerDiedError``:
          large ``--ray-collect`` results): a new worker retries the clip, up to
          :data:`MAX_TRIES` times, then it is a failed row;
        - any other Ray error is a failed row; nothing aborts the job, so every clip gets
          a row and the summary is always written.
        """
        exceptions = self.ray.exceptions
        try:
            value = self.ray.get(ref)
        except exceptions.ActorUnavailableError as e:
            self._worker_unreachable(slot, clip, e, bar)
            return
        except (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.OutOfMemoryError,
                exceptions.NodeDiedError, exceptions.ActorUnschedulableError, exceptions.ObjectLostError) as e:  # fmt: skip
            self._worker_died(slot, clip, e, bar)
            return
        except exceptions.RayError as e:  # RayTaskError: not an Exception process_clip catches, a bug here
            if clip is None:
                raise
            value = ClipReport(self.videos[clip], self.out_dirs[clip], "failed", f"internal error: {brief(e)}", error=e)
        if clip is None:
            slot.info = value
            if value.error:
                raise UserError(value.error)  # every worker would fail the same way, as a local run does
            log.info("ray worker on %s (pid %d): %s, %d thread(s)", value.node, value.pid, value.device, value.threads)
        else:
            self._finish(clip, slot, self._written(clip, value) if self.collect else value, bar)
        self._submit(slot)

    def _worker_unreachable(self, slot: _Slot, clip: int | None, error: Exception, bar: tqdm) -> None:
        """Stop an unreachable worker; its clip fails without a retry and its files stay."""
        self._release(slot)
        why = brief(error, limit=200)
        if clip is None:
            self.start_error = why
        else:
            message = (f"its worker on {slot.node} became unreachable ({why}); the clip was not retried, since that "
                       f"worker may still have been writing {self.out_dirs[clip]}")  # fmt: skip
            self._finish(clip, slot, ClipReport(self.videos[clip], self.out_dirs[clip], "failed", message), bar)
        if self.queue:
            self._start_worker()

    def _worker_died(self, slot: _Slot, clip: int | None, error: Exception, bar: tqdm) -> None:
        """Replace a dead worker and hand its clip out again (once)."""
        self._release(slot)
        why = brief(error, limit=200)
        if clip is None:
            log.error("a ray worker died while starting: %s", why)
            self.start_error = why
            return
        if not self.collect:
            remove_partial_files(self.out_dirs[clip])
        self.tries[clip] += 1
        name = self.videos[clip].name
        if self.tries[clip] < MAX_TRIES:
            log.warning("%s: its worker on %s died (%s); retrying it on a new worker", name, slot.node, why)
            self.queue.appendleft(clip)
        else:
            message = f"its worker died {self.tries[clip]} times (killed or out of memory): {why}"
            self._finish(clip, slot, ClipReport(self.videos[clip], self.out_dirs[clip], "failed", message), bar)
        if self.queue:
            self._start_worker()

    def _written(self, clip: int, value: tuple[ClipReport, dict[str, bytes]]) -> ClipReport:
        """``--ray-collect``: write a finished clip's files here, ``done.json`` last."""
        report, files = value
        if report.status == "done":
            try:
                write_clip_files(self.out_dirs[clip], files)
            except UserError as e:
                return replace(report, status="failed", message=str(e))
        return report

    def _finish(self, clip: int, slot: _Slot, report: ClipReport, bar: tqdm) -> None:
        if report.status == "failed" and report.error is None:
            log.error("%s failed: %s", report.video.name, report.message)
        log.debug(ROUND_TRIP_LOG, report.video.name, time.perf_counter() - self.sent[clip], report.seconds, slot.node)
        self.reports[clip] = report
        self.per_node[slot.node] += 1
        bar.set_postfix_str(", ".join(f"{node}: {n}" for node, n in sorted(self.per_node.items())))
        bar.update(1)

    def _release(self, slot: _Slot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
            try:
                self.ray.kill(slot.actor, no_restart=True)
            except Exception as e:  # noqa: BLE001 - an actor on a dead node cannot be reached to kill
                log.debug("could not kill a ray worker: %s", e)

    def _stop(self) -> None:
        """Kill the workers still running and clean the folders they were writing."""
        busy = [clip for _, clip in self.pending.values() if clip is not None]
        for slot in list(self.slots):
            self._release(slot)
        self.pending.clear()
        if not self.collect:
            for clip in busy:
                remove_partial_files(self.out_dirs[clip])


def write_clip_files(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write a clip's files (relative path -> bytes) atomically, ``done.json`` last: any
    previous ``done.json`` goes first, so the folder never looks done while it changes
    (the record itself is written by :func:`demo.cache.write_done`)."""
    cache.clear_done(out_dir)
    for rel in sorted(files):
        if rel != DONE_MARKER:
            with atomic_output(out_dir / rel) as tmp:
                tmp.write_bytes(files[rel])
    if DONE_MARKER in files:
        cache.write_done(out_dir, json.loads(files[DONE_MARKER]))
