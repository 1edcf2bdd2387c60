"""demo.download against a real HTTP server on 127.0.0.1, and against a stand-in for gdown.

Every test also checks what is left in the destination folder: only a verified file, never a
partial one or a stray ``.part``.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gdown
import pytest
import requests
from gdown.download import GoogleDriveFileToDownload  # what download_folder(skip_download=True) returns
from tqdm._monitor import TMonitor

from demo import download
from demo.download import (
    OFFLINE_ENV,
    DownloadError,
    download_gdrive,
    download_gdrive_folder_file,
    download_url,
    manual_instructions,
    sha256_prefix_from_name,
)
from lifter.errors import UserError

from .local_server import FileServer, Route

MMPOSE_NAME = "td-hm_hrnet-w48_8xb32-210e_coco-384x288-c161b7de_20220915.pth"
DRIVE_ID = "14J0GYIzk_rGKSMxAPI2ydzX76QB70-g3"
FOLDER_ID = "1waaQ1Yj-HfbNahnCN8AWCjMCGzyhZJF7"
FAST = {"backoff_s": 0.0, "timeout": 5.0}  # retries must not slow the suite down


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No developer's POSE3D_OFFLINE leaks in, and no test leaves a thread running."""
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    before = set(threading.enumerate())
    yield
    # tqdm starts one process-wide monitor thread with its first bar, by design.
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not isinstance(t, TMonitor)]
    assert not left, f"threads left running: {left}"


@pytest.fixture()
def payload() -> bytes:
    return os.urandom(300 * 1024)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "checkpoints"
    out.mkdir()
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def contents(path: Path) -> list[str]:
    """Every name in a folder, hidden ones included (a stray '.x.part' must show)."""
    return sorted(p.name for p in path.iterdir())


def one_line(error: pytest.ExceptionInfo[DownloadError]) -> str:
    message = str(error.value)
    assert "\n" not in message and message == message.strip()
    return message


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == download.__name__ and "retrying" in r.getMessage()]


# --- plain HTTP ---------------------------------------------------------------------------------


def test_success_verifies_hash_and_draws_progress(
    server: FileServer, folder: Path, payload: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add("/weights.pth", Route(payload))
    dest = folder / "weights.pth"
    result = download_url(url, dest, sha256=sha256(payload), size=len(payload), progress=True, **FAST)
    assert result == dest
    assert dest.read_bytes() == payload
    assert contents(folder) == ["weights.pth"]
    assert server.hits["/weights.pth"] == 1
    assert "weights.pth" in capsys.readouterr().err  # the tqdm bar, labelled with the file


def test_creates_missing_folder(server: FileServer, tmp_path: Path, payload: bytes) -> None:
    url = server.add("/w.bin", Route(payload))
    dest = tmp_path / "a" / "b" / "w.bin"
    download_url(url, dest, progress=False, **FAST)
    assert dest.read_bytes() == payload


def test_cut_transfer_is_retried_then_reported(
    server: FileServer, folder: Path, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/cut.pth", Route(payload, plan=("cut",)))
    dest = folder / "cut.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, retries=2, progress=True, **FAST)
    message = one_line(error)
    assert f"cut after {len(payload) // 3} of {len(payload)} bytes" in message
    assert "after 3 attempts" in message
    assert server.hits["/cut.pth"] == 3
    assert len(retry_warnings(caplog)) == 2
    assert contents(folder) == []


def test_cut_transfer_then_complete_one_succeeds(server: FileServer, folder: Path, payload: bytes) -> None:
    url = server.add("/flaky.pth", Route(payload, plan=("cut", "ok")))
    dest = download_url(url, folder / "flaky.pth", sha256=sha256(payload), progress=False, **FAST)
    assert dest.read_bytes() == payload
    assert server.hits["/flaky.pth"] == 2
    assert contents(folder) == ["flaky.pth"]


def test_wrong_sha256_names_both_prefixes_and_keeps_nothing(server: FileServer, folder: Path, payload: bytes) -> None:
    url = server.add("/w.pth", Route(payload))
    expected = sha256(b"another file")
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "w.pth", sha256=expected, progress=False, **FAST)
    message = one_line(error)
    assert sha256(payload)[:16] in message and expected[:16] in message
    assert server.hits["/w.pth"] == 1  # a hash mismatch is not retried
    assert contents(folder) == []


def test_sha256_prefix_from_name_conventions() -> None:
    assert sha256_prefix_from_name(MMPOSE_NAME) == "c161b7de"
    assert sha256_prefix_from_name(f"https://download.openmmlab.com/mmpose/v1/{MMPOSE_NAME}") == "c161b7de"
    assert sha256_prefix_from_name("resnet18-f37072fd.pth") == "f37072fd"  # torch.hub, no date
    for name in ("yolo11m.pt", "no_refine_6_4406.pth", "27_243_45.2.bin", "pose_hrnet_w48_384x288.pth"):
        assert sha256_prefix_from_name(name) is None, name


def test_sha256_prefix_from_name_matches_and_mismatches(server: FileServer, folder: Path, payload: bytes) -> None:
    good = f"td-hm_model-{sha256(payload)[:8]}_20220915.pth"
    url = server.add(f"/{good}", Route(payload))
    download_url(url, folder / good, sha256_prefix=sha256_prefix_from_name(url), progress=False, **FAST)
    assert (folder / good).read_bytes() == payload

    wrong_prefix = "0" * 8 if not sha256(payload).startswith("0" * 8) else "f" * 8
    bad = f"td-hm_model-{wrong_prefix}_20220915.pth"
    url = server.add(f"/{bad}", Route(payload))
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / bad, sha256_prefix=sha256_prefix_from_name(bad), progress=False, **FAST)
    message = one_line(error)
    assert f"starts {sha256(payload)[:8]}, expected {wrong_prefix}" in message
    assert contents(folder) == [good]


def test_404_is_not_retried_and_says_where_to_put_the_file(
    server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.base + "/gone.pth"
    dest = folder / "gone.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, retries=3, progress=False, **FAST)
    message = one_line(error)
    assert "HTTP 404" in message and url in message and str(dest.absolute()) in message
    assert isinstance(error.value, UserError)
    assert server.hits["/gone.pth"] == 1
    assert retry_warnings(caplog) == []
    assert contents(folder) == []


def test_503_is_retried_until_it_succeeds(
    server: FileServer, folder: Path, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/busy.pth", Route(payload, plan=("503", "503", "ok")))
    with caplog.at_level(logging.WARNING):
        download_url(url, folder / "busy.pth", size=len(payload), retries=3, progress=False, **FAST)
    assert (folder / "busy.pth").read_bytes() == payload
    assert server.hits["/busy.pth"] == 3
    assert len(retry_warnings(caplog)) == 2


def test_503_forever_gives_up_after_the_retries(server: FileServer, folder: Path, payload: bytes) -> None:
    url = server.add("/down.pth", Route(payload, plan=("503",)))
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "down.pth", retries=1, progress=False, **FAST)
    message = one_line(error)
    assert "HTTP 503" in message and "after 2 attempts" in message and url in message
    assert server.hits["/down.pth"] == 2
    assert contents(folder) == []


def test_slow_answer_times_out_and_is_retried(
    server: FileServer, folder: Path, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/slow.pth", Route(payload, plan=("slow", "ok"), delay_s=0.6))
    with caplog.at_level(logging.WARNING):
        download_url(url, folder / "slow.pth", retries=1, timeout=0.2, backoff_s=0.0, progress=False)
    assert (folder / "slow.pth").read_bytes() == payload
    assert any("did not answer within 0.2 s" in m for m in retry_warnings(caplog))


def test_connection_refused_reads_as_offline(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights.pth"
    dest = folder / "weights.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, retries=3, progress=False, **FAST)
    message = one_line(error)
    assert "refused the connection" in message and "offline" in message
    assert url in message and str(dest.absolute()) in message
    assert retry_warnings(caplog) == []  # an offline machine gets its answer at once
    assert contents(folder) == []


def test_html_page_instead_of_the_file_is_refused(server: FileServer, folder: Path) -> None:
    page = b"\n  <!DOCTYPE html><html><body>Please sign in</body></html>"
    url = server.add("/login", Route(page, content_type="text/html"))
    with pytest.raises(DownloadError, match="HTML page"):
        download_url(url, folder / "w.pth", progress=False, **FAST)
    assert contents(folder) == []


def test_announced_size_differing_from_expected_stops_before_the_body(
    server: FileServer, folder: Path, payload: bytes
) -> None:
    url = server.add("/w.pth", Route(payload))
    with pytest.raises(DownloadError, match=f"announces {len(payload)} bytes, expected {len(payload) + 1}"):
        download_url(url, folder / "w.pth", size=len(payload) + 1, progress=False, **FAST)
    assert server.hits["/w.pth"] == 1
    assert contents(folder) == []


def test_not_enough_disk_space_is_refused_before_any_request(
    server: FileServer, folder: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/big.pth", Route(payload))
    real = download.shutil.disk_usage
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: real(p)._replace(free=1024))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download_url(url, folder / "big.pth", size=len(payload), progress=False, **FAST)
    assert server.hits["/big.pth"] == 0
    # Without a known size the check waits for Content-Length, still before the body is written.
    with pytest.raises(DownloadError, match="not enough disk space"):
        download_url(url, folder / "big.pth", progress=False, **FAST)
    assert contents(folder) == []


def test_existing_complete_file_makes_no_request(server: FileServer, folder: Path, payload: bytes) -> None:
    url = server.add("/w.pth", Route(payload))
    dest = folder / "w.pth"
    dest.write_bytes(payload)
    assert download_url(url, dest, sha256=sha256(payload), size=len(payload), **FAST) == dest
    assert download_url(url, dest, **FAST) == dest  # nothing known: a non-empty file is trusted
    assert server.hits["/w.pth"] == 0


def test_existing_wrong_file_is_reported_and_replaced(
    server: FileServer, folder: Path, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/w.pth", Route(payload))
    dest = folder / "w.pth"
    dest.write_bytes(payload[:1000])  # what an interrupted browser download leaves
    with caplog.at_level(logging.WARNING):
        download_url(url, dest, size=len(payload), progress=False, **FAST)
    assert dest.read_bytes() == payload
    assert server.hits["/w.pth"] == 1
    assert any("does not match the published file" in r.getMessage() for r in caplog.records)
    assert contents(folder) == ["w.pth"]


def test_offline_switch_makes_no_request(
    server: FileServer, folder: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/w.pth", Route(payload))
    dest = folder / "w.pth"
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(DownloadError) as error:
        download_url(url, dest, **FAST)
    message = one_line(error)
    assert OFFLINE_ENV in message and url in message and str(dest.absolute()) in message
    monkeypatch.setenv(OFFLINE_ENV, "0")
    with pytest.raises(DownloadError, match="offline mode"):
        download_url(url, dest, offline=True, **FAST)  # the parameter wins over the variable
    assert server.hits["/w.pth"] == 0
    assert contents(folder) == []


def test_manual_instructions_and_error_are_one_line(tmp_path: Path) -> None:
    line = manual_instructions("HRNet-W48", "https://example.org/w.pth", tmp_path / "w.pth")
    assert line == f"HRNet-W48: download it by hand from https://example.org/w.pth and save it as {tmp_path / 'w.pth'}"
    assert str(DownloadError("first\n\n\tsecond  part\n")) == "first second  part"


def test_malformed_arguments_are_programming_errors(folder: Path) -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        download_url("http://127.0.0.1:9/w", folder / "w", sha256="c161b7de")
    with pytest.raises(ValueError, match="http"):
        download_url("ftp://example.org/w", folder / "w")


# --- Google Drive through gdown (gdown replaced, no network) ------------------------------------


@dataclass
class FakeGdown:
    """Stands in for gdown.download: records its calls and writes what ``write`` returns."""

    write: Callable[[Path], None]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        self.write(Path(kwargs["output"]))
        return str(kwargs["output"])


def fake_gdown(monkeypatch: pytest.MonkeyPatch, write: Callable[[Path], None]) -> FakeGdown:
    fake = FakeGdown(write)
    monkeypatch.setattr(gdown, "download", fake)
    return fake


def test_gdrive_success_goes_through_a_temporary_folder(
    monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes
) -> None:
    fake = fake_gdown(monkeypatch, lambda out: out.write_bytes(payload))
    dest = download_gdrive(DRIVE_ID, folder / "pfv2.bin", sha256=sha256(payload), progress=False)
    assert dest.read_bytes() == payload
    (call,) = fake.calls
    assert call["id"] == DRIVE_ID and call["quiet"] is True
    assert Path(call["output"]).parent.parent == folder  # written beside dest, then renamed
    assert contents(folder) == ["pfv2.bin"]


def test_gdrive_html_page_is_explained(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    fake_gdown(monkeypatch, lambda out: out.write_bytes(b"<!DOCTYPE html><html><title>Quota exceeded</title>"))
    dest = folder / "pfv2.bin"
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, dest, progress=False)
    message = one_line(error)
    assert "HTML page" in message and "quota" in message
    assert f"https://drive.google.com/file/d/{DRIVE_ID}/view" in message and str(dest.absolute()) in message
    assert contents(folder) == []


def test_gdrive_cut_transfer_leaves_nothing(monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes) -> None:
    def cut(out: Path) -> None:
        # What gdown 6 does: keep the bytes in '<name><random>.part' for --continue, then raise.
        (out.parent / f"{out.name}abcd1234.part").write_bytes(payload[:100])
        raise gdown.exceptions.DownloadError("Download is incomplete: received 100 bytes\nbut the server said 300.")

    fake_gdown(monkeypatch, cut)
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, folder / "pfv2.bin", progress=False)
    assert "Download is incomplete" in one_line(error)
    assert contents(folder) == []


def test_gdrive_quota_refusal_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    def refuse(out: Path) -> None:
        raise gdown.exceptions.FileURLRetrievalError(
            "Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file recently.\n\n"
            "You may still be able to access the file from the browser:\n\n\thttps://drive.google.com/uc?id=x\n\n"
            "but Gdown can't. Please check connections and permissions."
        )

    fake_gdown(monkeypatch, refuse)
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, folder / "pfv2.bin", progress=False)
    message = one_line(error)
    assert "Google Drive refused pfv2.bin (Too many users have viewed or downloaded this file recently.)" in message
    assert f"https://drive.google.com/file/d/{DRIVE_ID}/view" in message


@pytest.mark.parametrize("wrapped", [False, True], ids=["retries=0", "retries>0"])
def test_gdrive_offline_machine(monkeypatch: pytest.MonkeyPatch, folder: Path, wrapped: bool) -> None:
    dns = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='drive.google.com', port=443): Max retries exceeded (Caused by "
        "NameResolutionError(\"Failed to resolve 'drive.google.com' ([Errno -2] Name or service not known)\"))"
    )

    def fail(out: Path) -> None:
        if not wrapped:
            raise dns
        raise gdown.exceptions.DownloadError(f"Download failed after 3 retries: {dns}") from dns

    fake_gdown(monkeypatch, fail)
    dest = folder / "pfv2.bin"
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, dest, progress=False)
    message = one_line(error)
    assert "cannot resolve drive.google.com (offline?)" in message and str(dest.absolute()) in message
    assert contents(folder) == []


def test_gdrive_size_mismatch(monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes) -> None:
    fake_gdown(monkeypatch, lambda out: out.write_bytes(payload))
    with pytest.raises(DownloadError, match=f"it has {len(payload)} bytes, expected 123"):
        download_gdrive(DRIVE_ID, folder / "pfv2.bin", size=123, progress=False)
    assert contents(folder) == []


def test_gdrive_existing_file_and_offline_switch_call_nothing(
    monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes
) -> None:
    fake = fake_gdown(monkeypatch, lambda out: out.write_bytes(payload))
    dest = folder / "pfv2.bin"
    with pytest.raises(DownloadError, match="downloads are disabled"):
        download_gdrive(DRIVE_ID, dest, offline=True)
    dest.write_bytes(payload)
    assert download_gdrive(DRIVE_ID, dest, sha256=sha256(payload), offline=True) == dest
    assert fake.calls == []


def test_gdrive_empty_existing_file_is_fetched_again(
    monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes
) -> None:
    fake = fake_gdown(monkeypatch, lambda out: out.write_bytes(payload))
    dest = folder / "pfv2.bin"
    dest.touch()
    download_gdrive(DRIVE_ID, dest, progress=False)
    assert dest.read_bytes() == payload and len(fake.calls) == 1


def _listing(monkeypatch: pytest.MonkeyPatch, paths: dict[str, str]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def list_folder(**kwargs: Any) -> list[Any]:
        calls.append(kwargs)
        return [GoogleDriveFileToDownload(id=i, path=p, local_path=p) for p, i in paths.items()]

    monkeypatch.setattr(gdown, "download_folder", list_folder)
    return calls


def test_gdrive_folder_file_lists_then_fetches_only_that_file(
    monkeypatch: pytest.MonkeyPatch, folder: Path, payload: bytes
) -> None:
    held = {"no_refine_6_4406.pth": "id-27", "no_refine_6_4172.pth": "id-81", "x/readme.txt": "id-r"}
    listed = _listing(monkeypatch, held)
    fake = fake_gdown(monkeypatch, lambda out: out.write_bytes(payload))
    dest = download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4172.pth", folder / "stcformer_81.pth", progress=False)
    assert dest.read_bytes() == payload
    assert listed[0]["id"] == FOLDER_ID and listed[0]["skip_download"] is True
    assert [c["id"] for c in fake.calls] == ["id-81"]
    assert contents(folder) == ["stcformer_81.pth"]


def test_gdrive_folder_without_the_file(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    _listing(monkeypatch, {"other.pth": "id-o"})
    fake = fake_gdown(monkeypatch, lambda out: out.write_bytes(b"x"))
    dest = folder / "stcformer_27.pth"
    with pytest.raises(DownloadError) as error:
        download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4406.pth", dest, progress=False)
    message = one_line(error)
    assert "has no file no_refine_6_4406.pth (it holds: other.pth)" in message
    assert f"https://drive.google.com/drive/folders/{FOLDER_ID}" in message and str(dest.absolute()) in message
    assert fake.calls == []


def test_gdrive_folder_listing_offline(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    def unreachable(**kwargs: Any) -> list[Any]:
        raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com' (Name or service not known)")

    monkeypatch.setattr(gdown, "download_folder", unreachable)
    with pytest.raises(DownloadError) as error:
        download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4406.pth", folder / "s.pth", progress=False)
    message = one_line(error)
    assert "offline?" in message
    assert f"download no_refine_6_4406.pth by hand from https://drive.google.com/drive/folders/{FOLDER_ID}" in message
    assert contents(folder) == []
