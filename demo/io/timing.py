"""Seconds per pipeline stage, for ``done.json`` and ``--profile``.

Stages: ``setup`` (imports already done, model loading), ``decode`` (background decoder
threads, overlapping the rest), ``detect``, ``track``, ``crop``, ``2d`` (HRNet forward
passes and decoding), ``lift``, ``render``, ``encode`` (background encoder thread),
``idle`` (the main thread waiting for decoded frames), ``io`` (result files), ``export``
(the motion files of :mod:`demo.export.writers`). Decode and encode run beside the main
thread, so stage seconds may add up to more than the wall time.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("setup", "decode", "detect", "track", "crop", "2d", "lift", "render", "encode", "io", "export", "idle")
#: Stages that are model forward passes (the rest is overhead the pipeline should hide).
MODEL_STAGES = ("detect", "2d", "lift")
#: Stages that run in background threads, beside the main thread.
BACKGROUND_STAGES = ("decode", "encode")


class StageTimes:
    """Accumulated seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        if stage not in self.seconds:
            raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        self.seconds[stage] += seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def to_json(self, wall: float) -> dict[str, float]:
        out = {k: round(v, 3) for k, v in self.seconds.items()}
        out["wall"] = round(wall, 3)
        return out

    def table(self, wall: float) -> str:
        """A plain-text table: seconds and share of the wall time per stage."""
        lines = [f"{'stage':<8} {'seconds':>9} {'share':>7}"]
        for name in STAGES:
            s = self.seconds[name]
            note = "  (background)" if name in BACKGROUND_STAGES else ""
            lines.append(f"{name:<8} {s:>9.2f} {100 * s / wall if wall else 0:>6.1f}%{note}")
        models = sum(self.seconds[s] for s in MODEL_STAGES)
        lines.append(f"{'wall':<8} {wall:>9.2f} {100.0:>6.1f}%")
        outside = max(0.0, wall - models)
        lines.append(f"outside model forward passes: {outside:.2f} s ({100 * outside / wall if wall else 0:.1f}% of wall)")
        return "\n".join(lines)
