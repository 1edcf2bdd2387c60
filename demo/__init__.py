"""The application around the lifters: video in, detection, tracking, 2D keypoints,
lifting of every person, rendering and result files. ``Pipeline`` is its Python API
(``from demo import Pipeline, PipelineOptions``), imported on first use so that importing
one stage does not load them all."""
from __future__ import annotations

from typing import Any

__all__ = ["ClipResult", "Pipeline", "PipelineOptions"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'demo' has no attribute {name!r}")
