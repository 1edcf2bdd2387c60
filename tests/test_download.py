"""core.download against a real HTTP server on 127.0.0.1 (tests/local_server.py), and with gdown
replaced by a stand-in (no network).

Every test also checks what is left in the destination folder: only a verified file, never a
partial one or a stray temporary file.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gdown
import pytest
import requests
import torch.hub
from gdown.download import GoogleDriveFileToDownload  # what download_folder(skip_download=True) returns

from core.errors import UserError
from core import download
from core.download import OFFLINE_ENV, DownloadError, download_gdrive, download_gdrive_folder_file, download_url
from core.download import fetch
from core.weights import Source, WeightsFile

from .local_server import FileServer, Route

DRIVE_ID = "14J0GYIzk_rGKSMxAPI2ydzX76QB70-g3"
FOLDER_ID = "1waaQ1Yj-HfbNahnCN8AWCjMCGzyhZJF7"
DRIVE_PAGE = f"https://drive.google.com/file/d/{DRIVE_ID}/view"
FOLDER_PAGE = f"https://drive.google.com/drive/folders/{FOLDER_ID}"
PAYLOAD = bytes(range(256)) * 1200  # 300 KiB: several reads of torch.hub's buffer
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
HTML = b"\n  <!DOCTYPE html><html><body>Please sign in</body></html>"


@pytest.fixture(autouse=True)
def _fast_and_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's POSE3D_OFFLINE leaks in, and retries do not wait."""
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    monkeypatch.setattr(download, "RETRY_WAIT_S", 0.0)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "checkpoints"
    out.mkdir()
    return out


def contents(path: Path) -> list[str]:
    """Every name in a folder, hidden ones included (a stray '.x.part' must show)."""
    return sorted(p.name for p in path.iterdir())


def one_line(error: pytest.ExceptionInfo[DownloadError]) -> str:
    message = str(error.value)
    assert isinstance(error.value, UserError)
    assert "\n" not in message and message == message.strip()
    return message


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == download.__name__ and "retrying" in r.getMessage()]


def free_port() -> int:
    """A port nothing listens on once the probe socket is closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- plain HTTP through torch.hub ---------------------------------------------------------------


def test_good_download_is_verified_and_published(server: FileServer, folder: Path) -> None:
    url = server.add("/weights.pth", Route(PAYLOAD))
    dest = folder / "weights.pth"
    assert download_url(url, dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD), progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert contents(folder) == ["weights.pth"]
    assert (server.hits["/weights.pth"], server.heads["/weights.pth"]) == (1, 1)


def test_missing_folder_is_created_and_sha256_prefix_accepted(server: FileServer, tmp_path: Path) -> None:
    url = server.add("/w.bin", Route(PAYLOAD))
    dest = tmp_path / "a" / "b" / "w.bin"
    download_url(url, dest, sha256=PAYLOAD_SHA[:8].upper(), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_wrong_sha256_prefix_names_both_and_keeps_nothing(server: FileServer, folder: Path) -> None:
    url = server.add("/td-hm-00000000_20220915.pth", Route(PAYLOAD))
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "w.pth", sha256="00000000", progress=False)
    message = one_line(error)
    assert f"its sha256 is {PAYLOAD_SHA}, expected 00000000..." in message and url in message
    assert server.hits["/td-hm-00000000_20220915.pth"] == 1  # a wrong file is not retried
    assert contents(folder) == []


def test_wrong_full_sha256_keeps_nothing(server: FileServer, folder: Path) -> None:
    url = server.add("/w.pth", Route(PAYLOAD))
    other = PAYLOAD_SHA[:-1] + ("0" if PAYLOAD_SHA[-1] != "0" else "1")  # differs in the last digit only
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "w.pth", sha256=other, progress=False)
    message = one_line(error)
    assert message.endswith(f"its sha256 is {PAYLOAD_SHA}, expected {other}; nothing was saved to {folder / 'w.pth'}")
    assert server.hits["/w.pth"] == 1
    assert contents(folder) == []


def test_wrong_size_keeps_nothing(server: FileServer, folder: Path) -> None:
    url = server.add("/w.pth", Route(PAYLOAD))
    with pytest.raises(DownloadError, match=f"it has {len(PAYLOAD)} bytes, expected 1000"):
        download_url(url, folder / "w.pth", size=1000, progress=False)
    assert contents(folder) == []


def test_cut_transfer_is_retried_then_reported(
    server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.add("/cut.pth", Route(PAYLOAD, plan=("cut",)))
    dest = folder / "cut.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, retries=2, progress=False)  # nothing known: the HEAD length tells
    message = one_line(error)
    assert f"cut after {len(PAYLOAD) // 3} of {len(PAYLOAD)} bytes (after 3 attempts)" in message
    assert url in message and str(dest.absolute()) in message
    assert server.hits["/cut.pth"] == 3 and len(retry_warnings(caplog)) == 2
    assert contents(folder) == []


def test_cut_transfer_then_a_complete_one_succeeds(server: FileServer, folder: Path) -> None:
    url = server.add("/flaky.pth", Route(PAYLOAD, plan=("cut", "ok")))
    dest = download_url(url, folder / "flaky.pth", sha256=PAYLOAD_SHA[:8], progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.hits["/flaky.pth"] == 2
    assert contents(folder) == ["flaky.pth"]


def test_404_is_not_retried_and_says_where_to_put_the_file(
    server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.base + "/gone.pth"
    dest = folder / "gone.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, progress=False)
    message = one_line(error)
    assert message == (
        f"cannot download gone.pth: the server answered HTTP 404; download it by hand from {url} and save it as {dest}"
    )
    assert retry_warnings(caplog) == []
    assert contents(folder) == []


def test_500_is_retried_then_reported(server: FileServer, folder: Path) -> None:
    url = server.add("/down.pth", Route(PAYLOAD, plan=("500",)))
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "down.pth", retries=1, progress=False)
    assert "HTTP 500 (after 2 attempts)" in one_line(error)
    assert server.heads["/down.pth"] == 2 and server.hits["/down.pth"] == 0  # the HEAD already failed
    assert contents(folder) == []


def test_503_then_success(server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = server.add("/busy.pth", Route(PAYLOAD, plan=("503", "503", "ok")))
    with caplog.at_level(logging.WARNING):
        download_url(url, folder / "busy.pth", size=len(PAYLOAD), progress=False)
    assert (folder / "busy.pth").read_bytes() == PAYLOAD
    assert (server.heads["/busy.pth"], server.hits["/busy.pth"]) == (3, 1)
    assert len(retry_warnings(caplog)) == 2
    assert contents(folder) == ["busy.pth"]


def test_html_page_instead_of_weights_is_refused(server: FileServer, folder: Path) -> None:
    url = server.add("/login", Route(HTML, content_type="text/html"))
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "w.pth", progress=False)
    assert "it is an HTML page" in one_line(error)
    assert contents(folder) == []


def test_existing_valid_file_makes_no_request(server: FileServer, folder: Path) -> None:
    url = server.add("/w.pth", Route(b"other bytes"))
    dest = folder / "w.pth"
    dest.write_bytes(PAYLOAD)
    assert download_url(url, dest, sha256=PAYLOAD_SHA, size=len(PAYLOAD)) == dest
    assert download_url(url, dest) == dest  # nothing known: a non-empty file is trusted
    assert server.hits["/w.pth"] == server.heads["/w.pth"] == 0
    assert dest.read_bytes() == PAYLOAD


def test_existing_wrong_file_is_replaced_only_by_a_verified_one(
    server: FileServer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dest = folder / "w.pth"
    dest.write_bytes(PAYLOAD[:1000])  # what an interrupted browser download leaves
    bad = server.add("/bad.pth", Route(PAYLOAD, plan=("cut",)))
    with pytest.raises(DownloadError):
        download_url(bad, dest, size=len(PAYLOAD), retries=0, progress=False)
    assert dest.read_bytes() == PAYLOAD[:1000]  # a failed attempt leaves what was there
    good = server.add("/good.pth", Route(PAYLOAD))
    with caplog.at_level(logging.WARNING):
        download_url(good, dest, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert any("does not match the published file" in r.getMessage() for r in caplog.records)
    assert contents(folder) == ["w.pth"]


def test_offline_switch_is_one_line_and_makes_no_request(
    server: FileServer, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/w.pth", Route(PAYLOAD))
    dest = folder / "w.pth"
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(DownloadError) as error:
        download_url(url, dest, name="hrnet-w48")
    assert one_line(error) == (
        f"hrnet-w48 is missing and downloads are disabled ({OFFLINE_ENV} is set); "
        f"download it by hand from {url} and save it as {dest}"
    )
    assert server.hits["/w.pth"] == server.heads["/w.pth"] == 0
    monkeypatch.setenv(OFFLINE_ENV, "0")
    assert download_url(url, dest, progress=False).read_bytes() == PAYLOAD


def test_refused_port_reads_as_offline_without_retries(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/weights.pth"
    dest = folder / "weights.pth"
    with caplog.at_level(logging.WARNING), pytest.raises(DownloadError) as error:
        download_url(url, dest, progress=False)
    message = one_line(error)
    assert "connection was refused (offline" in message
    assert f"download it by hand from {url} and save it as {dest}" in message
    assert retry_warnings(caplog) == []  # an offline machine gets its answer at once
    assert contents(folder) == []


def test_full_disk_is_reported_as_a_local_problem(
    server: FileServer, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/w.pth", Route(PAYLOAD))

    def disk_full(url: str, dst: str, **kwargs: Any) -> None:
        Path(dst).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch.hub, "download_url_to_file", disk_full)
    with pytest.raises(DownloadError) as error:
        download_url(url, folder / "w.pth", progress=False)
    assert one_line(error) == f"cannot save w.pth in {folder}: No space left on device"
    assert contents(folder) == []


def test_fetch_passes_the_manifest_hash_as_full_or_prefix(server: FileServer) -> None:
    url = server.add("/w.pth", Route(PAYLOAD))
    for sha in (PAYLOAD_SHA, PAYLOAD_SHA[:8]):
        entry = WeightsFile(name="m", file=f"m-{len(sha)}.pth", source=Source(url=url), sha256=sha, size=len(PAYLOAD))
        assert fetch(entry, progress=False).read_bytes() == PAYLOAD
    wrong = WeightsFile(name="bad-model", file="bad.pth", source=Source(url=url), sha256="0" * 8)
    with pytest.raises(DownloadError, match="did not serve the expected bad-model"):
        fetch(wrong, progress=False)


# --- Google Drive (gdown replaced, no network) --------------------------------------------------


@dataclass
class FakeGdown:
    """Stands in for gdown.download: one outcome per call (bytes written, or an exception raised)."""

    outcomes: list[bytes | Exception]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        outcome = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        kwargs["output"].write(outcome)
        return kwargs["output"]


@pytest.fixture()
def drive(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGdown]:
    fake = FakeGdown([PAYLOAD])
    monkeypatch.setattr(gdown, "download", fake)
    yield fake


def test_gdrive_success_writes_beside_dest_then_publishes(drive: FakeGdown, folder: Path) -> None:
    dest = download_gdrive(DRIVE_ID, folder / "pfv2.bin", sha256=PAYLOAD_SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    (call,) = drive.calls
    assert call["id"] == DRIVE_ID and call["quiet"] is True
    assert Path(call["output"].name).parent == folder  # a temporary file beside dest, renamed
    assert contents(folder) == ["pfv2.bin"]


def test_gdrive_html_page_is_refused(drive: FakeGdown, folder: Path) -> None:
    drive.outcomes = [b"<!DOCTYPE html><html><title>Quota exceeded</title>"]
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, folder / "pfv2.bin", progress=False)
    message = one_line(error)
    assert "HTML page" in message and DRIVE_PAGE in message
    assert contents(folder) == []


def test_gdrive_refusal_is_one_line_with_the_page_and_dest(drive: FakeGdown, folder: Path) -> None:
    drive.outcomes = [gdown.exceptions.FileURLRetrievalError(
        "Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file recently.\n\n"
        "You may still be able to access the file from the browser:\n\n\thttps://drive.google.com/uc?id=x\n"
    )]  # fmt: skip
    dest = folder / "pfv2.bin"
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, dest, progress=False)
    assert one_line(error) == (
        "Google Drive refused pfv2.bin (Too many users have viewed or downloaded this file recently.); "
        f"download it by hand from {DRIVE_PAGE} and save it as {dest}"
    )
    assert len(drive.calls) == 1 and contents(folder) == []


def test_gdrive_unresolvable_host_reads_as_offline(drive: FakeGdown, folder: Path) -> None:
    drive.outcomes = [requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='drive.google.com', port=443): Max retries exceeded (Caused by "
        "NameResolutionError(\"Failed to resolve 'drive.google.com' ([Errno -2] Name or service not known)\"))"
    )]  # fmt: skip
    dest = folder / "pfv2.bin"
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, dest, progress=False)
    message = one_line(error)
    assert "cannot be resolved (offline?)" in message and DRIVE_PAGE in message and str(dest) in message
    assert len(drive.calls) == 1 and contents(folder) == []


def test_gdrive_cut_transfer_is_retried(drive: FakeGdown, folder: Path) -> None:
    drive.outcomes = [gdown.exceptions.DownloadError("Response body ended before 307200 bytes"), PAYLOAD]
    dest = download_gdrive(DRIVE_ID, folder / "pfv2.bin", size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD and len(drive.calls) == 2
    assert contents(folder) == ["pfv2.bin"]


def test_gdrive_wrong_size_keeps_nothing(drive: FakeGdown, folder: Path) -> None:
    with pytest.raises(DownloadError, match=f"it has {len(PAYLOAD)} bytes, expected 123"):
        download_gdrive(DRIVE_ID, folder / "pfv2.bin", size=123, progress=False)
    assert contents(folder) == []


def test_gdrive_existing_file_and_offline_switch_call_nothing(
    drive: FakeGdown, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = folder / "pfv2.bin"
    monkeypatch.setenv(OFFLINE_ENV, "yes")
    with pytest.raises(DownloadError) as error:
        download_gdrive(DRIVE_ID, dest)
    assert f"downloads are disabled ({OFFLINE_ENV} is set); download it by hand from {DRIVE_PAGE}" in one_line(error)
    dest.write_bytes(PAYLOAD)
    assert download_gdrive(DRIVE_ID, dest, sha256=PAYLOAD_SHA) == dest
    assert drive.calls == []


def listing(monkeypatch: pytest.MonkeyPatch, held: dict[str, str]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def list_folder(**kwargs: Any) -> list[Any]:
        calls.append(kwargs)
        return [GoogleDriveFileToDownload(id=i, path=p, local_path=p) for p, i in held.items()]

    monkeypatch.setattr(gdown, "download_folder", list_folder)
    return calls


def test_gdrive_folder_file_lists_then_fetches_only_that_file(
    drive: FakeGdown, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = listing(monkeypatch, {"no_refine_6_4406.pth": "id-27", "x/no_refine_6_4172.pth": "id-81"})
    dest = download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4172.pth", folder / "s81.pth", progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert listed[0]["id"] == FOLDER_ID and listed[0]["skip_download"] is True
    assert [c["id"] for c in drive.calls] == ["id-81"]
    assert contents(folder) == ["s81.pth"]


def test_gdrive_folder_without_the_file_says_what_it_holds(
    drive: FakeGdown, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing(monkeypatch, {"other.pth": "id-o"})
    dest = folder / "s27.pth"
    with pytest.raises(DownloadError) as error:
        download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4406.pth", dest, progress=False)
    assert one_line(error) == (
        f"the Google Drive folder {FOLDER_PAGE} has no file no_refine_6_4406.pth (it holds: other.pth); "
        f"download no_refine_6_4406.pth by hand from {FOLDER_PAGE} and save it as {dest}"
    )
    assert drive.calls == [] and contents(folder) == []


def test_gdrive_folder_listing_offline(drive: FakeGdown, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(**kwargs: Any) -> list[Any]:
        raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")

    monkeypatch.setattr(gdown, "download_folder", unreachable)
    with pytest.raises(DownloadError) as error:
        download_gdrive_folder_file(FOLDER_ID, "no_refine_6_4406.pth", folder / "s.pth", progress=False)
    message = one_line(error)
    assert "connection was refused (offline" in message
    assert f"download no_refine_6_4406.pth by hand from {FOLDER_PAGE}" in message
    assert drive.calls == [] and contents(folder) == []


def test_error_text_is_folded_onto_one_line() -> None:
    assert str(DownloadError("first\n\n\tsecond  part\n")) == "first second part"
    assert issubclass(DownloadError, UserError)


def test_workers_starting_together_download_a_missing_file_once(server, tmp_path: Path) -> None:
    """Four processes (the Ray workers of one node) fetch the same missing file at once:
    the file lock in the checkpoints folder lets one download it; the others find it there."""
    import json
    import subprocess
    import sys

    url = server.add("/shared.pth", Route(PAYLOAD, delay_s=2.0))  # slow: the processes overlap
    folder = tmp_path / "checkpoints"
    code = (
        "import sys, json; from core.weights import Source, WeightsFile; from core.download import fetch; "
        "e = WeightsFile(name='shared', file='shared.pth', source=Source(url=sys.argv[1]), "
        f"sha256={hashlib.sha256(PAYLOAD).hexdigest()!r}); print(fetch(e, progress=False))"
    )
    env = {**__import__("os").environ, "POSE3D_CHECKPOINTS": str(folder), "PYTHONPATH": str(Path(__file__).parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert set(outputs) == {str(folder / "shared.pth")} and (folder / "shared.pth").read_bytes() == PAYLOAD
    assert server.hits["/shared.pth"] == 1, json.dumps(dict(server.hits))
