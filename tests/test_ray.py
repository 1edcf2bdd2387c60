"""``vis.py --folder DIR --ray``: a local Ray (2 CPUs, started once for the session) with the
fixture-size models of test_app; results compared with a sequential run of the same folder."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import demo.cli
from core.errors import UserError
from demo.cli import main
from demo.cluster.plan import INSTALL_HINT, RayOptions, longest_first, plan_workers
from demo.cluster.storage import remove_partial_files, storage_problem
from demo.io.video import H264Writer, read_frames

from .conftest import REPO
from .test_app import model_args

CLIPS = ("walk_a", "walk_b", "walk_c")


# --- without Ray ---------------------------------------------------------------------------------


def _node(node_id: str, ip: str, cpus: float, gpus: float = 0) -> dict:
    return {"NodeID": node_id, "NodeManagerAddress": ip, "Alive": True, "Resources": {"CPU": cpus, "GPU": gpus}}


def test_pool_size_per_gpu_or_per_cores() -> None:
    cpu_nodes = [_node("a", "10.0.0.1", 16), _node("b", "10.0.0.2", 6), {**_node("c", "10.0.0.3", 64), "Alive": False}]
    plan = plan_workers(cpu_nodes, "auto", RayOptions())
    assert (plan.num_cpus, plan.num_gpus, plan.per_node) == (4, 0.0, {"a": 4, "b": 1})  # 16 // 4, 6 // 4
    assert plan_workers(cpu_nodes, "cpu", RayOptions(cpus_per_worker=3)).per_node == {"a": 5, "b": 2}
    mixed = [_node("g", "10.0.0.4", 32, gpus=4), _node("a", "10.0.0.1", 16)]
    plan = plan_workers(mixed, "auto", RayOptions())
    assert (plan.num_cpus, plan.num_gpus, plan.per_node, plan.labels) == (8, 1.0, {"g": 4}, {"g": "10.0.0.4"})
    plan = plan_workers(mixed, "auto", RayOptions(workers_per_gpu=2))
    assert (plan.num_cpus, plan.num_gpus, plan.per_node) == (4, 0.5, {"g": 8})
    assert plan_workers(mixed, "cpu", RayOptions()).per_node == {"g": 8, "a": 4}  # GPUs unused
    with pytest.raises(UserError, match="no node of the Ray cluster has a GPU"):
        plan_workers(cpu_nodes, "cuda", RayOptions())
    with pytest.raises(UserError, match=r"no node of the Ray cluster has 32 CPU\(s\) for a worker \(largest: 16\)"):
        plan_workers([_node("a", "10.0.0.1", 16)], "cpu", RayOptions(cpus_per_worker=32))


def test_longest_clips_first() -> None:
    assert longest_first([2.4, 0.0, 60.0, 2.4, 1.2]) == [2, 0, 3, 4, 1]


def test_partial_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    (tmp_path / "input_2D").mkdir()
    leftovers = [".pose3d.npz.0a1b2c3d.part", ".clip_pose.mp4.deadbeef.part.mp4", "input_2D/.keypoints.npz.12345678.part"]
    kept = ["pose3d.npz", ".hidden_notes", "clip_pose.mp4"]
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    assert remove_partial_files(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(Path(k).name for k in kept)


def test_storage_check_on_a_node(tmp_path: Path) -> None:
    """What each node answers at start: it sees the driver's probe file (by content), can
    write beside it, and can read the inputs."""
    probe, video = tmp_path / ".probe", tmp_path / "clip.mp4"
    probe.write_text("token-1")
    video.write_bytes(b"x")
    assert storage_problem(str(probe), "token-1", str(video)) == ""
    assert "is not the driver's folder there" in storage_problem(str(probe), "token-2", str(video))
    assert "is not the driver's folder there" in storage_problem(str(tmp_path / "elsewhere"), "token-1", str(video))
    assert storage_problem(str(probe), "token-1", str(tmp_path / "missing.mp4")).startswith("cannot read the input")


def test_without_ray_the_option_says_how_to_install(short_clips: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes 'import ray' fail
    assert main(["--folder", str(short_clips), "--ray", "local", "--out", str(tmp_path), "-q"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {INSTALL_HINT}"
    assert main(["--folder", str(short_clips), "--ray-collect", "--out", str(tmp_path), "-q"]) == 1
    assert "--ray-collect needs --ray" in capsys.readouterr().err


# --- on a local Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")  # only this module uses it: started once per test session, stopped after it
def ray_session():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")
    from demo.cluster import job_runtime_env

    # Started as vis.py --ray local starts it: from a process where Ultralytics has set
    # OMP_NUM_THREADS=1, which Ray's processes inherit (the workers must still use their share).
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        ray.init(num_cpus=2, include_dashboard=False, runtime_env=job_runtime_env(), logging_level=logging.WARNING)
    finally:
        if before is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = before
    yield ray
    ray.shutdown()


@pytest.fixture()
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """The driver's log records (vis.py's own logging setup would replace pytest's handler)."""
    monkeypatch.setattr(demo.cli, "setup_logging", lambda verbose, quiet: None)
    caplog.set_level(logging.INFO, logger="demo.cluster.driver")
    return caplog


@pytest.fixture(scope="module")
def batch(short_clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short clips (24, 24 and 12 frames) and a file that is not a video."""
    folder = tmp_path_factory.mktemp("ray_batch")
    for name in ("walk_a.mp4", "walk_b.mp4"):
        (folder / name).write_bytes((short_clips / name).read_bytes())
    with H264Writer(folder / "walk_c.mp4", Fraction(10), (384, 288)) as w:
        for _, frame in zip(range(12), read_frames(short_clips / "walk_b.mp4")):
            w.write(frame)
    (folder / "broken.mp4").write_text("this is not a video\n")
    return folder


@pytest.fixture(scope="module")
def sequential(batch: Path, confident_yolo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sequential")
    assert main(["--folder", str(batch), *model_args(confident_yolo, out), "--no-html"]) == 1
    return out


def test_workers_get_the_code_and_the_weights_manifest_not_the_weights(ray_session) -> None:
    def shipped() -> tuple[bool, list[str], str]:
        from core.weights import MANIFEST_PATH, REPO_ROOT

        return MANIFEST_PATH.is_file(), sorted(p.name for p in REPO_ROOT.iterdir()), os.getcwd()

    (REPO / "checkpoints" / "not_shipped.pth").write_bytes(b"weights")  # ignored by git, like real weights
    try:
        has_manifest, top, cwd = ray_session.get(ray_session.remote(shipped).remote())
    finally:
        (REPO / "checkpoints" / "not_shipped.pth").unlink()
    assert has_manifest and cwd != str(REPO)
    assert set(top) == {"checkpoints", "core", "demo", "lifter"}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _same_results(a: Path, b: Path) -> None:
    """The same files, and every array of pose2d.npz / pose3d.npz equal to float tolerance."""
    assert _files(a) == _files(b)
    for name in ("pose2d.npz", "pose3d.npz"):
        with np.load(a / name) as x, np.load(b / name) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                if key == "info":  # pose3d.npz's JSON header names the input's path, which differs
                    headers = [json.loads(str(d[key])) for d in (x, y)]
                    for h in headers:
                        h["video"].pop("path")
                    assert headers[0] == headers[1]
                elif x[key].dtype.kind == "f":
                    np.testing.assert_allclose(x[key], y[key], atol=1e-4, rtol=1e-4, err_msg=f"{name}:{key}")
                else:
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}:{key}")
    done_a, done_b = (json.loads((d / "done.json").read_text()) for d in (a, b))
    assert done_a["key"] == done_b["key"] and done_a["outputs"] == done_b["outputs"]


def test_folder_on_ray_equals_the_sequential_run(ray_session, batch: Path, sequential: Path, confident_yolo: Path,
                                                 tmp_path: Path, capsys, logs) -> None:  # fmt: skip
    out = tmp_path / "out"
    args = ["--folder", str(batch), *model_args(confident_yolo, out), "--no-html", "--ray", "auto"]
    assert main([*args, "--ray-cpus-per-worker", "1"]) == 1
    table = capsys.readouterr().out
    assert re.search(r"broken\.mp4\s+failed.*not a readable video file", table)
    assert table.splitlines()[-1] == "3 done, 1 failed"
    for clip in CLIPS:
        _same_results(sequential / clip, out / clip)
    assert not (out / "broken" / "done.json").exists()
    started = [r.getMessage() for r in logs.records if r.getMessage().startswith("ray worker on")]
    assert len(started) == 2 and all(m.endswith("cpu, 1 thread(s)") for m in started)  # one per core
    # Again, one worker of 2 cores: everything is skipped, and the worker used both cores.
    logs.clear()
    assert main([*args, "--ray-cpus-per-worker", "2"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "3 skipped, 1 failed"
    (started,) = [r.getMessage() for r in logs.records if r.getMessage().startswith("ray worker on")]
    assert started.endswith("cpu, 2 thread(s)")


def _kill_worker_mid_clip(out_dir: Path, killed: list[int], stop: threading.Event) -> None:
    """Once the clip's folder exists and a worker is busy in ``process``, SIGKILL that worker."""
    import psutil

    while not stop.is_set() and not killed:
        if out_dir.is_dir():
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if " ".join(proc.info["cmdline"] or []).startswith("ray::ClipWorker.process"):
                    time.sleep(0.5)  # inside the 2D stage (the clip takes about 3 s)
                    os.kill(proc.info["pid"], signal.SIGKILL)
                    killed.append(proc.info["pid"])
                    return
        time.sleep(0.1)


def test_a_killed_worker_is_replaced_and_its_clip_retried(ray_session, batch: Path, sequential: Path,
                                                          confident_yolo: Path, tmp_path: Path, capsys, logs) -> None:  # fmt: skip
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "walk_c.mp4").write_bytes((batch / "walk_c.mp4").read_bytes())
    out = tmp_path / "out"
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_worker_mid_clip, args=(out / "walk_c", killed, stop), daemon=True)
    killer.start()
    try:
        # One thread, as the sequential run (the random-weight HRNet's flat heatmaps make its
        # argmax sensitive to the order of a sum, which the thread count changes).
        rc = main(["--folder", str(folder), *model_args(confident_yolo, out), "--no-html", "--ray", "auto",
                   "--ray-cpus-per-worker", "1"])  # fmt: skip
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen processing the clip"
    assert rc == 0 and capsys.readouterr().out.splitlines()[-1] == "1 done"
    assert any("walk_c.mp4: its worker on" in r.getMessage() and "retrying it" in r.getMessage() for r in logs.records)
    _same_results(sequential / "walk_c", out / "walk_c")
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary file of the killed writer


def test_collect_without_shared_storage(ray_session, batch: Path, sequential: Path, confident_yolo: Path,
                                        tmp_path: Path, capsys) -> None:  # fmt: skip
    folder = tmp_path / "short"
    folder.mkdir()
    (folder / "walk_c.mp4").write_bytes((batch / "walk_c.mp4").read_bytes())
    out = tmp_path / "out"
    args = ["--folder", str(folder), *model_args(confident_yolo, out), "--no-html", "--ray", "auto", "--ray-collect",
            "--ray-cpus-per-worker", "1"]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 done"
    _same_results(sequential / "walk_c", out / "walk_c")
    # The worker's temporary paths were replaced by the real ones.
    assert json.loads((out / "walk_c" / "done.json").read_text())["video"] == str((folder / "walk_c.mp4").resolve())
    assert json.loads((out / "walk_c" / "pose2d.json").read_text())["video"]["path"] == str((folder / "walk_c.mp4").resolve())
    assert main(args) == 0  # done.json travelled to the worker: skipped
    assert capsys.readouterr().out.splitlines()[-1] == "1 skipped"


def test_ctrl_c_stops_the_workers_and_leaves_nothing_that_looks_done(ray_session, batch: Path, confident_yolo: Path,
                                                                      tmp_path: Path, capsys) -> None:  # fmt: skip
    import psutil

    def workers() -> list[str]:
        titles = (" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
        return [t for t in titles if t.startswith("ray::ClipWorker")]

    def ctrl_c_mid_clip(out_dir: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out_dir.is_dir() and any(t.startswith("ray::ClipWorker.process") for t in workers()):
                time.sleep(1.0)
                os.kill(os.getpid(), signal.SIGINT)  # what the terminal sends the driver
                return
            time.sleep(0.1)

    out = tmp_path / "out"
    ctrl_c = threading.Thread(target=ctrl_c_mid_clip, args=(out / "walk_a",), daemon=True)
    ctrl_c.start()
    rc = main(["--folder", str(batch), *model_args(confident_yolo, out), "--no-html", "--ray", "auto",
               "--ray-cpus-per-worker", "2"])  # fmt: skip
    ctrl_c.join()
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert not list(out.rglob("done.json")) and not [p for p in out.rglob(".*") if p.is_file()]
    deadline = time.monotonic() + 15
    while workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not workers(), "the workers were left running"
