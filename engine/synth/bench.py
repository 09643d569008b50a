"""Benchmark scenes with ground truth, and the studio's demo recording.

``make_bench(out, n)`` writes ``scene_000.wav`` + ``scene_000.json`` (the true sources) + ``scene_000.vsl.json``
(the true layout, through the planner's camera) … and ``index.json``. Scene ``i`` depends only
on ``(seed, i)``, never on ``n``, so a longer bench extends a shorter one. The cycle is balanced: scene ``i`` has
category ``i % 3`` (single stationary, single moving, two sources), recording kind ``(i // 3) % 3`` and room
``(i // 9) % 2`` (dry, reverberant), so every 18 scenes hold each kind × room × category once; single-moving
scenes cycle moving_left, moving_right, approaching, receding.

Positions are kept clear of the side boundaries (±15°) so that the ground truth is unambiguous: stationary and
approaching/receding sources sit at |azimuth| ≥ 30° or within ±5° of straight ahead.

Run ``python -m engine.synth.bench --out DIR --n N`` (or ``--demo PATH.flac``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.errors import InputError
from engine.fileio import atomic_write_text
from engine.layout.model import keyframe_times
from engine.planner.camera import Camera
from engine.synth.scenes import (
    KINDS,
    SceneSpec,
    SourceSpec,
    azimuth_track_deg,
    distance_track_m,
    motion_label,
    render_scene,
    scene_hrirs,
    source_truth,
)
from engine.synth.signals import NATURAL_TYPES

CATEGORIES = ("single_stationary", "single_moving", "two_sources")
MOVING_MOTIONS = ("moving_left", "moving_right", "approaching", "receding")
FORMAT = "spa2v.scene"
VERSION = 1
_AUDIO_FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16")}


def _clear_azimuth_deg(rng: np.random.Generator, margin_deg: float = 0.0) -> float:
    """An azimuth well inside one side: centre (±(5 - margin)) a third of the time, else 30..80° left or right."""
    if rng.random() < 1 / 3:
        return float(rng.uniform(-5 + margin_deg, 5 - margin_deg))
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(30 + margin_deg, 80 - margin_deg))


def _moving_source(motion: str, rng: np.random.Generator, source_type: str, seed: int) -> SourceSpec:
    if motion in ("moving_left", "moving_right"):
        sweep_deg = rng.uniform(60, 130)
        start = rng.uniform(-80, 80 - sweep_deg)
        azimuths = (start, start + sweep_deg) if motion == "moving_right" else (start + sweep_deg, start)
        distance_m = rng.uniform(2.0, 5.0)
        distances = (distance_m, distance_m * rng.uniform(0.9, 1.1))
    else:
        middle = _clear_azimuth_deg(rng, margin_deg=3.0)  # room for a ±3° drift that stays off the boundary
        drift = rng.uniform(-3, 3)
        azimuths = (middle - drift, middle + drift)
        far_m = rng.uniform(10.0, 16.0)
        near_m = far_m / rng.uniform(4.5, 6.5)
        distances = (far_m, near_m) if motion == "approaching" else (near_m, far_m)
    return SourceSpec(
        type=source_type,
        azimuth_start_deg=round(float(azimuths[0]), 2),
        azimuth_end_deg=round(float(azimuths[1]), 2),
        distance_start_m=round(float(distances[0]), 2),
        distance_end_m=round(float(distances[1]), 2),
        seed=seed,
    )


def bench_scene(
    index: int,
    seed: int = 0,
    duration_range_s: tuple[float, float] = (4.0, 8.0),
    max_rt60_s: float = 0.5,
    hrir_path: str | None = None,
) -> tuple[SceneSpec, str]:
    """The spec and category of bench scene ``index`` (see the module docstring for the balanced cycle)."""
    category = CATEGORIES[index % 3]
    kind = KINDS[(index // 3) % 3]
    reverberant = (index // 9) % 2 == 1
    rng = np.random.default_rng([seed, index])
    duration_s = round(float(rng.uniform(*duration_range_s)), 2)
    rt60_s = round(float(rng.uniform(0.15, max_rt60_s)), 3) if reverberant and max_rt60_s > 0 else 0.0
    types = [str(t) for t in rng.choice(NATURAL_TYPES, size=2, replace=False)]
    source_seeds = [int(s) for s in rng.integers(0, 2**31, size=2)]
    if category == "single_stationary":
        sources = [
            SourceSpec(
                types[0],
                round(_clear_azimuth_deg(rng), 2),
                distance_start_m=round(rng.uniform(1.5, 4.0), 2),
                seed=source_seeds[0],
            )
        ]
    elif category == "single_moving":
        motion = MOVING_MOTIONS[(index // 3) % len(MOVING_MOTIONS)]
        sources = [_moving_source(motion, rng, types[0], source_seeds[0])]
    else:
        while True:  # rejection keeps both positions clear of the boundaries and ≥ 60° apart
            first, second = _clear_azimuth_deg(rng), _clear_azimuth_deg(rng)
            if abs(first - second) >= 60:
                break
        sources = [
            SourceSpec(
                types[k],
                round(az, 2),
                distance_start_m=round(rng.uniform(1.5, 4.0), 2),
                seed=source_seeds[k],
                gain_db=round(float(rng.uniform(-3, 3)), 2),
            )
            for k, az in enumerate((first, second))
        ]
    spec = SceneSpec(
        kind=kind,
        duration_s=duration_s,
        sources=sources,
        rt60_s=rt60_s,
        seed=int(rng.integers(0, 2**31)),
        hrir_path=hrir_path,
    )
    return spec, category


def ground_truth(spec: SceneSpec, category: str, audio_name: str, hrir_name: str | None) -> dict:
    """The ground-truth document of a rendered scene (``format: spa2v.scene``)."""
    critical_m = spec.critical_distance_m()
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": spec.kind,
        "rt60_s": spec.rt60_s,
        "hrir": hrir_name,
        "sample_rate": spec.sample_rate,
        "duration_s": spec.duration_s,
        "audio": audio_name,
        "category": category,
        "mic_spacing_m": spec.mic_spacing_m if spec.kind == "spaced" else None,
        "room_volume_m3": spec.room_volume_m3 if critical_m is not None else None,
        "critical_distance_m": None if critical_m is None else round(critical_m, 3),
        "seed": spec.seed,
        "sources": [source_truth(src, spec.duration_s, i) for i, src in enumerate(spec.sources)],
    }


#: What each synthetic source type is, as an object to draw (the ground-truth layouts' labels).
TYPE_LABELS = {
    "speech": "person",
    "engine": "car",
    "piano": "piano",
    "violin": "violin",
    "siren": "ambulance",
    "percussion": "drum",
}


_MOTION_PHRASES = {
    "stationary": "stays in place",
    "moving_left": "moves to the left",
    "moving_right": "moves to the right",
    "approaching": "comes closer",
    "receding": "moves away",
}


def truth_layout(spec: SceneSpec, n_keyframes: int = 5, camera: Camera | None = None) -> dict:
    """The ground-truth VSL of a scene (SPEC.md's JSON): each source's true path through the planner's camera.

    Every source sounds for the whole scene, so every object is in every keyframe. The same camera
    model as the offline planner's turns azimuth and distance into boxes, so a planner that hears
    perfectly reproduces these boxes up to the distance it has to guess from level.
    """
    camera = camera or Camera()
    times = np.asarray(keyframe_times(spec.duration_s, n_keyframes))
    keyframes = []
    tracks = [
        (TYPE_LABELS.get(src.type, src.type), azimuth_track_deg(src, times, spec.duration_s),
         distance_track_m(src, times, spec.duration_s))
        for src in spec.sources
    ]
    for k, t in enumerate(times):
        objects = [
            {"id": i, "name": name, "box": list(camera.box(float(az[k]), float(dist[k]), name))}
            for i, (name, az, dist) in enumerate(tracks)
        ]
        caption = "; ".join(f"the {name} at {az[k]:+.0f}°, {dist[k]:.1f} m" for name, az, dist in tracks)
        keyframes.append({"time_s": round(float(t), 3), "caption": f"At {t:.1f} s: {caption}.", "objects": objects})
    summary = []
    for src, (name, _az, _dist) in zip(spec.sources, tracks, strict=True):
        motion = motion_label(src) or "moving"
        summary.append(f"the {name} ({src.type}) is {motion.replace('_', ' ')} from {src.azimuth_start_deg:+.0f}° "
                       f"{src.distance_start_m:.1f} m to {src.azimuth_end_deg:+.0f}° {src.distance_end_m:.1f} m")
    return {
        "format": "spa2v.vsl",
        "version": 1,
        "canvas": {"width": int(camera.width), "height": int(camera.height)},
        "duration_s": round(float(spec.duration_s), 3),
        "reasoning": "Ground truth of a synthetic scene: " + "; ".join(summary) + ".",
        "video_caption": " ".join(f"A {name} {_MOTION_PHRASES.get(motion_label(src) or '', 'moves')}."
                                  for src, (name, _a, _d) in zip(spec.sources, tracks, strict=True)),
        "keyframes": keyframes,
    }


def write_scene(spec: SceneSpec, category: str, audio_path: str | Path) -> dict:
    """Render ``spec``, write the audio (``.wav`` PCM_16 or ``.flac``) and its ground truth beside it (``.json``).

    Returns the ground-truth dict. A source whose path fits no motion label is refused, since its truth would
    be ambiguous.
    """
    audio_path = Path(audio_path)
    suffix = audio_path.suffix.lower().lstrip(".")
    if suffix not in _AUDIO_FORMATS:
        raise InputError(f"{audio_path}: audio must be .wav or .flac")
    for i, src in enumerate(spec.sources):
        if motion_label(src) is None:
            raise InputError(f"source {i}: its path fits no motion label; see engine.synth.scenes.motion_label")
    hrirs = scene_hrirs(spec) if spec.kind == "binaural" else None
    audio, rate = render_scene(spec, hrirs)
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    file_format, subtype = _AUDIO_FORMATS[suffix]
    # Write beside and rename, so a reader never sees half a file.
    partial = audio_path.with_name(f".{audio_path.name}.partial")
    sf.write(partial, audio, rate, format=file_format, subtype=subtype)
    partial.replace(audio_path)
    truth = ground_truth(spec, category, audio_path.name, hrirs.name if hrirs is not None else None)
    atomic_write_text(audio_path.with_suffix(".json"), json.dumps(truth, indent=1) + "\n")
    layout = {**truth_layout(spec), "audio": audio_path.name}  # the recording it belongs to, beside it
    atomic_write_text(audio_path.with_suffix(".vsl.json"), json.dumps(layout, indent=1) + "\n")
    return truth


def make_bench(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    duration_range_s: tuple[float, float] = (4.0, 8.0),
    max_rt60_s: float = 0.5,
    audio_format: str = "wav",
    hrir_path: str | None = None,
) -> list[Path]:
    """Write ``n`` scenes (audio + ground-truth JSON) and ``index.json`` into ``out_dir``.

    Returns the ground-truth JSON paths in scene order. Same arguments give byte-identical files.
    """
    if int(n) < 1:
        raise InputError(f"the number of scenes is {n}; expected at least 1")
    low, high = duration_range_s
    if not 0.5 <= low <= high <= 600:
        raise InputError(f"duration_range_s is {duration_range_s}; expected 0.5 <= low <= high <= 600 seconds")
    if not 0 <= max_rt60_s <= 5:
        raise InputError(f"max_rt60_s is {max_rt60_s}; expected seconds in [0, 5]")
    if audio_format not in _AUDIO_FORMATS:
        raise InputError(f"audio_format is {audio_format!r}; expected 'wav' or 'flac'")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    paths: list[Path] = []
    entries: list[dict] = []
    for i in range(int(n)):
        spec, category = bench_scene(i, seed, duration_range_s, max_rt60_s, hrir_path)
        name = f"scene_{i:03d}"
        truth = write_scene(spec, category, out / f"{name}.{audio_format}")
        paths.append(out / f"{name}.json")
        entries.append(
            {
                "name": name,
                "audio": truth["audio"],
                "truth": f"{name}.json",
                "kind": truth["kind"],
                "rt60_s": truth["rt60_s"],
                "category": category,
                "motions": [s["motion"] for s in truth["sources"]],
            }
        )
    index = {"format": "spa2v.bench", "version": VERSION, "seed": seed, "count": len(entries), "scenes": entries}
    atomic_write_text(out / "index.json", json.dumps(index, indent=1) + "\n")
    return paths


def demo_spec(hrir_path: str | None = None) -> SceneSpec:
    """The demo: a car driving by left to right on a street 7 m ahead, a violin playing on the right (3 m).

    The car follows a straight line (azimuth -75° → +75°, 27 m → 7 m → 27 m, about 23 km/h), so its pitch
    falls as it passes and its azimuth sweeps fastest in front of the listener.
    """
    return SceneSpec(
        kind="binaural",
        duration_s=8.0,
        rt60_s=0.0,
        seed=2024,
        hrir_path=hrir_path,
        sources=[
            SourceSpec("engine", -75.0, 75.0, 27.05, 27.05, seed=11, gain_db=14.0, path="line"),
            SourceSpec("violin", 50.0, distance_start_m=3.0, seed=5),
        ],
    )


def make_demo(out_path: str | Path, hrir_path: str | None = None) -> dict:
    """Write the demo recording (FLAC, 48 kHz binaural, 8 s) to ``out_path`` and its ground truth as ``.json``
    beside it; returns the ground truth."""
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".flac":
        raise InputError(f"{out_path}: the demo recording is written as FLAC; use a .flac path")
    return write_scene(demo_spec(hrir_path), "demo", out_path)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.synth.bench --out DIR [--n N] [--seed S]`` or ``--demo PATH.flac``."""
    parser = argparse.ArgumentParser(prog="python -m engine.synth.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="bench folder")
    parser.add_argument("--n", type=int, default=18, help="number of scenes (default 18: one full cycle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=sorted(_AUDIO_FORMATS), default="wav")
    parser.add_argument("--demo", help="write the demo recording (FLAC) here instead")
    args = parser.parse_args(argv)
    try:
        if args.demo:
            truth = make_demo(args.demo)
            print(f"demo written to {args.demo} (HRIR: {truth['hrir']})")
        elif args.out:
            paths = make_bench(args.out, args.n, seed=args.seed, audio_format=args.format)
            print(f"{len(paths)} scenes with ground truth written to {args.out}")
        else:
            parser.error("give --out DIR or --demo PATH.flac")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
