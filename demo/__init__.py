"""The application around the lifters, one package per stage in the order data flows:
:mod:`.io` (video in and out, threads, timing) -> :mod:`.pose2d` (detection, tracking,
2D keypoints) -> :mod:`.pose3d` (lifting every person; :mod:`.motion` places them) ->
:mod:`.render` (the side-by-side video and GIF), :mod:`.export` (CSV, BVH, FBX) and
:mod:`.viewer` (the HTML page), written by the writers of :mod:`.outputs`. Around them:
:mod:`.options` (every option type), :mod:`.cache` (every cache key, ``done.json``),
:mod:`.pipeline` (one clip), :mod:`.batch` (folders), :mod:`.cluster` (Ray),
:mod:`.weights` (every named weight) and :mod:`.cli` (``vis.py``). ``Pipeline`` is the
Python API (``from demo import Pipeline, PipelineOptions``), imported on first use so that
importing one stage does not load them all."""
from __future__ import annotations

from typing import Any

__all__ = ["ClipResult", "Pipeline", "PipelineOptions"]


def __getattr__(name: str) -> Any:
    if name == "PipelineOptions":
        from . import options

        return options.PipelineOptions
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'demo' has no attribute {name!r}")
