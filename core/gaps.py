"""Gaps in time series: the runs of frames that hold values (:func:`present_runs`, behind
the lifter's segments, smoothing and the BVH side files) and the one gap filler
(:func:`interpolate_gaps`, behind the 2D stage's short track gaps and the lifter's missing
joints)."""
from __future__ import annotations

import numpy as np


def interpolate_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Replace unknown entries of ``values`` by linear interpolation in time.

    Args:
        values: ``(T, ...)`` samples, one row per frame.
        known: boolean mask broadcastable to ``values`` from the left (``(T,)`` for whole
            frames, ``(T, J)`` for per-joint masks of ``(T, J, 2)`` values, ...).

    Returns:
        A float32 copy of ``values`` where every unknown entry is interpolated linearly
        between the nearest known frames of its own column; before the first / after the
        last known frame a column holds its nearest known value. Columns with no known
        frame are left as they were.
    """
    out = np.array(values, dtype=np.float32, copy=True)
    mask = np.asarray(known, dtype=bool)
    mask = np.broadcast_to(mask.reshape(mask.shape + (1,) * (out.ndim - mask.ndim)), out.shape)
    flat, flat_known = out.reshape(len(out), -1), mask.reshape(len(out), -1)
    t = np.arange(len(out))
    for c in np.flatnonzero(~flat_known.all(axis=0) & flat_known.any(axis=0)):
        seen = flat_known[:, c]
        flat[~seen, c] = np.interp(t[~seen], t[seen], flat[seen, c])
    return out


def present_runs(present: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` half-open frame ranges of the consecutive True entries of a
    ``(T,)`` mask."""
    edges = np.diff(np.concatenate(([0], np.asarray(present, dtype=np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
