"""Benchmark sets of synthetic scenes with ground truth, and the studio's demo recording.

``make_bench(out, n)`` writes ``scene_000.wav`` + ``scene_000.json`` … and ``index.json``. Scenes cycle
through categories (two single stationary, one of each moving label, two two-source scenes), then the
three recording kinds, then dry / reverberant rooms (RT60 0.2–0.5 s): 48 scenes cover every
combination once. Deterministic for a seed.

Ground truth (``format: spa2v.scene``): kind, rt60_s, hrir, sample_rate, duration_s, audio, category,
sources with type, motion, side (of the mean azimuth), side_start, side_end, azimuth_start_deg,
azimuth_end_deg, distance_start_m, distance_end_m.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.audio.model import Motion
from engine.errors import InputError
from engine.fileio import atomic_write_text
from engine.scenes.hrir import default_hrirs
from engine.scenes.render import KINDS, SceneSpec, SourceSpec, render_scene
from engine.scenes.signals import SOURCE_TYPES

SCENE_FORMAT = "spa2v.scene"
CATEGORY_CYCLE = (
    ("single_stationary", Motion.STATIONARY),
    ("single_moving", Motion.MOVING_LEFT),
    ("single_stationary", Motion.STATIONARY),
    ("single_moving", Motion.MOVING_RIGHT),
    ("two_sources", None),
    ("single_moving", Motion.APPROACHING),
    ("two_sources", None),
    ("single_moving", Motion.RECEDING),
)


def _stationary_azimuth(rng: np.random.Generator) -> float:
    # Clear of the ±15° side boundaries: well to one side, or straight ahead.
    if rng.random() < 0.2:
        return float(rng.uniform(-4, 4))
    return float(rng.choice([-1, 1]) * rng.uniform(30, 80))


def _single(motion: Motion, rng: np.random.Generator, seed: int) -> SourceSpec:
    kind = str(rng.choice(SOURCE_TYPES))
    if motion is Motion.STATIONARY:
        az = _stationary_azimuth(rng)
        d = float(rng.uniform(1.5, 4.0))
        return SourceSpec(kind, az, az, d, d, motion, seed=seed)
    if motion in (Motion.MOVING_LEFT, Motion.MOVING_RIGHT):
        start = float(rng.uniform(-75, -45))
        end = float(start + rng.uniform(60, 130))
        end = min(end, 80.0)
        if motion is Motion.MOVING_LEFT:
            start, end = -start, -end
        d = float(rng.uniform(2.0, 4.0))
        return SourceSpec(kind, start, end, d, d, motion, seed=seed)
    az = _stationary_azimuth(rng)
    az_end = float(np.clip(az + rng.uniform(-5, 5), -85, 85))
    far, near = float(rng.uniform(10, 16)), float(rng.uniform(1.5, 2.5))
    if motion is Motion.APPROACHING:
        return SourceSpec(kind, az, az_end, far, near, motion, seed=seed)
    return SourceSpec(kind, az, az_end, near, far, motion, seed=seed)


def _pair(rng: np.random.Generator, seed: int) -> list[SourceSpec]:
    types = rng.choice(SOURCE_TYPES, size=2, replace=False)
    left = float(rng.uniform(-80, -30))
    right = float(rng.uniform(max(30.0, left + 60.0), 80))
    d1, d2 = rng.uniform(1.5, 3.5, size=2)
    return [
        SourceSpec(str(types[0]), left, left, float(d1), float(d1), Motion.STATIONARY, seed=seed),
        SourceSpec(str(types[1]), right, right, float(d2), float(d2), Motion.STATIONARY, seed=seed + 1),
    ]


def scene_spec(index: int, seed: int) -> tuple[SceneSpec, str]:
    """The ``index``-th scene of a set: its spec and category."""
    rng = np.random.default_rng([seed, index])
    # Every kind and room gets every category: categories vary fastest, then kinds, then rooms.
    cycle = len(CATEGORY_CYCLE)
    category, motion = CATEGORY_CYCLE[index % cycle]
    kind = KINDS[(index // cycle) % len(KINDS)]
    reverberant = (index // (cycle * len(KINDS))) % 2 == 1
    rt60 = float(rng.uniform(0.2, 0.5)) if reverberant else 0.0
    src_seed = int(rng.integers(0, 2**31))
    sources = _pair(rng, src_seed) if motion is None else [_single(motion, rng, src_seed)]
    duration = float(rng.uniform(4.0, 8.0))
    return SceneSpec(kind=kind, duration_s=duration, rt60_s=rt60, sources=sources, seed=src_seed), category


def write_scene(spec: SceneSpec, category: str, audio_path: Path, hrir_name: str) -> dict:
    """Render ``spec`` into ``audio_path`` (WAV or FLAC by suffix) and its ground truth beside it."""
    hrirs = default_hrirs(spec.rate) if spec.kind == "binaural" else None
    audio, rate = render_scene(spec, hrirs)
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(audio_path, audio, rate, subtype="PCM_16" if audio_path.suffix == ".wav" else "PCM_24")
    truth = {
        "format": SCENE_FORMAT,
        "version": 1,
        "kind": spec.kind,
        "rt60_s": round(spec.rt60_s, 3),
        "hrir": (hrirs.name if hrirs is not None else None) if spec.kind == "binaural" else None,
        "spacing_m": spec.spacing_m if spec.kind == "spaced" else None,
        "sample_rate": rate,
        "duration_s": round(spec.duration_s, 3),
        "audio": audio_path.name,
        "category": category,
        "sources": [s.truth(i) for i, s in enumerate(spec.sources)],
    }
    atomic_write_text(audio_path.with_suffix(".json"), json.dumps(truth, indent=1))
    return truth


def make_bench(out_dir: str | Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` scenes with ground truth into ``out_dir``; returns the ground-truth JSON paths."""
    if n < 1:
        raise InputError(f"the number of scenes must be at least 1, got {n}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    paths, index = [], []
    for i in range(n):
        spec, category = scene_spec(i, seed)
        truth = write_scene(spec, category, out / f"scene_{i:03d}.wav", "")
        paths.append(out / f"scene_{i:03d}.json")
        index.append({"scene": f"scene_{i:03d}", "kind": truth["kind"], "category": category,
                      "rt60_s": truth["rt60_s"]})
    atomic_write_text(out / "index.json", json.dumps({"format": "spa2v.bench", "version": 1, "seed": seed,
                                                       "scenes": index}, indent=1))
    return paths


def demo_spec() -> SceneSpec:
    """The demo: a car passing left to right in front of a dummy head while someone talks on the left."""
    return SceneSpec(
        kind="binaural",
        duration_s=8.0,
        rt60_s=0.0,
        seed=7,
        sources=[
            SourceSpec("engine", -70.0, 65.0, 3.5, 3.5, Motion.MOVING_RIGHT, gain_db=0.0, seed=11),
            SourceSpec("speech", -45.0, -45.0, 2.0, 2.0, Motion.STATIONARY, gain_db=0.0, seed=5),
        ],
    )


def make_demo(out_path: str | Path) -> dict:
    """Write the demo recording (FLAC) and its ground truth JSON beside it."""
    return write_scene(demo_spec(), "demo", Path(out_path), "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the studio's demo recording.")
    parser.add_argument("--demo", required=True, help="output FLAC path")
    args = parser.parse_args(argv)
    make_demo(args.demo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
