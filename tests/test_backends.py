"""Execution backends (:mod:`core.backends`): every model on OpenVINO and ONNX Runtime
gives PyTorch's numbers, the converted-model cache (reuse, damage, read-only disk, two
workers at once), the fallback to PyTorch, the threads a run owns, the choice of backend
and its errors, wrong 2D checkpoints, and whole runs on a converting backend.

Converted models are shared: module-scoped fixtures build each model once, and every
conversion lands in the session's ``$POSE3D_CONVERTED`` (tests/conftest.py), where the
end-to-end runs at the bottom find the fixture models already converted.
"""
from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import core.backends.cache as backend_cache
import demo.pose2d.detector_export as detector_export
from core.backends import ConversionCache, ExportSpec, compile_module, resolve_backend
from core.backends import choice as backend_choice
from core.backends import engines as backend_engines
from core.errors import UserError
from core.runtime import Runtime
from demo.cache import weights_identity
from demo.cli import main
from demo.io.video import read_frames
from demo.pose2d.detect import DetectorConfig, PersonDetector
from demo.pose2d.detector_export import runtime_threads
from demo.pose2d.hrnet import load_hrnet
from demo.pose2d.rtmpose import RTMPose, infer_rtmpose_config, load_rtmpose, rtmpose_state_dict
from demo.pose2d.topdown import TopDownEstimator
from lifter.checkpoints import load_lifter
from lifter.engines import LifterCalls
from lifter.inference import LiftOptions, lift_tracks

from .conftest import REPO, fixture_path, media_path
from .test_app import _one_error_line, model_args
from .test_rtmpose import _reference_crops_uint8

CONVERTING = ("openvino", "onnxruntime")
THREADS = 2  # the parity engines' threads; the thread tests use 1 (2 is every core here)
HRNET_SIZE = (96, 128)  # (w, h) of hrnet_ref.npz's input
RTMPOSE_T = "rtmpose-t_8xb256-420e_body8-256x192.py"


def _need(backend: str) -> None:
    if not backend_choice.installed(backend):
        pytest.skip(f"{backend} is not installed ({backend_choice.INSTALL[backend]})")


def _maxdiff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


@pytest.fixture(autouse=True)
def _torch_threads() -> None:
    """Runs with --threads and detectors with a 1-thread runtime set torch's global count."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _estimators(model: nn.Module, config, weights: str) -> Callable[[str], TopDownEstimator]:
    """One estimator per backend, made on first use and kept for the module."""
    made: dict[str, TopDownEstimator] = {}

    def get(backend: str) -> TopDownEstimator:
        if backend != "torch":
            _need(backend)
        if backend not in made:
            made[backend] = TopDownEstimator(model, config, backend=backend, threads=THREADS, weights=weights)
            assert made[backend].backend == backend  # converted, not fallen back
        return made[backend]

    return get


# --- parity: every model on every backend gives PyTorch's numbers -------------------------------


@pytest.fixture(scope="module")
def hrnet() -> Callable[[str], TopDownEstimator]:
    path = fixture_path("hrnet_ref.pth")
    model, config = load_hrnet(path, input_size=HRNET_SIZE)
    return _estimators(model, config, weights_identity(path))


@pytest.fixture(scope="module")
def hrnet_crops() -> np.ndarray:
    """The fixture's (N(0, 1)) inputs as uint8 crops, with their mirror images: 4 crops."""
    x = np.load(fixture_path("hrnet_ref.npz"))["x"]
    crops = np.clip(np.round(x * 40 + 128), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(np.concatenate([crops, crops[:, :, ::-1]]))


@pytest.mark.parametrize("backend", CONVERTING)
def test_hrnet_heatmaps_equal_pytorch(hrnet, hrnet_crops: np.ndarray, backend: str) -> None:
    reference = hrnet("torch").outputs(hrnet_crops)[0]
    assert reference.shape == (4, 17, 32, 24) and np.abs(reference).max() > 0.1
    engine = hrnet(backend)
    for batch in (4, 1):  # the export's example batch is 2: the batch axis is dynamic
        (heatmaps,) = engine.outputs(hrnet_crops[:batch])
        assert heatmaps.dtype == np.float32
        assert _maxdiff(heatmaps, reference[:batch]) <= 1e-4


@pytest.fixture(scope="module")
def rtmpose() -> Callable[[str], TopDownEstimator]:
    path = fixture_path("rtmpose_ref.pth")
    model, config = load_rtmpose(path)
    return _estimators(model, config, weights_identity(path))


@pytest.fixture(scope="module")
def rtmpose_ref() -> dict[str, np.ndarray]:
    with np.load(fixture_path("rtmpose_ref.npz")) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("backend", CONVERTING)
def test_rtmpose_logits_and_keypoints_equal_pytorch(rtmpose, rtmpose_ref, backend: str) -> None:
    crops = np.ascontiguousarray(_reference_crops_uint8(rtmpose_ref).astype(np.uint8))  # 3 crops, BGR
    torch_est, est = rtmpose("torch"), rtmpose(backend)
    centers, scales = est.codec.regions(rtmpose_ref["bboxes"])
    reference = torch_est.outputs(crops)
    ref_kp, ref_scores = torch_est.codec.decode(reference, centers, scales)
    for batch in (3, 1):
        outputs = est.outputs(crops[:batch])
        assert len(outputs) == 2
        # Logits reach ~220: float32 rounding of the network's sums, relative to their size.
        for got, want in zip(outputs, reference):
            assert _maxdiff(got, want[:batch]) <= 1e-4 * float(np.abs(want).max())
        keypoints, scores = est.codec.decode(outputs, centers[:batch], scales[:batch])
        assert np.array_equal(keypoints, ref_kp[:batch])
        # Scores are logit maxima (up to ~60 here): 1e-3 absolute is below float32 rounding
        # of such sums (0.002 measured on ONNX Runtime), so the logits' relative tolerance.
        assert _maxdiff(scores, ref_scores[:batch]) <= 1e-4 * float(np.abs(ref_scores).max())
    # The whole top-down on the image, with the flip pass's mirrored crops in the same batch.
    flipped = TopDownEstimator(est.model, est.config, backend=backend, threads=THREADS, flip_test=True,
                               weights=weights_identity(fixture_path("rtmpose_ref.pth")))  # the cached conversion
    assert flipped.backend == backend
    with_flip = flipped.estimate_frame(rtmpose_ref["image"], rtmpose_ref["bboxes"])
    reference_flip = TopDownEstimator(torch_est.model, torch_est.config, flip_test=True).estimate_frame(
        rtmpose_ref["image"], rtmpose_ref["bboxes"])
    assert np.array_equal(with_flip.keypoints, reference_flip.keypoints)
    # The same tolerance for the flip-averaged scores.
    assert _maxdiff(with_flip.scores, reference_flip.scores) <= 1e-4 * float(np.abs(reference_flip.scores).max())


@pytest.fixture(scope="module")
def rtmpose_t() -> Callable[[str], TopDownEstimator]:
    """A full-size RTMPose-t (body8 256x192) with random weights: never cached."""
    schema = json.loads(fixture_path("rtmpose_official_schemas.json").read_text())["configs"][RTMPOSE_T]
    fake = {k: torch.empty(v, device="meta") for k, v in schema["state_dict"].items()}
    config = infer_rtmpose_config(rtmpose_state_dict({"meta": {}, "state_dict": fake}, RTMPOSE_T), RTMPOSE_T)
    assert config.arch == "rtmpose-t"
    torch.manual_seed(0)
    model = RTMPose(config).eval()
    assert sum(p.numel() for p in model.parameters()) == schema["num_params"]
    return _estimators(model, config, backend_engines.UNREPEATABLE)


@pytest.mark.parametrize("backend", CONVERTING)
def test_full_size_rtmpose_t_equals_pytorch(rtmpose_t, backend: str) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (3, 256, 192, 3), dtype=np.uint8)
    reference = rtmpose_t("torch").outputs(crops)
    assert reference[0].shape == (3, 17, 384) and reference[1].shape == (3, 17, 512)
    for batch in (3, 1):
        for got, want in zip(rtmpose_t(backend).outputs(crops[:batch]), reference):
            assert _maxdiff(got, want[:batch]) <= 1e-4


@pytest.fixture(scope="module")
def lifters() -> dict[str, tuple[nn.Module, str]]:
    out = {}
    for name in ("stcformer_ref.pth", "poseformerv2_ref_f27_k3_c3.bin"):
        path = fixture_path(name)
        out[name] = (load_lifter(path, frames=27), weights_identity(path))
    return out


@pytest.fixture(scope="module")
def lift_inputs() -> tuple[list[np.ndarray], int, int]:
    """Two tracks (24 and 5 frames, both shorter than the window) and the frame size."""
    ref = np.load(fixture_path("lifting_ref.npz"))
    return [ref["track"][:24], ref["track_T5"]], int(ref["width"]), int(ref["height"])


@pytest.fixture(scope="module")
def lift_calls(lifters) -> Callable[[str, str], LifterCalls]:
    made: dict[tuple[str, str], LifterCalls] = {}

    def get(name: str, backend: str) -> LifterCalls:
        if (name, backend) not in made:
            model, weights = lifters[name]
            made[name, backend] = LifterCalls(model, backend, threads=THREADS, weights=weights)
        return made[name, backend]

    return get


@pytest.fixture(scope="module")
def lift_reference(lifters, lift_inputs) -> Callable[[str, LiftOptions], list]:
    """PyTorch's lift of the tracks, computed once for both backends."""
    done: dict[tuple[str, LiftOptions], list] = {}

    def get(name: str, options: LiftOptions) -> list:
        if (name, options) not in done:
            done[name, options] = lift_tracks(*lift_inputs, lifters[name][0], options)
        return done[name, options]

    return get


@pytest.mark.parametrize("backend", CONVERTING)
@pytest.mark.parametrize("name,mode", [("stcformer_ref.pth", "centre"), ("stcformer_ref.pth", "seq2seq"),
                                       ("poseformerv2_ref_f27_k3_c3.bin", "centre")])  # fmt: skip
def test_lifters_through_lift_tracks_equal_pytorch(lifters, lift_inputs, lift_calls, lift_reference, name: str,
                                                   mode: str, backend: str) -> None:  # fmt: skip
    _need(backend)
    model, _ = lifters[name]
    tracks, width, height = lift_inputs
    calls = lift_calls(name, backend)
    for batch in (None, 64):  # 8 windows per pass (the CPU default for 27 frames), then 64
        options = LiftOptions(mode=mode, batch_size=batch)
        reference = lift_reference(name, options)
        got = lift_tracks(tracks, width, height, model, options, calls=calls)
        for r, g in zip(reference, got, strict=True):
            assert g.camera.shape == r.camera.shape and np.isfinite(g.camera).all()
            assert _maxdiff(g.camera, r.camera) <= 1e-4
    assert calls.backends_used and set(calls.backends_used.values()) == {backend}
    assert calls.effective_backend == backend
    if name.startswith("poseformerv2"):  # the shared spatial features run as their own model
        assert set(calls.backends_used) == {"embed-frames-1in", "forward-centre-2in"}
    elif mode == "seq2seq":
        assert "forward-1in" in calls.backends_used


# --- the real detector -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest_frames() -> list[np.ndarray]:
    # Ten frames, every third of the first 30: the PyTorch detector takes about a second a
    # frame on a busy 2-core machine, and 30 frames on three backends took over a minute.
    frames = [f for _, f in zip(range(30), read_frames(media_path("vtest_15s.mp4")))]
    return frames[::3]


@pytest.fixture(scope="module")
def detections(fall_detector: Path, vtest_frames: list[np.ndarray]) -> Callable[[str], tuple]:
    """Detections per backend at the default detector config; the exported ones with a
    1-thread runtime (2 would be every core, Ultralytics' own choice for OpenVINO)."""
    config = DetectorConfig(model=str(fall_detector), person_classes=("Normal", "Fall"))
    made: dict[str, tuple] = {}

    def get(backend: str) -> tuple:
        if backend not in made:
            if backend != "torch":
                _need(backend)
            threads = torch.get_num_threads() if backend == "torch" else 1  # (reset by _torch_threads)
            detector = PersonDetector(config, Runtime(torch.device("cpu"), threads, "fp32", "fp32", backend))
            made[backend] = (detector, detector(vtest_frames))
        return made[backend]

    return get


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


@pytest.mark.parametrize("backend", CONVERTING)
def test_real_detector_finds_the_same_people(detections, backend: str) -> None:
    _, reference = detections("torch")
    detector, got = detections(backend)
    assert detector.backend == backend
    assert [len(d) for d in got] == [len(d) for d in reference]
    assert sum(len(d) for d in reference) >= 10  # vtest has several people in every frame
    best = [_iou(box, g.xyxy).max() for r, g in zip(reference, got) for box in r.xyxy]
    assert float(np.mean(best)) >= 0.99
    # The exported runtime was rebuilt with the run's threads.
    (export,) = detector._exports.values()
    assert runtime_threads(export.yolo) == 1


# --- threads -------------------------------------------------------------------------------------


def _tiny() -> nn.Module:
    """A small model that converts in well under a second (the cache tests' subject)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4)).eval()


TINY_SPEC = ExportSpec("tiny-test", "tiny-weights-sha", (torch.zeros(2, 8),))
TINY_X = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)


def _tiny_reference() -> np.ndarray:
    with torch.inference_mode():
        return _tiny()(torch.from_numpy(TINY_X)).numpy()


@pytest.fixture(scope="module")
def tiny_entry(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The tiny model converted once per backend; tests copy the entry into their own cache."""
    cache = ConversionCache(tmp_path_factory.mktemp("tiny-converted"))
    made: dict[str, Path] = {}

    def get(backend: str) -> Path:
        _need(backend)
        if backend not in made:
            assert compile_module(_tiny(), TINY_SPEC, backend, threads=1, cache=cache).backend == backend
            # The first compile leaves one complete entry and no temporary folder.
            (made[backend],) = [p for p in cache.root.iterdir() if backend in p.name and not p.name.endswith(".lock")]
            assert made[backend].name.startswith(f"tiny-test-{backend}-")
            assert cache._valid(made[backend], TINY_SPEC.key(backend)) is None
        return made[backend]

    return get


def _cache_with(entry: Path, root: Path) -> ConversionCache:
    root.mkdir(parents=True)
    shutil.copytree(entry, root / entry.name)
    return ConversionCache(root)


@pytest.mark.parametrize("backend", CONVERTING)
def test_engines_use_the_threads_given(backend: str, tiny_entry, tmp_path: Path) -> None:
    cache = _cache_with(tiny_entry(backend), tmp_path / "converted")
    for threads in (1, 2):  # one conversion, loaded with each run's threads
        engine = compile_module(_tiny(), TINY_SPEC, backend, threads=threads, cache=cache)
        assert engine.backend == backend and engine.threads == threads
        assert _maxdiff(engine(TINY_X)[0], _tiny_reference()) <= 1e-5


@pytest.mark.parametrize("backend", CONVERTING)
def test_parity_engines_have_the_run_threads(hrnet, backend: str) -> None:
    assert hrnet(backend).engine.threads == THREADS


# --- the cache ------------------------------------------------------------------------------------


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _refuse_to_build(*args) -> None:
    raise AssertionError("converted again although the cache holds the conversion")


@pytest.mark.parametrize("backend", CONVERTING)
def test_a_second_compile_loads_the_cached_conversion(backend: str, tiny_entry, tmp_path: Path, monkeypatch,
                                                      caplog) -> None:  # fmt: skip
    cache = _cache_with(tiny_entry(backend), tmp_path / "converted")  # what a first compile left
    (entry,) = _entries(cache.root)
    written = (entry / backend_cache.ENTRY_JSON).stat().st_mtime_ns
    monkeypatch.setitem(backend_engines._BUILD, backend, (_refuse_to_build, backend_engines._BUILD[backend][1]))
    with caplog.at_level(logging.INFO, logger="core.backends"):
        second = compile_module(_tiny(), TINY_SPEC, backend, threads=1, cache=cache)
    assert second.backend == backend  # a build attempt would have fallen back to PyTorch
    assert not _warnings(caplog) and not any("converted" in r.getMessage() for r in caplog.records)
    assert _entries(cache.root) == [entry] and (entry / backend_cache.ENTRY_JSON).stat().st_mtime_ns == written
    assert _maxdiff(second(TINY_X)[0], _tiny_reference()) <= 1e-5
    if backend == "onnxruntime":  # another input shape is another entry (a second conversion)
        monkeypatch.undo()
        other = ExportSpec(TINY_SPEC.label, TINY_SPEC.weights, (torch.zeros(2, 3, 8),))
        (y,) = compile_module(_tiny(), other, backend, threads=1, cache=cache)(np.repeat(TINY_X[:, None], 3, axis=1))
        assert y.shape == (5, 3, 4) and len(_entries(cache.root)) == 2


def _damage(entry: Path, backend: str, how: str) -> None:
    model = entry / ("model.bin" if backend == "openvino" else "model.onnx")
    record_path = entry / backend_cache.ENTRY_JSON
    record = json.loads(record_path.read_text())
    if how == "truncated":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif how == "other key":
        record["key"]["weights"] = "someone else's weights"
        record_path.write_text(json.dumps(record))
    elif how == "unloadable":  # garbage whose sha256 the record vouches for: only loading finds it
        loadable = entry / ("model.xml" if backend == "openvino" else "model.onnx")
        loadable.write_bytes(b"this is not a model\n" * 10)
        record["files"][loadable.name] = backend_cache.file_fingerprint(loadable)
        record_path.write_text(json.dumps(record))


@pytest.mark.parametrize("backend,how", [("openvino", "truncated"), ("openvino", "unloadable"),
                                         ("onnxruntime", "truncated"), ("onnxruntime", "other key"),
                                         ("onnxruntime", "unloadable")])  # fmt: skip
def test_a_damaged_entry_is_rebuilt_with_one_warning(backend: str, how: str, tiny_entry, tmp_path: Path,
                                                     caplog) -> None:  # fmt: skip
    cache = _cache_with(tiny_entry(backend), tmp_path / "converted")
    (entry,) = _entries(cache.root)
    _damage(entry, backend, how)
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        engine = compile_module(_tiny(), TINY_SPEC, backend, threads=1, cache=cache)
    (warning,) = _warnings(caplog)
    assert "damaged" in warning and entry.name in warning and "converting again" in warning
    assert {"truncated": "sha256", "other key": "another key", "unloadable": "cannot load"}[how] in warning
    assert engine.backend == backend
    assert _maxdiff(engine(TINY_X)[0], _tiny_reference()) <= 1e-5
    assert _entries(cache.root) == [entry] and cache._valid(entry, TINY_SPEC.key(backend)) is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        assert compile_module(_tiny(), TINY_SPEC, backend, threads=1, cache=cache).backend == backend
    assert not _warnings(caplog)  # the rebuilt entry is sound


@pytest.fixture()
def readonly_root(tmp_path: Path, monkeypatch) -> Path:
    """A cache folder that cannot be written. Tests run as root, which ignores the mode
    bits: there the cache's probe write into it is made to fail as a read-only disk's does."""
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o555)
    probe = root / "probe"
    try:
        probe.write_text("x")
        probe.unlink()
    except PermissionError:
        pass  # a real read-only folder
    else:
        real = tempfile.NamedTemporaryFile

        def refusing(*args, **kwargs):
            if kwargs.get("dir") is not None and Path(kwargs["dir"]) == root:
                raise PermissionError(errno.EACCES, "Permission denied", str(root))
            return real(*args, **kwargs)

        monkeypatch.setattr(backend_cache.tempfile, "NamedTemporaryFile", refusing)
    yield root
    root.chmod(0o755)


# ONNX Runtime only: the cache's logic is the backend's; OpenVINO's load from a temporary
# folder that is gone afterwards is what the random-weights RTMPose-t above goes through.
def test_a_readonly_cache_converts_for_the_run_with_one_warning(readonly_root: Path, caplog) -> None:
    _need("onnxruntime")
    cache = ConversionCache(readonly_root)
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        engines = [compile_module(_tiny(), TINY_SPEC, "onnxruntime", threads=1, cache=cache) for _ in range(2)]
    (warning,) = _warnings(caplog)  # once per folder, not once per model
    assert str(readonly_root) in warning and "nothing is cached" in warning
    for engine in engines:
        assert engine.backend == "onnxruntime"
        assert _maxdiff(engine(TINY_X)[0], _tiny_reference()) <= 1e-5
    assert list(readonly_root.iterdir()) == []


_WORKER = r"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
from torch import nn
from core.backends import ConversionCache, ExportSpec, compile_module
from core.backends import engines

root, name = Path(sys.argv[1]), sys.argv[2]
builds = []
build, load = engines._BUILD["onnxruntime"]

def slow_build(module, spec, folder):
    builds.append(str(folder))
    time.sleep(1.5)  # the other worker reaches the lock while this one converts
    build(module, spec, folder)

engines._BUILD["onnxruntime"] = (slow_build, load)
torch.manual_seed(0)
module = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4)).eval()  # tests' _tiny()
spec = ExportSpec("tiny-test", "tiny-weights-sha", (torch.zeros(2, 8),))
(root.parent / f"ready-{name}").touch()
while not (root.parent / "go").exists():
    time.sleep(0.01)
engine = compile_module(module, spec, "onnxruntime", threads=1, cache=ConversionCache(root))
x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
print(json.dumps({"builds": len(builds), "backend": engine.backend, "y": engine(x)[0].tolist()}))
"""


def test_two_workers_at_once_convert_once(tmp_path: Path) -> None:
    """Two processes (a batch's workers) compile the same model into one cache at the same moment."""
    _need("onnxruntime")
    root = tmp_path / "converted"
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(root), str(i)], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "a worker did not start"
            time.sleep(0.05)
        (tmp_path / "go").touch()
        outcomes = []
        for w in workers:
            out, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert sorted(o["builds"] for o in outcomes) == [0, 1]  # one converted, the other waited and loaded
    assert [o["backend"] for o in outcomes] == ["onnxruntime", "onnxruntime"]
    assert outcomes[0]["y"] == outcomes[1]["y"]
    assert _maxdiff(np.array(outcomes[0]["y"], np.float32), _tiny_reference()) <= 1e-5
    (entry,) = _entries(root)
    assert ConversionCache(root)._valid(entry, TINY_SPEC.key("onnxruntime")) is None


# --- fallback --------------------------------------------------------------------------------------


class _SingularValues(nn.Module):
    """``aten::linalg_svdvals`` has no ONNX export at opset 17: neither backend converts it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x)


@pytest.mark.parametrize("backend", CONVERTING)
def test_a_model_that_does_not_convert_runs_in_pytorch_with_one_warning(backend: str, tmp_path: Path,
                                                                        caplog) -> None:  # fmt: skip
    _need(backend)
    cache = ConversionCache(tmp_path / "converted")
    spec = ExportSpec("svd-test", "svd-weights", (torch.zeros(2, 4, 4),))
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        engine = compile_module(_SingularValues(), spec, backend, threads=1, cache=cache)
    (warning,) = _warnings(caplog)
    assert "svd-test" in warning and backend in warning and "running it in PyTorch" in warning
    assert engine.backend == "torch"
    x = np.random.default_rng(0).standard_normal((3, 4, 4)).astype(np.float32)
    (values,) = engine(x)
    assert np.allclose(values, np.linalg.svd(x, compute_uv=False), atol=1e-5)
    assert _entries(cache.root) == []  # the failed conversion left nothing behind


def _failing_build(module, spec, folder) -> None:
    raise RuntimeError("the converter gave up")


def test_a_lifter_that_does_not_convert_lifts_in_pytorch(lifters, lift_inputs, monkeypatch, caplog) -> None:
    model, weights = lifters["stcformer_ref.pth"]
    monkeypatch.setitem(backend_engines._BUILD, "onnxruntime", (_failing_build, backend_engines._BUILD["onnxruntime"][1]))
    tracks, width, height = lift_inputs
    tracks = tracks[1:]  # the 5-frame track: PyTorch's time is all this test spends
    calls = LifterCalls(model, "onnxruntime", threads=1, weights=weights + "-never-cached")
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        got = lift_tracks(tracks, width, height, model, LiftOptions(), calls=calls)
    (warning,) = _warnings(caplog)
    assert "stcformer-27-forward-centre-1in" in warning and "onnxruntime" in warning and "converter gave up" in warning
    assert calls.effective_backend == "torch"
    for r, g in zip(lift_tracks(tracks, width, height, model, LiftOptions()), got, strict=True):
        assert _maxdiff(g.camera, r.camera) <= 1e-6


# --- choosing a backend and its errors ------------------------------------------------------------


CPU = torch.device("cpu")


def test_a_backend_that_is_not_installed_names_the_pip_command(monkeypatch) -> None:
    monkeypatch.setattr(backend_choice, "installed", lambda backend: backend != "onnxruntime")
    with pytest.raises(UserError, match=r"--backend onnxruntime .*pip install onnxruntime==[\d.]+ onnx=="):
        resolve_backend("onnxruntime", CPU)
    with pytest.raises(UserError, match="unknown backend 'tensorrt'"):
        resolve_backend("tensorrt", CPU)


def test_a_backend_that_is_not_installed_is_one_error_line(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                           monkeypatch, capsys) -> None:  # fmt: skip
    monkeypatch.setattr(backend_choice, "installed", lambda backend: backend != "onnxruntime")
    args = model_args(confident_yolo, tmp_path / "out", "--backend", "onnxruntime")
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 1
    assert "pip install onnxruntime==" in _one_error_line(capsys.readouterr().err)
    assert not list((tmp_path / "out").rglob("done.json"))


def test_a_converting_backend_with_cuda_is_an_error(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                    capsys) -> None:  # fmt: skip
    for backend in CONVERTING:
        if backend_choice.installed(backend):
            with pytest.raises(UserError, match=f"--backend {backend} runs the models on the CPU.*--backend torch"):
                resolve_backend(backend, torch.device("cuda"))
    args = model_args(confident_yolo, tmp_path / "out", "--backend", "openvino")
    args[args.index("--device") + 1] = "cuda"
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 1
    line = _one_error_line(capsys.readouterr().err)
    # Without a GPU the device is refused first; with one, the backend's CPU-only rule.
    assert ("no CUDA GPU" if not torch.cuda.is_available() else "runs the models on the CPU") in line


def test_auto_is_openvino_on_this_x86_cpu_and_torch_on_cuda() -> None:
    if not backend_choice._x86():
        pytest.skip("not an x86 CPU: auto is PyTorch here")
    _need("openvino")
    assert resolve_backend("auto", CPU) == "openvino"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert resolve_backend("torch", CPU) == "torch" and resolve_backend("openvino", CPU) == "openvino"


def test_auto_without_openvino_is_torch_with_one_warning(monkeypatch, caplog) -> None:
    monkeypatch.setattr(backend_choice, "_x86", lambda: True)
    monkeypatch.setattr(backend_choice, "installed", lambda backend: backend != "openvino")
    with caplog.at_level(logging.WARNING, logger="core.backends"):
        assert resolve_backend("auto", CPU) == "torch"
    (warning,) = _warnings(caplog)
    assert "OpenVINO is not installed" in warning and "pip install openvino==" in warning


# --- wrong 2D checkpoints through --pose2d ----------------------------------------------------------


@pytest.mark.parametrize("kind,expected", [
    ("lifter", "is a 3D lifter checkpoint (STCFormer), not a 2D keypoint model"),
    ("detector", "is an Ultralytics YOLO model, not a 2D keypoint model: pass it with --detector"),
    ("truncated", "is truncated or corrupt"),
])  # fmt: skip
def test_a_wrong_pose2d_checkpoint_is_one_error_line(kind: str, expected: str, short_clips: Path, confident_yolo: Path,
                                                     fall_detector: Path, tmp_path: Path, capsys) -> None:  # fmt: skip
    if kind == "lifter":
        path = fixture_path("stcformer_ref.pth")
    elif kind == "detector":
        path = fall_detector
    else:
        data = fixture_path("rtmpose_ref.pth").read_bytes()
        path = tmp_path / "rtmpose_cut.pth"
        path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    args = model_args(confident_yolo, out, "--no-video")
    args[args.index("--pose2d") + 1] = str(path)
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert expected in line and str(path) in line
    assert not list(out.rglob("done.json")) and not list(out.rglob("pose2d.json"))


# --- whole runs --------------------------------------------------------------------------------------


def _rtmpose_args(yolo: Path, out: Path, *extra: str) -> list[str]:
    args = model_args(yolo, out, "--no-video", *extra)
    args[args.index("--pose2d") + 1] = str(fixture_path("rtmpose_ref.pth"))
    i = args.index("--pose2d-size")
    del args[i : i + 3]  # RTMPose's crop size is in its head
    return args


def test_rtmpose_on_openvino_end_to_end_owns_its_threads_and_flips(short_clips: Path, confident_yolo: Path,
                                                                    tmp_path: Path, monkeypatch) -> None:  # fmt: skip
    """``--backend openvino --threads 1``: every OpenVINO model (RTMPose, the lifter, the
    detector) runs on 1 thread, and the files say where the models ran; then ``--flip-test``."""
    _need("openvino")
    loaded: list[tuple[str, int, int]] = []
    build, load = backend_engines._BUILD["openvino"]

    def recording_load(folder: Path, threads: int):
        engine = load(folder, threads)
        loaded.append((folder.name, threads, engine.threads))
        return engine

    monkeypatch.setitem(backend_engines._BUILD, "openvino", (build, recording_load))
    detector_threads: list[tuple[str, int, int]] = []
    own_threads = detector_export.own_threads

    def recording_own_threads(yolo, backend, model_path, threads):
        own_threads(yolo, backend, model_path, threads)
        detector_threads.append((backend, threads, runtime_threads(yolo)))

    monkeypatch.setattr(detector_export, "own_threads", recording_own_threads)
    coco = {}
    for flip in (False, True):
        out = tmp_path / f"flip{int(flip)}"
        extra = ("--backend", "openvino", *(("--flip-test",) if flip else ("--threads", "1")))
        assert main(["--video", str(short_clips / "walk_a.mp4"), *_rtmpose_args(confident_yolo, out, *extra)]) == 0
        if not flip:
            models = {name.rsplit("-openvino-", 1)[0] for name, _, _ in loaded}
            assert "rtmpose-192x256" in models and "stcformer-27-forward-centre-1in" in models, models
            assert {(threads, real) for _, threads, real in loaded} == {(1, 1)}
            assert detector_threads == [("openvino", 1, 1)]
        record = json.loads((out / "walk_a" / "pose2d.json").read_text())
        assert record["models"]["pose2d"]["name"] == "RTMPose (widen 0.25) 256x192"
        assert record["models"]["pose2d"]["backend"] == record["models"]["detector"]["backend"] == "openvino"
        assert record["key"]["settings"]["pose2d"]["flip_test"] is flip
        done = json.loads((out / "walk_a" / "done.json").read_text())
        assert done["key"]["settings"]["pose2d"]["backend"]["pose2d"]["name"] == "openvino"
        assert done["key"]["settings"]["pose2d"]["backend"]["detector"]["name"] == "openvino"
        assert done["key"]["settings"]["lift"]["backend"]["name"] == "openvino"  # asked for: not auto's PyTorch
        assert done["backends"] == {"detector": "openvino", "pose2d": "openvino", "lifter": "openvino"}
        with np.load(out / "walk_a" / "pose2d.npz") as p2:
            present = p2["state"] > 0
            assert present.sum() > 0 and p2["coco"].shape == (len(p2["state"]), 17, 2)
            assert np.isfinite(p2["coco"][present]).all() and np.isfinite(p2["coco_scores"][present]).all()
            coco[flip] = p2["coco"][present]
    # The flip test changed the keypoints (the same boxes, so the same rows).
    assert coco[False].shape == coco[True].shape and not np.array_equal(coco[False], coco[True])


def test_flip_test_with_hrnet_is_one_error_line(short_clips: Path, confident_yolo: Path, tmp_path: Path,
                                                capsys) -> None:  # fmt: skip
    args = model_args(confident_yolo, tmp_path / "out", "--no-video", "--flip-test")
    assert main(["--video", str(short_clips / "walk_a.mp4"), *args]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "--flip-test is implemented for RTMPose models, not for HRNet" in line


def test_auto_keeps_the_lifters_on_pytorch_and_an_explicit_backend_takes_every_model() -> None:
    """The lifters were measured no faster on OpenVINO (README, "Backends"): auto leaves them on
    PyTorch; a backend named explicitly runs every model."""
    from core.runtime import configure_runtime

    auto = configure_runtime("cpu", 1, "fp32", "auto")
    assert {m: auto.backend_for(m) for m in ("detector", "pose2d", "lifter")} == {
        "detector": "openvino", "pose2d": "openvino", "lifter": "torch"}  # fmt: skip
    assert auto.for_model("lifter").backend == "torch" and auto.for_model("pose2d").backend == "openvino"
    named = configure_runtime("cpu", 1, "fp32", "openvino")
    assert {named.backend_for(m) for m in ("detector", "pose2d", "lifter")} == {"openvino"}
