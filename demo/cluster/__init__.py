"""Folder jobs on a Ray cluster (``vis.py --folder DIR --ray auto``): a pool of long-lived
workers, one per GPU or per ``--ray-cpus-per-worker`` cores, each with the models loaded
once, pulling clips longest first; the same files, ``done.json`` and report rows as a local
batch (:mod:`demo.batch`).

    from demo.cluster import RayOptions, run_on_ray
    reports = run_on_ray(PipelineOptions(...), videos, out_dirs, RayOptions("auto"))

Ray is optional (``requirements-ray.txt``) and imported only when a job runs; the command
line options (:mod:`.plan`) need no Ray.
"""
from __future__ import annotations

from typing import Any

from .plan import RayOptions, add_ray_arguments, ray_options_from_args

__all__ = ["RayOptions", "add_ray_arguments", "job_runtime_env", "ray_options_from_args", "run_on_ray"]


def __getattr__(name: str) -> Any:
    # The driver imports the whole pipeline (torch, Ultralytics): only when a job runs.
    if name in ("run_on_ray", "job_runtime_env"):
        from . import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'demo.cluster' has no attribute {name!r}")
