"""Smoothing on synthetic human motion: position and acceleration error of each setting.

A Human3.6M skeleton (adult bone lengths, about 1.7 m tall) is driven by smooth joint-angle
curves through one 20 s clip: walking across the view (legs and arms swinging at the
0.9 Hz stride, 1.8 Hz steps, the pelvis bobbing, 0.9 m/s), turning to the camera and
waving (forearm at 2 Hz), then boxing: straight punches whose elbow opens in 0.12 s (the
fastest motion, where a filter's lag or overshoot shows). The segments blend over 0.5 s.
Camera space is the lifter's (metres, x right, y down, z forward), the person 6 m away;
the pinhole camera (1920x1080, focal 1500 px) projects it to 2D.

Gaussian noise is added, independently per frame and coordinate: 2D 2 px and 5 px (and
2 px with 1 % of the joints thrown 40 px off: detector glitches); 3D root-relative poses
10 mm and 20 mm; the root trajectory 20 mm. Each setting smooths the noisy series with
:func:`demo.motion.smoothing.smooth_series`; reported against the clean motion:

- MPJPE: mean distance per joint and frame (px for 2D, mm for 3D);
- accel: mean norm of the acceleration error, second differences, per frame² (px/frame²
  or mm/frame²) — the jitter a viewer sees;
- clean box / peak: the filter run on the clean motion (no noise): its mean error over the
  boxing segment and its largest joint error anywhere — what the filter itself does to fast
  motion (lag, overshoot, rounding off); the root stands still while boxing, so it has a
  peak only.

    python bench/bench_smoothing.py [--fps 30 [25 60]] [--seeds 3] [--presets-only] [--json]

The tables are means over ``--seeds`` noise draws; ``--fps 25`` and ``--fps 60`` check that
the presets, defined in seconds and Hz, mean the same at other frame rates.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.motion.camera import PinholeCamera
from demo.motion.smoothing import PRESETS, SmoothingConfig, smooth_series

CAMERA = PinholeCamera(focal_px=1500.0, width=1920, height=1080)
DURATION = 20.0
DEPTH = 6.0  # metres from the camera
WALK_END, WAVE_END = 8.0, 13.0  # seconds; boxing after WAVE_END
BOX_START = WAVE_END + 0.5  # the lag column's segment: after the blend


# --- synthetic motion --------------------------------------------------------------------


def _rot_x(a: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations about x by ``a`` radians (body frame: x left, y up, z forward)."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("tij,tj->ti", r, np.broadcast_to(v, (len(r), 3)))


def _blend(t: np.ndarray, at: float, width: float = 0.5) -> np.ndarray:
    """0 before ``at``, 1 after ``at + width``, a smoothstep between."""
    u = np.clip((t - at) / width, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _punch(t: np.ndarray, period: float = 0.8, extend: float = 0.12, retract: float = 0.3) -> np.ndarray:
    """0..1 arm extension: opens in ``extend`` s (smoothstep), closes in ``retract`` s, rests."""
    ph = np.mod(t, period)
    up = np.clip(ph / extend, 0, 1)
    down = np.clip((ph - extend) / retract, 0, 1)
    return up * up * (3 - 2 * up) * (1 - down * down * (3 - 2 * down))


def synthetic_motion(fps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(poses, root)``: ``(T, 17, 3)`` root-relative and ``(T, 3)`` pelvis, camera space, m."""
    t = np.arange(round(DURATION * fps)) / fps
    walk = 1 - _blend(t, WALK_END)
    wave = _blend(t, WALK_END) * (1 - _blend(t, WAVE_END))
    box = _blend(t, WAVE_END)
    stride = 2 * np.pi * 0.9 * t
    zero = np.zeros_like(t)

    # Joint angles (radians). Flexion is a rotation about the body's x axis (forward swing).
    hip_r = walk * 0.45 * np.sin(stride) + box * 0.15
    hip_l = walk * 0.45 * np.sin(stride + np.pi) - box * 0.15
    knee_r = walk * 0.55 * np.maximum(0, np.sin(stride - 1.2)) ** 1.5 + box * 0.25
    knee_l = walk * 0.55 * np.maximum(0, np.sin(stride + np.pi - 1.2)) ** 1.5 + box * 0.25
    jab_l, jab_r = _punch(t - WAVE_END), _punch(t - WAVE_END - 0.4)
    sh_flex_l = -walk * 0.35 * np.sin(stride) + box * (0.9 + 0.65 * jab_l)
    sh_flex_r = -walk * 0.35 * np.sin(stride + np.pi) + box * (0.9 + 0.65 * jab_r)
    sh_abd_r = wave * 2.6  # arm raised sideways to wave
    el_l = walk * 0.3 + box * 2.0 * (1 - jab_l)
    el_r = walk * (0.3 + 0.1 * np.sin(stride)) + wave * (1.0 + 0.5 * np.sin(2 * np.pi * 2.0 * (t - WALK_END))) + box * 2.0 * (1 - jab_r)
    lean = walk * 0.08 + box * 0.12
    # Facing: walking across the view (side on), then facing the camera (body +z = camera -z).
    yaw = walk * (np.pi / 2) + (1 - walk) * np.pi + box * 0.2 * np.sin(2 * np.pi * 0.7 * t)

    def chain(base: np.ndarray, rots: list[np.ndarray], bones: list[tuple[float, float, float]]) -> list[np.ndarray]:
        pts, r = [], np.broadcast_to(np.eye(3), (len(t), 3, 3))
        p = base
        for rot, bone in zip(rots, bones):
            r = r @ rot
            p = p + _apply(r, np.array(bone))
            pts.append(p)
        return pts

    pelvis = np.zeros((len(t), 3))
    trunk = _rot_x(lean)
    j = {0: pelvis}
    for side, (sx, hip, knee) in {"r": (-1, hip_r, knee_r), "l": (1, hip_l, knee_l)}.items():
        h, k, a = chain(pelvis, [_rot_x(zero), _rot_x(-hip), _rot_x(knee)], [(sx * 0.13, 0, 0), (0, -0.44, 0), (0, -0.43, 0)])
        j.update({1: h, 2: k, 3: a} if side == "r" else {4: h, 5: k, 6: a})
    spine, thorax, neck, head = chain(pelvis, [trunk, _rot_x(zero), _rot_x(zero), _rot_x(zero)], [(0, 0.23, 0), (0, 0.25, 0), (0, 0.12, 0.04), (0, 0.11, -0.02)])
    j.update({7: spine, 8: thorax, 9: neck, 10: head})
    for side, (sx, flex, abd, elbow) in {"l": (1, sh_flex_l, zero, el_l), "r": (-1, sh_flex_r, sh_abd_r, el_r)}.items():
        rots = [trunk, _rot_x(-flex) @ _rot_z(sx * abd), _rot_x(-elbow)]
        s, e, w = chain(thorax, rots, [(sx * 0.17, -0.02, 0), (0, -0.29, 0), (0, -0.26, 0)])
        j.update({11: s, 12: e, 13: w} if side == "l" else {14: s, 15: e, 16: w})
    body = np.stack([j[i] for i in range(17)], axis=1)  # (T, 17, 3), body frame, y up

    # Body frame -> world (y up) by yaw; world -> camera space (y down, z forward, 6 m away).
    world = np.einsum("tij,tkj->tki", _rot_y(yaw), body)
    walk_x = (np.clip(t, 0, WALK_END) - WALK_END / 2) * 0.9
    root_world = np.stack([walk_x, 0.93 + walk * 0.025 * np.cos(2 * stride), zero], axis=-1)
    to_cam = np.array([1.0, -1.0, -1.0])
    poses = world * to_cam
    root = root_world * to_cam + np.array([0.0, 1.2, DEPTH])  # the camera 1.2 m above the floor
    return poses, root


# --- measurement -------------------------------------------------------------------------


def mpjpe(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(pred - ref, axis=-1).mean())


def _accel(x: np.ndarray) -> np.ndarray:
    """Second differences in time, units per frame²."""
    return x[2:] - 2 * x[1:-1] + x[:-2]


def accel_error(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(_accel(pred) - _accel(ref), axis=-1).mean())


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str
    scale: float  # to the reported unit (1000 for metres -> mm)
    make: Callable[[float], tuple[np.ndarray, np.ndarray]]  # fps -> (clean series, box mask)
    noise: float  # sigma, series units
    spikes: float = 0.0  # fraction of joint-frames thrown off
    spike_size: float = 0.0

    @property
    def clean_name(self) -> str:
        return "clean " + self.name.split()[0]


def _series_2d(fps: float) -> tuple[np.ndarray, np.ndarray]:
    poses, root = synthetic_motion(fps)
    return CAMERA.project(poses + root[:, None]), _box_mask(len(poses), fps)


def _series_3d(fps: float) -> tuple[np.ndarray, np.ndarray]:
    poses, _ = synthetic_motion(fps)
    return poses, _box_mask(len(poses), fps)


def _series_root(fps: float) -> tuple[np.ndarray, np.ndarray]:
    _, root = synthetic_motion(fps)
    return root, np.zeros(len(root), bool)  # the pelvis stands still while boxing: no "box" column


def _box_mask(n: int, fps: float) -> np.ndarray:
    return np.arange(n) / fps >= BOX_START


SCENARIOS = (
    Scenario("2D 2 px", "px", 1.0, _series_2d, 2.0),
    Scenario("2D 5 px", "px", 1.0, _series_2d, 5.0),
    Scenario("2D 2 px + 1% spikes", "px", 1.0, _series_2d, 2.0, spikes=0.01, spike_size=40.0),
    Scenario("3D 10 mm", "mm", 1000.0, _series_3d, 0.010),
    Scenario("3D 20 mm", "mm", 1000.0, _series_3d, 0.020),
    Scenario("root 20 mm", "mm", 1000.0, _series_root, 0.020),
)

#: The presets, then the alternatives considered. One-Euro's beta is per unit of speed: given
#: here per metre, it is divided by the person's scale in the image (PX_PER_M) for pixels.
CANDIDATES: dict[str, SmoothingConfig] = {
    **{f"preset {name}": config for name, config in PRESETS.items()},
    "savgol 0.2 s, deg 2": SmoothingConfig("savgol", window_s=0.2, polyorder=2),
    "savgol 0.3 s, deg 2": SmoothingConfig("savgol", window_s=0.3, polyorder=2),
    "savgol 0.4 s, deg 2": SmoothingConfig("savgol", window_s=0.4, polyorder=2),
    "savgol 0.7 s, deg 2": SmoothingConfig("savgol", window_s=0.7, polyorder=2),
    "savgol 0.5 s, deg 4": SmoothingConfig("savgol", window_s=0.5, polyorder=4),
    "savgol 0.5 s, deg 3": SmoothingConfig("savgol", window_s=0.5, polyorder=3),
    "savgol 0.9 s, deg 4": SmoothingConfig("savgol", window_s=0.9, polyorder=4),
    "one-euro 1 Hz, beta 0.7/m": SmoothingConfig("one_euro", min_cutoff=1.0, beta=0.7, d_cutoff=1.0),
    "one-euro 2 Hz, beta 0.7/m": SmoothingConfig("one_euro", min_cutoff=2.0, beta=0.7, d_cutoff=1.0),
    "one-euro 1 Hz, beta 0.7/m, zero-phase": SmoothingConfig("one_euro", min_cutoff=1.0, beta=0.7, zero_phase=True),
    "one-euro 2 Hz, beta 0.7/m, zero-phase": SmoothingConfig("one_euro", min_cutoff=2.0, beta=0.7, zero_phase=True),
    "one-euro 3 Hz, beta 0.7/m, zero-phase": SmoothingConfig("one_euro", min_cutoff=3.0, beta=0.7, zero_phase=True),
}
PX_PER_M = CAMERA.focal_px / DEPTH  # the person's scale in the image: One-Euro's beta in 1/px = beta in 1/m / PX_PER_M


def _for_units(config: SmoothingConfig, unit: str) -> SmoothingConfig:
    if config.method == "one_euro" and unit == "px":
        return replace(config, beta=config.beta / PX_PER_M)
    return config


def run(fps: float, seeds: int, candidates: dict[str, SmoothingConfig]) -> dict[str, dict[str, dict[str, float]]]:
    """``{scenario: {setting: {"mpjpe", "accel"}}}`` in the scenario's unit, plus for each
    kind of series (``"clean 2D"``, ``"clean 3D"``, ``"clean root"``) the filter's own error
    on the noise-free motion: ``"box"`` (mean over the boxing segment) and ``"peak"`` (the
    largest joint error anywhere in the clip)."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for sc in SCENARIOS:
        clean, box = sc.make(fps)
        present = np.ones(len(clean), bool)
        rows: dict[str, dict[str, float]] = {}
        clean_rows: dict[str, dict[str, float]] = {}
        for name, config in candidates.items():
            config = _for_units(config, sc.unit)
            m = a = 0.0
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                noisy = clean + rng.normal(0.0, sc.noise, clean.shape)
                if sc.spikes:
                    hit = rng.random(clean.shape[:-1]) < sc.spikes
                    direction = rng.normal(size=clean.shape)
                    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
                    noisy = noisy + hit[..., None] * sc.spike_size * direction
                out, _ = smooth_series(noisy, present, fps, config)
                m += mpjpe(out, clean) / seeds
                a += accel_error(out, clean) / seeds
            rows[name] = {"mpjpe": m * sc.scale, "accel": a * sc.scale}
            biased, _ = smooth_series(clean, present, fps, config)
            err = np.linalg.norm(biased - clean, axis=-1) * sc.scale
            clean_rows[name] = {"box": float(err[box].mean()) if box.any() else None, "peak": float(err.max())}
        results[sc.name] = rows
        results.setdefault(sc.clean_name, clean_rows)
    return results


def markdown(results: dict[str, dict[str, dict[str, float]]], fps: float) -> str:
    names = list(next(iter(results.values())))
    clean = [c for c in dict.fromkeys(sc.clean_name for sc in SCENARIOS)]
    units = {sc.clean_name: sc.unit for sc in SCENARIOS}
    head = (
        "| setting | "
        + " | ".join(f"{sc.name} ({sc.unit})" for sc in SCENARIOS)
        + " | "
        + " | ".join(f"{c}: box / peak ({units[c]})" for c in clean)
        + " |"
    )
    lines = [f"fps {fps:g}; noisy columns: MPJPE / accel; clean columns: the filter's own error on noise-free motion", "", head]
    lines.append("|---" * (1 + len(SCENARIOS) + len(clean)) + "|")
    for name in names:
        cells = [f"{results[sc.name][name]['mpjpe']:.2f} / {results[sc.name][name]['accel']:.2f}" for sc in SCENARIOS]
        cells += [_box_peak(results[c][name]) for c in clean]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _box_peak(row: dict[str, float | None]) -> str:
    return ("–" if row["box"] is None else f"{row['box']:.2f}") + f" / {row['peak']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, nargs="+", default=[30.0], help="frame rates to run (30; try 25 60)")
    parser.add_argument("--seeds", type=int, default=3, help="noise draws averaged per cell (3)")
    parser.add_argument("--presets-only", action="store_true", help="only none / light / strong")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown tables")
    args = parser.parse_args(argv)
    candidates = {k: v for k, v in CANDIDATES.items() if k.startswith("preset ") or not args.presets_only}
    start = time.perf_counter()
    all_results = {f"{fps:g}": run(fps, args.seeds, candidates) for fps in args.fps}
    if args.json:
        print(json.dumps({"fps": all_results, "seconds": round(time.perf_counter() - start, 2)}, indent=1))
    else:
        for fps, results in all_results.items():
            print(markdown(results, float(fps)), end="\n\n")
        print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
