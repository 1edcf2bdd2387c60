"""How the Ray driver treats each way Ray 2.60 reports a lost worker (issue 17): the
driver's pull loop with a stand-in for Ray's API that raises Ray's real exception classes,
so every case runs in a second. Each becomes a retry or a failed row, never an abort; an
unreachable worker's clip is not re-run and its folder is left as it was."""
from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path

import pytest

from demo.batch import ClipReport
from demo.cluster import driver
from demo.cluster.plan import WorkerPlan
from demo.cluster.worker import WorkerInfo
from demo.options import PipelineOptions

exceptions = pytest.importorskip("ray.exceptions")


class _Ref:
    def __init__(self, value: Callable[[], object]) -> None:
        self.value = value


class _Actor:
    def __init__(self, ray: _FakeRay) -> None:
        self.ray = ray
        self.ready = types.SimpleNamespace(remote=lambda: _Ref(lambda: WorkerInfo("node-a", 1, "cpu", 1)))
        self.process = types.SimpleNamespace(remote=self._process)

    def _process(self, video: str, out: str) -> _Ref:
        outcome = self.ray.script.pop(0)
        self.ray.calls.append(Path(video).name)
        if isinstance(outcome, BaseException):
            def fail() -> object:
                raise outcome
            return _Ref(fail)
        return _Ref(lambda: ClipReport(Path(video), Path(out), "done"))


class _FakeRay:
    """What the driver calls of Ray: remote actors, wait, get, kill, exceptions."""

    exceptions = exceptions

    def __init__(self, script: list[object]) -> None:
        self.script, self.calls, self.killed = script, [], 0

    def remote(self, cls: type) -> object:
        return types.SimpleNamespace(options=lambda **kw: types.SimpleNamespace(remote=lambda *a: _Actor(self)))

    def wait(self, refs: list[_Ref], num_returns: int = 1) -> tuple[list[_Ref], list[_Ref]]:
        return [refs[0]], refs[1:]

    def get(self, ref: _Ref) -> object:
        return ref.value()

    def kill(self, actor: object, no_restart: bool = True) -> None:
        self.killed += 1


def _run(tmp_path: Path, script: list[object], monkeypatch) -> tuple[list[ClipReport], _FakeRay, list[Path]]:
    removed: list[Path] = []
    monkeypatch.setattr(driver, "remove_partial_files", lambda out: removed.append(out) or 0)
    ray = _FakeRay(script)
    videos = [tmp_path / "a.mp4"]
    job = driver._Job(ray, PipelineOptions(progress=False), videos, [tmp_path / "out" / "a"], WorkerPlan(1, 0.0, {"node-a": 1}), False)
    return job.run([0]), ray, removed


LOST = [
    exceptions.NodeDiedError("node-a died"),
    exceptions.ActorUnschedulableError("no node can hold the worker"),
    exceptions.ObjectLostError("0" * 56, "owner", "call site"),
    exceptions.OwnerDiedError("0" * 56, "owner", "call site"),
    exceptions.ActorDiedError(),
]


@pytest.mark.parametrize("error", LOST, ids=lambda e: type(e).__name__)
def test_a_lost_worker_is_retried_once_then_a_failed_row(tmp_path: Path, monkeypatch, error) -> None:
    (report,), ray, removed = _run(tmp_path, [error, "ok"], monkeypatch)
    assert report.status == "done" and ray.calls == ["a.mp4", "a.mp4"] and removed == [tmp_path / "out" / "a"]
    (report,), ray, _ = _run(tmp_path, [error, error], monkeypatch)
    assert report.status == "failed" and "died 2 times" in report.message and len(ray.calls) == 2


def test_an_unreachable_worker_is_not_raced_by_a_retry(tmp_path: Path, monkeypatch) -> None:
    (report,), ray, removed = _run(tmp_path, [exceptions.ActorUnavailableError("unreachable", b"\x00" * 16), "ok"],
                                   monkeypatch)  # fmt: skip
    assert report.status == "failed" and "unreachable" in report.message and "not retried" in report.message
    assert ray.calls == ["a.mp4"] and removed == []  # its folder was left to the worker that may still write it


def test_another_ray_error_is_a_failed_row_not_an_abort(tmp_path: Path, monkeypatch) -> None:
    (report,), _, _ = _run(tmp_path, [exceptions.RaySystemError("the object store is full")], monkeypatch)
    assert report.status == "failed" and "internal error" in report.message
