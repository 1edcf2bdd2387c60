"""``.npz`` files written one array at a time, and track results stored as rows.

Why not ``np.savez_compressed``: it needs every array in memory at once, so saving a long
clip's tracks would first concatenate all of them (hundreds of MB for an hour of street
video). :class:`NpzWriter` writes the same file format (a zip of ``.npy`` members,
deflated) member by member, and :meth:`NpzWriter.add_rows` streams an array made of many
parts without concatenating them. ``np.load`` reads the result as usual.

Track rows: a result with many tracks is stored as one table. Row ``r`` belongs to track
``row_track[r]`` and video frame ``frame[r]``; every per-frame array (``state``, ``world``,
...) has one entry per row. Rows are grouped by track (in ``track_ids`` order) and sorted
by frame within a track; each track's rows cover its span (first to last frame with a
pose), so the file grows with the frames where people are present. Read one track without
this project's code::

    d = np.load("pose3d.npz")
    rows = d["row_track"] == 3                        # track id 3
    frames, world = d["frame"][rows], d["world"][rows]  # (n,), (n, 17, 3)
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .files import atomic_output
from .frames import TrackSpan

ROW_TRACK = "row_track"
ROW_FRAME = "frame"
TRACK_IDS = "track_ids"


class NpzWriter:
    """Write an ``.npz`` atomically, one member at a time (see the module docstring).

    Args:
        path: the final file; it appears only when the ``with`` block succeeds.
        compress: deflate the members (as ``np.savez_compressed``).
    """

    def __init__(self, path: str | Path, *, compress: bool = True) -> None:
        self.path = Path(path)
        self._compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self._output = atomic_output(self.path)
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> NpzWriter:
        tmp = self._output.__enter__()
        self._zip = zipfile.ZipFile(tmp, "w", compression=self._compression, allowZip64=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._zip is not None
        try:
            self._zip.close()
        finally:
            self._output.__exit__(exc_type, exc, tb)

    def add(self, name: str, array: Any) -> None:
        """One member ``name`` holding ``array``."""
        assert self._zip is not None, "use NpzWriter in a with block"
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    def add_rows(self, name: str, parts: Iterable[np.ndarray], rows: int, row_shape: tuple[int, ...], dtype: Any) -> None:
        """One member ``(rows, *row_shape)`` of ``dtype`` made of ``parts`` written in order
        (each ``(n_i, *row_shape)``, cast to ``dtype``; their lengths must add up to ``rows``)."""
        assert self._zip is not None, "use NpzWriter in a with block"
        dtype = np.dtype(dtype)
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (rows, *row_shape)}
        written = 0
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(member, header)
            for part in parts:
                part = np.ascontiguousarray(part, dtype=dtype)
                if part.shape[1:] != row_shape:
                    raise ValueError(f"{name}: a part of shape {part.shape} in rows of shape {row_shape}")
                member.write(part.tobytes())
                written += len(part)
        if written != rows:
            raise ValueError(f"{name}: {written} rows written, {rows} declared")


def write_track_rows(writer: NpzWriter, tracks: Sequence[TrackSpan], columns: dict[str, tuple[tuple[int, ...], Any]],
                     values: Any = getattr) -> None:  # fmt: skip
    """Store tracks as rows (see the module docstring): ``track_ids``, ``row_track``,
    ``frame`` and one member per column.

    Args:
        columns: name -> (per-row shape, dtype) of each per-frame array.
        values: ``values(track, name)`` gives a track's ``(n, *shape)`` column (default:
            the attribute of that name).
    """
    rows = sum(len(t.state) for t in tracks)
    writer.add(TRACK_IDS, np.array([t.track_id for t in tracks], np.int64))
    writer.add_rows(ROW_TRACK, (np.full(len(t.state), t.track_id) for t in tracks), rows, (), np.int64)
    writer.add_rows(ROW_FRAME, (t.frames for t in tracks), rows, (), np.int64)
    for name, (shape, dtype) in columns.items():
        writer.add_rows(name, (values(t, name) for t in tracks), rows, shape, dtype)


def read_track_rows(data: Any, columns: Sequence[str]) -> list[tuple[int, int, dict[str, np.ndarray]]]:
    """The tracks of a row table (an open ``np.load``): ``(track_id, start, {column: rows})``
    per track in ``track_ids`` order; the arrays are views of the loaded columns.

    Raises:
        ValueError: rows not grouped by track, or a track whose frames are not consecutive.
    """
    ids = np.asarray(data[TRACK_IDS]).tolist()
    row_track, frame = np.asarray(data[ROW_TRACK]), np.asarray(data[ROW_FRAME])
    loaded = {name: np.asarray(data[name]) for name in columns}
    edges = np.flatnonzero(np.diff(row_track)) + 1
    starts, stops = np.r_[0, edges].astype(int), np.r_[edges, len(row_track)].astype(int)
    if len(row_track) == 0:
        starts = stops = np.zeros(0, int)
    if row_track[starts].tolist() != ids:
        raise ValueError("the rows are not grouped by track in track_ids order")
    out = []
    for track_id, a, b in zip(ids, starts.tolist(), stops.tolist()):
        if np.any(np.diff(frame[a:b]) != 1):
            raise ValueError(f"track {track_id}: its rows are not one consecutive run of frames")
        out.append((int(track_id), int(frame[a]), {name: arr[a:b] for name, arr in loaded.items()}))
    return out
