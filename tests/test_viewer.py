"""The browser viewer (demo/viewer): packing of the pose data, the page's contents, and the
page itself driven in a real Chromium (Selenium): it loads offline from file:// with no
console error, shows one skeleton per track at the exported positions, plays in sync with
the video, draws a non-blank scene, and the folder index links every clip.

Results are built synthetically (walking and waving skeletons in the world frame, with a
real camera and ground frame) and the side-by-side video is a real H.264 file showing the
same skeletons projected. ``UPDATE_DOCS=1`` also saves the page's screenshot as
docs/viewer.png.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import cv2
import numpy as np
import pytest

from core.joints import H36M_BONES
from demo.motion.camera import PinholeCamera
from demo.motion.ground import GroundFrame
from demo.io.video import VideoMeta
from demo.pose3d import Pose3DResult, Track3D
from demo.render.style import Palette, RenderConfig
from demo.io.video import H264Writer
from demo.viewer import GalleryEntry, write_index, write_viewer
from demo.viewer.data import (
    camera_json,
    css_colour,
    pack_person,
    pack_tracks,
    unpack_person,
)
from demo.viewer.page import json_for_script, viewer_data

from .conftest import REPO

FPS = Fraction(10)
SIZE = (320, 240)

# A standing person facing +z (toward the camera), world metres, Y up, ankles at y = 0.
# Their right side is the camera's left (-x).
STANDING = np.array([
    (0, 0.95, 0), (-0.12, 0.93, 0), (-0.12, 0.50, 0.02), (-0.12, 0.0, 0), (0.12, 0.93, 0), (0.12, 0.50, 0.02),
    (0.12, 0.0, 0), (0, 1.18, 0), (0, 1.42, 0), (0, 1.52, 0.06), (0, 1.62, 0), (0.18, 1.40, 0), (0.22, 1.12, 0),
    (0.24, 0.86, 0.04), (-0.18, 1.40, 0), (-0.22, 1.12, 0), (-0.24, 0.86, 0.04),
])  # fmt: skip


def walking(t: np.ndarray, start: tuple[float, float], end: tuple[float, float], *, wave: bool = False) -> np.ndarray:
    """``(T, 17, 3)`` a person walking from ``start`` to ``end`` (x, z on the floor) over
    ``t`` in 0..1, facing where they go (or, standing still, facing the camera and waving)."""
    phase = 2 * np.pi * 3 * t
    pose = np.repeat(STANDING[None], len(t), axis=0)
    swing = np.sin(phase)
    for knee, ankle, sign in ((2, 3, 1), (5, 6, -1)):
        pose[:, knee, 2] += 0.12 * sign * swing
        pose[:, ankle, 2] += 0.25 * sign * swing
    for elbow, wrist, sign in ((12, 13, 1), (15, 16, -1)):
        pose[:, elbow, 2] -= 0.08 * sign * swing
        pose[:, wrist, 2] -= 0.16 * sign * swing
    if wave:
        pose[:, 15] = STANDING[14] + [-0.25, 0.05, 0]
        pose[:, 16] = pose[:, 15] + np.stack([-0.1 * np.sin(phase), np.full_like(t, 0.25), np.zeros_like(t)], axis=1)
    (x0, z0), (x1, z1) = start, end
    yaw = math.atan2(x1 - x0, z1 - z0) if (x0, z0) != (x1, z1) else 0.0  # facing +z is yaw 0
    c, s = math.cos(yaw), math.sin(yaw)
    x, z = pose[..., 0].copy(), pose[..., 2].copy()
    pose[..., 0], pose[..., 2] = x * c + z * s, -x * s + z * c
    pose[..., 0] += (x0 + (x1 - x0) * t)[:, None]
    pose[..., 2] += (z0 + (z1 - z0) * t)[:, None]
    return pose


def make_ground(height: float = 1.6, pitch_deg: float = 10.0) -> GroundFrame:
    """A camera ``height`` metres above the floor, looking ``pitch_deg`` down."""
    p = math.radians(pitch_deg)
    return GroundFrame.from_up(np.array([0.0, -math.cos(p), -math.sin(p)]), -height, "test")


def make_result(num_frames: int, people: list[tuple[int, np.ndarray, np.ndarray]], *, fps: Fraction = FPS,
                size: tuple[int, int] = SIZE, jitter_m: float = 0.0) -> Pose3DResult:  # fmt: skip
    """A Pose3DResult from world poses: ``people`` holds ``(track_id, world (T,17,3), state (T,))``;
    the camera-space fields are derived through a real ground frame and camera."""
    ground, camera = make_ground(), PinholeCamera.for_image(*size)
    video = VideoMeta("synthetic.mp4", "0" * 64, size[0], size[1], fps, num_frames, 0)
    tracks = []
    rng = np.random.default_rng(0)
    for track_id, world, state in people:
        world = world + rng.normal(0, jitter_m, world.shape) if jitter_m else world.copy()
        world[state == 0] = np.nan
        cam = (world @ ground.rotation) + ground.origin  # world -> camera space
        root = cam[:, 0]
        scores = np.where(state[:, None] > 0, np.full((len(state), 17), 0.9), np.nan).astype(np.float32)
        tracks.append(Track3D(
            track_id=track_id, start=0, state=state.astype(np.uint8), ground=ground,
            root=root.astype(np.float32), world=world.astype(np.float32),
            scores=scores, keypoints_2d=camera.project(cam).astype(np.float32),
        ))  # fmt: skip
    return Pose3DResult(video, tracks, {"name": "synthetic"}, camera, ground)


def demo_result(num_frames: int = 60, *, jitter_m: float = 0.0) -> Pose3DResult:
    """Three people: 1 walks across, 2 stands and waves from frame 10 to 49 (interpolated
    20-24, absent 30-34), 5 walks toward the camera."""
    t = np.linspace(0, 1, num_frames)
    full = np.ones(num_frames, np.uint8)
    waving = np.zeros(num_frames, np.uint8)
    waving[10:50] = 1
    waving[20:25] = 2
    waving[30:35] = 0
    return make_result(num_frames, [
        (1, walking(t, (-2.0, -4.0), (2.0, -4.5)), full),
        (2, walking(t, (1.2, -6.0), (1.2, -6.0), wave=True), waving),
        (5, walking(t, (-1.5, -8.0), (-1.0, -3.5)), full),
    ], jitter_m=jitter_m)  # fmt: skip


def write_clip_video(path: Path, result: Pose3DResult) -> Path:
    """The clip's video: each skeleton projected into the image in its colour, frame number."""
    camera, ground = result.camera, result.ground
    palette = Palette(RenderConfig())
    with H264Writer(path, result.video.fps, (camera.width, camera.height)) as writer:
        for k in range(result.num_frames):
            frame = np.full((camera.height, camera.width, 3), 60, np.uint8)
            for tr in result.tracks:
                if tr.state[k] == 0:
                    continue
                px = camera.project((tr.world[k] @ ground.rotation) + ground.origin).round().astype(int)
                for a, b in H36M_BONES:
                    cv2.line(frame, tuple(px[a]), tuple(px[b]), palette.colours(tr.track_id).base, 2)
            cv2.putText(frame, str(k), (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            writer.write(frame)
    return path


# ---- packing and page contents (no browser) -------------------------------------------------


def test_packing_round_trips_to_half_a_millimetre_and_keeps_absent_frames_hidden() -> None:
    result = demo_result()
    waving = result.tracks[1]
    packed = pack_person(waving)
    assert (packed.first, packed.count, packed.bits) == (10, 40, 16)  # frames 10..49
    pos, state = unpack_person(packed)
    np.testing.assert_array_equal(state, waving.state[10:50])
    present = state != 0
    assert np.abs(pos[present] - waving.world[10:50][present]).max() <= 0.0005 + 1e-6
    # Absent samples repeat the last present one (a zero difference), hidden by their state.
    np.testing.assert_allclose(pos[30 - 10 : 35 - 10], np.repeat(pos[29 - 10][None], 5, axis=0))


def test_packing_uses_int32_for_jumps_beyond_32_metres_and_skips_people_never_present() -> None:
    t = np.linspace(0, 1, 4)
    world = walking(t, (0, -3), (0, -3))
    world[2:] += [40.0, 0, 0]  # a 40 m jump does not fit an int16 of millimetres
    result = make_result(4, [(3, world, np.ones(4, np.uint8)), (4, world, np.zeros(4, np.uint8))])
    packed, stride = pack_tracks(result.tracks)
    assert stride == 1 and [p.track_id for p in packed] == [3]
    assert packed[0].bits == 32
    np.testing.assert_allclose(unpack_person(packed[0])[0], world, atol=0.0005 + 1e-6)


def test_a_clip_over_the_budget_keeps_every_nth_frame_and_says_so() -> None:
    result = demo_result(60, jitter_m=0.002)
    full = sum(p.nbytes for p in pack_tracks(result.tracks)[0])
    packed, stride = pack_tracks(result.tracks, budget=full // 3)
    assert stride >= 3 and sum(p.nbytes for p in packed) <= full // 3
    walker = next(p for p in packed if p.track_id == 1)
    assert walker.count == math.ceil(60 / stride)
    np.testing.assert_allclose(unpack_person(walker)[0], result.tracks[0].world[::stride], atol=0.0005 + 1e-6)
    data = viewer_data("long", result, None, budget=full // 3)
    assert data["stride"] == stride and f"every {stride}" in data["notes"][0]


def test_frustum_of_a_level_camera_is_hand_computable() -> None:
    # Level camera 1.6 m up: looking along -z, up is +y, right is +x.
    ground = GroundFrame.from_up(np.array([0.0, -1.0, 0.0]), -1.6, "test")
    cam = camera_json(PinholeCamera(200.0, 400, 300), ground, np.array([0.0, 1.6, -4.0]))
    assert cam["centre"] == pytest.approx([0, 1.6, 0])
    assert cam["right"] == pytest.approx([1, 0, 0]) and cam["up"] == pytest.approx([0, 1, 0])
    assert cam["forward"] == pytest.approx([0, 0, -1])
    assert cam["depth"] == pytest.approx(1.0)  # a quarter of the 4 m to the people
    # Far corners at depth 1: half-width 400 / (2 * 200) = 1, half-height 0.75.
    assert cam["corners"][0] == pytest.approx([-1.0, 1.6 + 0.75, -1.0])
    assert cam["corners"][2] == pytest.approx([1.0, 1.6 - 0.75, -1.0])


def test_colours_are_the_videos_and_text_is_escaped_for_a_script_element() -> None:
    assert css_colour((255, 170, 0)) == "#00aaff"  # BGR azure -> RGB
    data = viewer_data("x", demo_result(), None)
    assert data["people"][0]["colour"] == css_colour(Palette(RenderConfig()).colours(1).base)
    text = json_for_script({"clip": "</script><!--&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"clip": "</script><!--&"}


def test_a_ten_minute_clip_stays_a_few_megabytes(tmp_path: Path) -> None:
    """Size per minute, with lifter-like jitter (2 mm) on top of the walk; printed for the README."""
    minutes, fps = 10, Fraction(30)
    n = minutes * 60 * 30
    t = np.linspace(0, 1, n)
    result = make_result(n, [(1, walking(t, (-3, -4), (3, -5)), np.ones(n, np.uint8)),
                             (2, walking(t, (2, -7), (-2, -3)), np.ones(n, np.uint8))], fps=fps, jitter_m=0.002)  # fmt: skip
    start = time.perf_counter()
    page = write_viewer(tmp_path, "long", result, video_file="long_pose.mp4")
    seconds = time.perf_counter() - start
    size = page.stat().st_size
    empty = write_viewer(tmp_path, "empty", make_result(n, [], fps=fps), video_file=None).stat().st_size
    per_person_minute = (size - empty) / 2 / minutes
    print(f"\n10 min, 2 people, 30 fps: {size / 1e6:.2f} MB, page without people {empty / 1e6:.2f} MB, "
          f"{per_person_minute / 1e3:.0f} kB per person-minute, written in {seconds:.1f} s")  # fmt: skip
    assert size < 4e6 and seconds < 20
    assert '"stride":1' in page.read_text()


# ---- the page in a real browser ---------------------------------------------------------------


def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for the module (WebGL by SwiftShader, no GPU needed)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
    found = _chromium()
    if found is None:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", "--window-size=1280,720", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path: Path) -> None:
    """Load ``path`` from file:// and wait for the viewer to start; logs drained first."""
    driver.get_log("browser"), driver.get_log("performance")
    driver.get(path.resolve().as_uri())
    ok = driver.execute_async_script(
        "const done = arguments[0]; const t0 = Date.now();"
        "(function wait() { const v = window.viewer;"
        " if (v && (v.isReady || v.error)) return done(v.error || true);"
        " if (Date.now() - t0 > 15000) return done('timeout'); setTimeout(wait, 20); })();"
    )
    assert ok is True, ok


def wait_for(driver, script: str, timeout: float = 10.0) -> object:
    """Poll a JS expression until it is truthy; return its value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def severe_console(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pose3DResult]:
    """outputs/walk/ with the video and its viewer page."""
    out = tmp_path_factory.mktemp("outputs") / "walk"
    out.mkdir()
    result = demo_result()
    write_clip_video(out / "walk_pose.mp4", result)
    return write_viewer(out, "walk", result, video_file="walk_pose.mp4"), result


def expected_joints(track: Track3D, k: int, stride: int = 1) -> np.ndarray:
    """What the page shows at frame ``k``: the last kept sample, in whole millimetres."""
    first = int(np.flatnonzero(track.state)[0])
    return np.round(track.world[first + (k - first) // stride * stride] * 1000) / 1000


def test_page_loads_offline_with_no_console_error_and_one_skeleton_per_track(browser, clip) -> None:
    page, result = clip
    open_page(browser, page)
    state = wait_for(browser, "document.getElementById('video').readyState >= 2 && viewer.state()")
    assert state["mode"] == "video"
    assert state["skeletons"] == len(result.tracks) == 3
    assert [p["id"] for p in state["people"]] == [1, 2, 5]
    urls = requested_urls(browser)
    assert urls and all(u.startswith(("file:", "data:", "blob:")) for u in urls), urls
    assert any(u.endswith("walk_pose.mp4") for u in urls)
    assert severe_console(browser) == []


def test_seek_shows_the_exported_joints_of_that_frame(browser, clip) -> None:
    page, result = clip
    open_page(browser, page)
    for k in (0, 17, 22, 32, 59):
        state = browser.execute_script(f"viewer.seek({k}); return viewer.state();")
        assert state["frame"] == k and state["slider"] == k
        for person, track in zip(state["people"], result.tracks):
            if track.state[k] == 0:
                assert person["joints"] is None and not person["present"]
                continue
            assert person["state"] == track.state[k]
            np.testing.assert_allclose(person["joints"], expected_joints(track, k), atol=1e-5)
            np.testing.assert_allclose(person["joints"], track.world[k], atol=0.0005 + 1e-6)
    # The video follows a seek: paused on frame 40, the frame presented is 40.
    browser.execute_script("viewer.seek(40)")
    wait_for(browser, "!document.getElementById('video').seeking")
    video_time = browser.execute_script("return document.getElementById('video').currentTime")
    assert math.floor(video_time * 10) == 40
    assert browser.execute_script("return viewer.state().frame") == 40
    assert severe_console(browser) == []


def test_playing_advances_frames_and_the_slider_follows_the_video(browser, clip) -> None:
    page, _ = clip
    open_page(browser, page)
    browser.execute_script("viewer.seek(0); viewer.play();")
    state = wait_for(browser, "viewer.state().frame >= 15 && viewer.state()")
    assert state["playing"] and state["slider"] == state["frame"]
    # The 3D shows the frame the video presents (requestVideoFrameCallback); the video's clock
    # runs ahead of it by the compositor's latency, a frame or two on a loaded machine.
    assert -0.5 <= state["videoTime"] * state["fps"] - state["frame"] <= 3
    browser.execute_script("viewer.pause()")
    wait_for(browser, "!document.getElementById('video').seeking")
    state = browser.execute_script("return viewer.state()")
    assert state["frame"] == math.floor(state["videoTime"] * state["fps"]) == state["slider"]  # paused: exact
    browser.execute_script("viewer.play()")
    state = wait_for(browser, "!viewer.state().playing && viewer.state()", timeout=15)
    assert state["frame"] == 59 and state["slider"] == 59  # stops on the last frame
    # Keys: space plays and pauses, arrows step one frame.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    body = browser.find_element(By.TAG_NAME, "body")
    browser.execute_script("viewer.seek(10)")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
    assert browser.execute_script("return viewer.state().frame") == 11
    body.send_keys(Keys.SPACE)
    wait_for(browser, "viewer.state().frame > 13")
    body.send_keys(Keys.SPACE)
    assert not browser.execute_script("return viewer.state().playing")
    assert severe_console(browser) == []


def test_toggles_follow_and_picking(browser, clip) -> None:
    page, result = clip
    open_page(browser, page)
    state = browser.execute_script("viewer.seek(12); viewer.setVisible(5, false); viewer.setTrail(1, false); "
                                   "return viewer.state()")  # fmt: skip
    people = {p["id"]: p for p in state["people"]}
    assert people[5]["joints"] is None and not people[5]["visible"] and people[1]["trail"] is False
    state = browser.execute_script("viewer.setGrid(false); viewer.setFrustum(false); viewer.follow(1); viewer.seek(30); "
                                   "return viewer.state()")  # fmt: skip
    assert (state["grid"], state["frustum"], state["following"]) == (False, False, 1)
    assert state["camera"]["target"] == pytest.approx(result.tracks[0].world[30, 0].tolist(), abs=1e-3)
    picked = browser.execute_script("viewer.pick({id: 1, joint: 13}); return document.getElementById('info-pick').textContent")
    x, y, z = np.round(result.tracks[0].world[30, 13], 3)
    assert picked == f"id 1 · left_wrist: x {x:.3f}, y {y:.3f}, z {z:.3f} m"
    state = browser.execute_script("viewer.resetView(); viewer.setVisible(5, true); viewer.setGrid(true); "
                                   "viewer.setFrustum(true); return viewer.state()")  # fmt: skip
    assert state["following"] is None
    assert state["camera"]["position"] == pytest.approx(viewer_data("w", result, None)["view"]["eye"])


def test_screenshot_is_not_blank(browser, clip, tmp_path: Path) -> None:
    page, _ = clip
    open_page(browser, page)
    wait_for(browser, "document.getElementById('video').readyState >= 2")
    browser.execute_script("viewer.seek(15); viewer.pick({id: 2, joint: 16});")
    wait_for(browser, "!document.getElementById('video').seeking")
    assert browser.execute_script("return document.getElementById('info-pick').textContent").startswith("id 2 · right_wrist: x ")
    time.sleep(0.3)
    shot = tmp_path / "viewer.png"
    browser.save_screenshot(str(shot))
    image = cv2.imread(str(shot))
    rect = browser.execute_script(
        "const r = document.getElementById('scene').getBoundingClientRect(); return [r.left, r.top, r.width, r.height];"
    )
    x, y, w, h = (round(v) for v in rect)
    canvas = image[y : y + h, x : x + w].astype(np.float64)
    assert canvas.size and canvas.std() > 10, "the 3D canvas is blank"
    # Each person's colour (track 1: the palette's orange) is in the picture.
    for track_id in (1, 2, 5):
        colour = Palette(RenderConfig()).colours(track_id).base
        assert (np.abs(canvas - colour).sum(axis=2) < 60).sum() > 30, track_id
    print(f"\nscreenshot: {shot}")
    if os.environ.get("UPDATE_DOCS") == "1":
        shutil.copy(shot, REPO / "docs" / "viewer.png")


def test_without_video_a_timeline_plays_and_a_missing_video_falls_back(browser, tmp_path: Path) -> None:
    result = demo_result(30)
    open_page(browser, write_viewer(tmp_path, "novideo", result, video_file=None))
    state = browser.execute_script("viewer.setSpeed(4); viewer.play(); return viewer.state();")
    assert state["mode"] == "timeline"
    state = wait_for(browser, "!viewer.state().playing && viewer.state()", timeout=10)
    assert state["frame"] == 29 and state["slider"] == 29
    assert browser.execute_script("return document.getElementById('video-pane').classList.contains('none')")
    open_page(browser, write_viewer(tmp_path, "lost", result, video_file="lost_pose.mp4"))
    message = wait_for(browser, "viewer.state().mode === 'timeline' && document.getElementById('video-missing').textContent")
    assert "lost_pose.mp4 could not be loaded" in message
    browser.get_log("browser")  # the missing file's load error is expected here


def test_empty_clip_odd_names_and_the_downsampled_note(browser, tmp_path: Path) -> None:
    empty = make_result(20, [])
    open_page(browser, write_viewer(tmp_path, "empty", empty, video_file=None))
    message = browser.execute_script("const e = document.getElementById('empty'); return !e.hidden && e.textContent")
    assert message.startswith("Nobody was detected")
    assert browser.execute_script("return viewer.state().skeletons") == 0
    assert severe_console(browser) == []

    name = 'a <b> & "c" #1 %20 ü'
    folder = tmp_path / name
    folder.mkdir()
    result = demo_result(20)
    write_clip_video(folder / f"{name}_pose.mp4", result)
    open_page(browser, write_viewer(folder, name, result, video_file=f"{name}_pose.mp4"))
    assert browser.title == f"{name} · 3D viewer"
    assert browser.execute_script("return document.getElementById('title').textContent") == name
    wait_for(browser, "document.getElementById('video').readyState >= 2")  # the escaped URL resolves
    assert severe_console(browser) == []

    long = demo_result(60, jitter_m=0.002)
    budget = sum(p.nbytes for p in pack_tracks(long.tracks)[0]) // 4
    open_page(browser, write_viewer(tmp_path, "long", long, video_file=None, budget=budget))
    state = browser.execute_script("return viewer.seek(7), viewer.state();")
    assert state["stride"] >= 4 and "every" in browser.execute_script("return document.getElementById('notes').textContent")
    expected = expected_joints(long.tracks[0], 7, state["stride"])
    np.testing.assert_allclose(state["people"][0]["joints"], expected, atol=1e-5)


def test_folder_index_lists_every_clip_and_its_links_resolve(browser, clip, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page, _ = clip
    root = page.parent.parent
    (root / "broken").mkdir(exist_ok=True)
    entries = [
        GalleryEntry.for_clip(root, page.parent, "walk", duration_s=6.0, people=3),
        GalleryEntry("broken", None, status="failed", message="error: no frames <in> video"),
    ]
    assert entries[0].viewer == "walk/walk_viewer.html" and entries[0].video == "walk/walk_pose.mp4"
    index = write_index(root, entries)
    browser.get_log("browser")
    browser.get(index.as_uri())
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert [c.find_element(By.TAG_NAME, "h2").text for c in cards] == ["walk", "broken"]
    assert "0:06 · 3 people" in cards[0].text and "no frames <in> video" in cards[1].text
    links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    assert len(links) == 1
    for link in links:
        assert Path(unquote(urlparse(link).path)).is_file()
    browser.find_element(By.TAG_NAME, "a").click()
    wait_for(browser, "window.viewer && window.viewer.isReady")
    assert browser.title == "walk · 3D viewer"
    assert severe_console(browser) == []


def test_page_has_no_outside_reference(clip) -> None:
    page, _ = clip
    text = page.read_text()
    assert re.findall(r"""(?:src|href)\s*=\s*["']?https?:""", text) == []
    assert "three.js r187" in text and "Copyright 2010-2026 Three.js Authors" in text


# ---- pages written by the app itself ----------------------------------------------------------


def test_the_app_writes_a_viewer_per_clip_and_a_gallery(browser, short_clips: Path, confident_yolo: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """A folder run with fixture-size models: every clip's page shows its pose3d.npz, and
    OUT/index.html links every clip."""
    from selenium.webdriver.common.by import By

    from demo.cli import main

    from .test_app import model_args

    out = tmp_path / "out"
    assert main(["--folder", str(short_clips), *model_args(confident_yolo, out), "--min-track-frames", "3"]) == 0
    browser.get((out / "index.html").resolve().as_uri())
    cards = browser.find_elements(By.CSS_SELECTOR, "article.card")
    assert sorted(c.find_element(By.TAG_NAME, "h2").text for c in cards) == ["walk_a", "walk_b"]
    for link in [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]:
        assert Path(unquote(urlparse(link).path)).is_file()
    result = Pose3DResult.load(out / "walk_a")
    ids = np.array([t.track_id for t in result.tracks])
    world = [result.dense(i, "world") for i in ids.tolist()]
    state = [result.dense(i, "state") for i in ids.tolist()]
    open_page(browser, out / "walk_a" / "walk_a_viewer.html")
    shown = wait_for(browser, "document.getElementById('video').readyState >= 2 && viewer.state()")
    assert shown["mode"] == "video" and [p["id"] for p in shown["people"]] == ids.tolist()
    for k in (0, 11, 23):
        seen = browser.execute_script(f"viewer.seek({k}); return viewer.state();")
        for person, track_world, track_state in zip(seen["people"], world, state):
            if track_state[k]:
                np.testing.assert_allclose(person["joints"], track_world[k], atol=0.0005 + 1e-6)
    assert severe_console(browser) == []
