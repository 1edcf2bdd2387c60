"""Where every cache key is built, and the one reader and writer of ``done.json``.

One key type serves both caches: the 2D result (``pose2d.json``, :func:`pose2d_key`) and
the finished clip (``done.json``, :func:`clip_key`, which extends the 2D key with the
lifter, the 3D, export and output settings). A key holds:

- the video's content fingerprint (sha256);
- the sha256 of every weights file used (memoised by path, size and mtime, see
  :func:`core.files.file_fingerprint`);
- the settings, in sections (``pose2d``, ``lift``, ``motion``, ``exports``, ``outputs``);
- versions: :data:`PIPELINE_VERSION` (raised whenever this code changes what a result
  holds) and the versions of the libraries whose output is in the result (detection,
  tracking, numerics, decoding).

A replaced video, a retrained checkpoint at the same path, a changed setting or an
upgrade is therefore redone, and :func:`stale_reason` says which ("pipeline version
changed", "the lifter weights changed", "settings changed (motion.smooth)").

``done.json`` is written last into a finished folder (:func:`write_done`) and removed
first when a folder is redone (:func:`clear_done`): it names the video (``source``, its
resolved path), the key and every output file, so a run can tell whether a folder is
finished, whose it is and which of its files are missing.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.backends import backend_version
from core.files import atomic_output, file_fingerprint

if TYPE_CHECKING:
    from lifter.inference import LiftOptions

    from .options import PipelineOptions
    from .pose2d.stage import Pose2DStage

#: Raise when a change to this code changes what a result holds (tracking, smoothing,
#: placement, file layouts): every saved result is then redone.
PIPELINE_VERSION = 4
#: Libraries whose output is part of a result (distribution names).
RESULT_LIBRARIES = ("ultralytics", "trackers", "supervision", "torch", "numpy", "scipy", "opencv-python", "av")
#: Weights of a model built with fresh random weights (a detector ``.yaml``): never equal
#: to anything, so results made with it are never reused.
UNREPEATABLE = "random-weights"
DONE_MARKER = "done.json"


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """The pipeline version and the installed version of each of :data:`RESULT_LIBRARIES`."""
    out = {"pipeline": str(PIPELINE_VERSION)}
    for name in RESULT_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def weights_identity(path: str | Path | None) -> str:
    """sha256 of a weights file, or :data:`UNREPEATABLE` for a model built from a config."""
    if path is None or str(path).endswith((".yaml", ".yml")):
        return UNREPEATABLE
    return file_fingerprint(path)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class ClipKey:
    """Identity of a clip's results.

    Attributes:
        video: sha256 of the video file's content.
        weights: role (``detector``, ``pose2d``, ``lifter``) -> sha256 of its weights file.
        settings: section (``pose2d``, ``lift``, ``outputs``, ...) -> settings (JSON values).
        versions: ``pipeline`` and library name -> version (:func:`versions`).
    """

    video: str
    weights: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)

    @property
    def repeatable(self) -> bool:
        """False when a model has random weights: such results are never reused."""
        return UNREPEATABLE not in self.weights.values()

    def to_json(self) -> dict[str, Any]:
        return _jsonable({"video_sha256": self.video, "weights_sha256": self.weights, "settings": self.settings,
                          "versions": self.versions})  # fmt: skip


def pose2d_key(video: Path, stage: Pose2DStage) -> ClipKey:
    """The 2D result's key: the video, the detector's and the 2D model's weights, the 2D
    settings (precision included: it changes the numbers)."""
    return ClipKey(file_fingerprint(video), stage.weights(), {"pose2d": stage.settings()})


def clip_key(pose2d: ClipKey, options: PipelineOptions, lifter_weights: Path, lift: LiftOptions,
             lifter_backend: str = "torch") -> ClipKey:  # fmt: skip
    """A finished clip's key: the 2D key, the lifter's weights, and every setting the 3D
    stage, the exports and the rendered outputs depend on (batch sizes and progress bars
    do not change results and are left out)."""
    lifting = {k: v for k, v in asdict(lift).items() if k not in ("batch_size", "progress")}
    lifting["frames"] = options.frames
    lifting["backend"] = {"name": lifter_backend, "version": backend_version(lifter_backend)}
    out = options.outputs
    outputs = {"video": out.video, "gif": asdict(out.gif) if out.gif else None, "html": out.html,
               "render": asdict(options.render) if (out.any or out.html) else None}  # fmt: skip
    return ClipKey(
        pose2d.video,
        {**pose2d.weights, "lifter": weights_identity(lifter_weights)},
        {**pose2d.settings, "lift": lifting, "motion": asdict(options.motion), "exports": sorted(options.exports),
         "outputs": outputs},
    )  # fmt: skip


def stale_reason(saved: dict[str, Any] | None, current: ClipKey) -> str | None:
    """Why results saved with key ``saved`` (the JSON of a :class:`ClipKey`) do not match
    ``current``, or None when they do."""
    if not current.repeatable:
        return "a model has random weights (results made with it are never reused)"
    if not isinstance(saved, dict):
        return "no record of how they were made"
    now = current.to_json()
    old_versions, new_versions = saved.get("versions") or {}, now["versions"]
    if old_versions.get("pipeline") != new_versions["pipeline"]:
        return "pipeline version changed"
    for name in sorted(set(old_versions) | set(new_versions)):
        if old_versions.get(name) != new_versions.get(name):
            return f"{name} version changed ({old_versions.get(name)} -> {new_versions.get(name)})"
    if saved.get("video_sha256") != now["video_sha256"]:
        return "the video's content changed"
    old_weights, new_weights = saved.get("weights_sha256") or {}, now["weights_sha256"]
    for role in sorted(set(old_weights) | set(new_weights)):
        if old_weights.get(role) != new_weights.get(role):
            return f"the {role} weights changed"
    old_settings, new_settings = saved.get("settings") or {}, now["settings"]
    changed = []
    for section in sorted(set(old_settings) | set(new_settings)):
        old, new = old_settings.get(section, {}), new_settings.get(section, {})
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [f"{section}.{name}" for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
        elif old != new:  # a section that is one value (the list of export formats)
            changed.append(section)
    if changed:
        return f"settings changed ({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''})"
    return None


def read_record(path: Path) -> dict[str, Any]:
    """A JSON record (``done.json``, ``pose2d.json``) as a dict; {} where it is missing,
    unreadable or not an object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def read_saved_key(path: Path) -> dict[str, Any] | None:
    """The ``key`` recorded in a JSON file (``done.json``, ``pose2d.json``), or None."""
    return read_record(path).get("key")


def read_done(out_dir: Path) -> dict[str, Any]:
    """A folder's ``done.json`` ({} when the folder is not finished)."""
    return read_record(Path(out_dir) / DONE_MARKER)


def recorded_outputs(out_dir: Path, record: dict[str, Any]) -> list[Path]:
    """The output files a ``done.json`` lists, as paths in ``out_dir``."""
    return [Path(out_dir) / name for name in record.get("outputs") or []]


def missing_outputs(out_dir: Path, record: dict[str, Any], present: set[str] | None = None) -> list[Path]:
    """The files a ``done.json`` lists that are not in the folder any more (``present``:
    the names known to be there, for a folder that lives on another machine)."""
    if present is not None:
        return [p for p in recorded_outputs(out_dir, record) if str(p.relative_to(out_dir)) not in present]
    return [p for p in recorded_outputs(out_dir, record) if not p.is_file()]


def present_outputs(out_dir: Path) -> list[str]:
    """The files of a folder's ``done.json`` that are there (what a remote worker is told)."""
    record = read_done(out_dir)
    return [str(p.relative_to(out_dir)) for p in recorded_outputs(out_dir, record) if p.is_file()]


def source_of(video: Path) -> str:
    """How a record names its video: the resolved path."""
    return str(Path(video).resolve())


def done_record(out_dir: Path, video: Path, key: ClipKey, outputs: list[Path], *, frames: int, fps: float | None,
                people: int, seconds: float, timings: dict[str, float],
                backends: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The content of a finished folder's ``done.json``; ``backends``: where each model
    ran (``torch`` where a conversion fell back)."""
    out_dir = Path(out_dir)
    return {
        "video": str(video),
        "source": source_of(video),
        "key": key.to_json(),
        "outputs": sorted({p.name if p.parent == out_dir else str(p.relative_to(out_dir)) for p in outputs}),
        "frames": frames,
        "fps": fps,
        "people": people,
        "seconds": round(seconds, 2),
        "timings": timings,
        "backends": backends or {},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_done(out_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``done.json`` atomically (the last file of a finished folder)."""
    path = Path(out_dir) / DONE_MARKER
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return path


def clear_done(out_dir: Path) -> None:
    """Mark a folder unfinished (before anything in it changes)."""
    (Path(out_dir) / DONE_MARKER).unlink(missing_ok=True)
