"""Measure the "Hear" stage: cue and source quality on synthetic scenes, speed and memory on long files.

    python benchmarks/bench_hear.py [--n 90] [--long-minutes 60] [--other-seeds 99,7] [--out docs/BENCHMARKS.md]

Quality: a fresh make-bench set (binaural with measured KEMAR HRIRs, spaced pairs, pan-pot mixes; dry
and reverberant up to RT60 0.5 s) is analysed and scored against its ground truth:
side of single stationary sources, motion of single sources over the five labels, and source count
plus both sides for two-source scenes. ``--other-seeds`` scores further sets of the same size the same
way and lists them beside the main one: how far the figures move from one set of scenes to the next.

Speed and memory: a long 48 kHz stereo file is analysed in a child process pinned to one core with one
BLAS/FFT thread; the figure is the real-time factor (audio seconds per analysis second), reported
beside the time to merely read the same file in the same run (the I/O baseline). Peak memory is the
child's maximum resident set size. ``--compare REV[,REV]`` also analyses the same file with the analysis of
earlier commits (each exported with ``git archive`` into a scratch folder), in the same run on the same core,
so a performance change is reported against its baseline measured alongside it.

The results replace the "Hear" section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The four targets' figures, in the order the tables list them.
HEADLINE_KEYS = ("side_stationary", "motion_single", "count_pairs", "count_and_sides_pairs")

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def machine_description() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"


# ---------------------------------------------------------------------------------------- quality


def score_quality(n: int, seed: int, workdir: Path) -> dict:
    """Write and score one set. ``rows``: the analysis as it runs (kind detected); ``rows_kind_set``: the same
    scenes with the recording kind set to the true one, as a user sets it by hand (``--kind``)."""
    from engine.audio.hear import AnalysisSettings, analyze
    from engine.audio.model import RecordingKind
    from engine.synth.bench import make_bench

    t0 = time.perf_counter()
    make_bench(workdir, n, seed=seed)
    gen_s = time.perf_counter() - t0
    scenes = sorted(workdir.glob("scene_*[0-9].json"))
    rows, rows_kind_set = [], []
    analyse_s = audio_s = 0.0
    for scene_path in scenes:
        truth = json.loads(scene_path.read_text())
        t0 = time.perf_counter()
        analysis = analyze(workdir / truth["audio"])
        analyse_s += time.perf_counter() - t0
        audio_s += analysis.duration_s
        rows.append(_score_scene(truth, analysis))
        kind_set = AnalysisSettings(kind=RecordingKind(truth["kind"]))
        rows_kind_set.append(_score_scene(truth, analyze(workdir / truth["audio"], kind_set)))
    return {"rows": rows, "rows_kind_set": rows_kind_set, "generate_s": gen_s, "analyse_s": analyse_s,
            "audio_s": audio_s}


def _score_scene(truth: dict, analysis) -> dict:
    gt_sources = truth["sources"]
    predicted = sorted(analysis.sources, key=lambda s: -s.confidence)
    row = {
        "scene": Path(truth["audio"]).stem,
        "kind": truth["kind"],
        "reverb": "reverberant" if truth.get("rt60_s", 0) > 0 else "dry",
        "category": truth["category"],
        "kind_heard": analysis.kind.value,
        "n_true": len(gt_sources),
        "n_pred": len(predicted),
        "pred": [(s.side.value, s.motion.value, round(s.azimuth_start_deg), round(s.azimuth_end_deg))
                 for s in predicted],
        "true": [(s["side"], s["motion"], round(s["azimuth_start_deg"]), round(s["azimuth_end_deg"]))
                 for s in gt_sources],
    }
    if len(gt_sources) == 1:
        gt = gt_sources[0]
        top = predicted[0] if predicted else None
        row["side_ok"] = top is not None and top.side.value == gt["side"]
        row["motion_ok"] = top is not None and top.motion.value == gt["motion"]
    else:
        row["count_ok"] = len(predicted) == len(gt_sources)
        row["sides_ok"] = row["count_ok"] and Counter(s.side.value for s in predicted) == Counter(
            s["side"] for s in gt_sources
        )
    return row


def _pct(items: list[dict], key: str) -> float:
    return 100.0 * sum(bool(r[key]) for r in items) / len(items) if items else float("nan")


def _headline(rows: list[dict]) -> dict:
    """The four targets' figures for scored scenes: (percent, scenes counted) each."""
    stationary = [r for r in rows if r["category"] == "single_stationary"]
    singles = [r for r in rows if r["n_true"] == 1]
    pairs = [r for r in rows if r["n_true"] == 2]
    return {
        "side_stationary": (_pct(stationary, "side_ok"), len(stationary)),
        "motion_single": (_pct(singles, "motion_ok"), len(singles)),
        "count_pairs": (_pct(pairs, "count_ok"), len(pairs)),
        "count_and_sides_pairs": (_pct(pairs, "sides_ok"), len(pairs)),
    }


def summarise_quality(result: dict) -> dict:
    rows = result["rows"]
    singles = [r for r in rows if r["n_true"] == 1]
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[(r["kind"], r["reverb"])].append(r)
    motion_confusion = Counter((r["true"][0][1], r["pred"][0][1] if r["pred"] else "none") for r in singles)
    return {
        **_headline(rows),
        "kind_set": _headline(result["rows_kind_set"]),
        "by_kind": {
            f"{kind} / {reverb}": {
                "scenes": len(items),
                "side": _pct([r for r in items if r["category"] == "single_stationary"], "side_ok"),
                "motion": _pct([r for r in items if r["n_true"] == 1], "motion_ok"),
                "pairs": _pct([r for r in items if r["n_true"] == 2], "sides_ok"),
                "kind": 100.0 * sum(r["kind_heard"] == kind for r in items) / len(items),
            }
            for (kind, reverb), items in sorted(by_kind.items())
        },
        "motion_confusion": motion_confusion,
        "kind_right": (sum(r["kind_heard"] == r["kind"] for r in rows), len(rows)),
        "failures": [r for r in rows if not (r.get("side_ok", True) and r.get("motion_ok", True)
                                             and r.get("sides_ok", True))],
    }


# ---------------------------------------------------------------------------------- speed / memory

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from engine.audio.io import open_audio
from engine.audio.hear import analyze
path, mode = sys.argv[2], sys.argv[3]
source = open_audio(path)
t0 = time.perf_counter()
if mode == "read":
    for _ in source.blocks(48000 * 30):
        pass
    n_sources = 0
else:
    n_sources = len(analyze(source).sources)
elapsed = time.perf_counter() - t0
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mib": peak_mib, "audio_s": source.duration_s,
                  "sources": n_sources}))
"""


def export_revision(rev: str, folder: Path) -> Path:
    """The project's tree at commit ``rev``, written into ``folder`` (``git archive``); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def write_long_file(path: Path, minutes: float, seed: int) -> None:
    """A long 48 kHz stereo recording: synthetic scenes joined end to end, written block by block."""
    import numpy as np
    import soundfile as sf

    from engine.synth.bench import make_bench

    with tempfile.TemporaryDirectory() as tmp:
        make_bench(Path(tmp), 6, seed=seed)
        clips = [sf.read(p, dtype="float32", always_2d=True)[0] for p in sorted(Path(tmp).glob("scene_*.wav"))]
    target = int(minutes * 60 * 48000)
    written = 0
    with sf.SoundFile(path, "w", samplerate=48000, channels=2, subtype="PCM_16") as out:
        i = 0
        while written < target:
            clip = clips[i % len(clips)][: target - written]
            out.write(np.clip(clip, -1, 1))
            written += clip.shape[0]
            i += 1


def run_pinned_child(code: str, args: list[str], core: int) -> dict:
    """Run ``code`` with ``args`` in a child Python pinned to ``core`` with one BLAS/OpenMP thread; returns the JSON
    object it prints last."""
    cmd = [sys.executable, "-c", code, *args]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", str(core), *cmd]
    out = subprocess.run(cmd, env=dict(os.environ, **SINGLE_THREAD_ENV), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_child(path: Path, mode: str, core: int = 0, root: Path = ROOT) -> dict:
    """Read or analyse ``path`` in a child process pinned to ``core``, with the code of the tree at ``root``."""
    return run_pinned_child(_CHILD, [str(root), str(path), mode], core)


# ------------------------------------------------------------------------------------------ report


def render_report(summary: dict, quality: dict, speed: dict | None, args) -> str:
    def status(value, target):
        return "meets" if value >= target else "**misses**"

    s_side, n_side = summary["side_stationary"]
    s_motion, n_motion = summary["motion_single"]
    s_count, n_pairs = summary["count_pairs"]
    s_both, _ = summary["count_and_sides_pairs"]
    lines = [
        "## Hear: spatial cues and source tracks",
        "",
        f"Measured {date.today().isoformat()} on {machine_description()}, by "
        f"`python benchmarks/bench_hear.py --n {args.n} --seed {args.seed} --long-minutes {args.long_minutes:g} "
        f"--core {args.core}" + (f" --other-seeds {args.other_seeds}" if args.other_seeds else "")
        + (f" --compare {args.compare}" if args.compare else "") + "`.",
        "",
        "How to read this section:",
        "- The scenes come from `engine.synth` (the `make-bench` generator), written separately from the",
        "  analysis: measured KEMAR HRIRs, spaced omni pairs 40 cm apart and pan-pot mixes; rooms with",
        "  Sabine's critical distance (500 m³, RT60 0.15–0.5 s), early reflections and a decorrelated tail.",
        "- Scoring uses the analysis' most confident source for single-source scenes; a two-source scene",
        "  counts only when exactly two sources come out, on the right sides.",
        "- The speed runs are child processes pinned to one core (`taskset`), with one BLAS/OpenMP thread.",
        "  The baseline in the same run is a plain block read of the same file, so the ratio says how much",
        "  the analysis adds to just getting the samples off disk.",
        "",
        f"### Quality on a fresh make-bench set ({len(quality['rows'])} scenes, seed {args.seed})",
        "",
        "| measure | result | target | |",
        "| --- | --- | --- | --- |",
        f"| side of single stationary sources | {s_side:.1f}% of {n_side} | ≥ 95% | {status(s_side, 95)} |",
        f"| motion of single sources (5 labels) | {s_motion:.1f}% of {n_motion} | ≥ 90% | "
        f"{status(s_motion, 90)} |",
        f"| source count, two sources ≥ 60° apart | {s_count:.1f}% of {n_pairs} | | |",
        f"| count and both sides right, two sources | {s_both:.1f}% of {n_pairs} | ≥ 85% | "
        f"{status(s_both, 85)} |",
        "",
        "By recording kind and room (percent correct: side of stationary singles, motion of singles, "
        "two-source count and sides, and the recording kind detected as what it is):",
        "",
        "| kind / room | scenes | side | motion | two sources | kind detected |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    def cell(value: float) -> str:
        return "–" if value != value else f"{value:.0f}%"

    for name, row in summary["by_kind"].items():
        lines.append(
            f"| {name} | {row['scenes']} | {cell(row['side'])} | {cell(row['motion'])} | {cell(row['pairs'])} | "
            f"{cell(row['kind'])} |"
        )
    lines += ["", "Motion confusion for single sources (true → predicted: count):", ""]
    for (truth, pred), count in sorted(summary["motion_confusion"].items()):
        mark = "" if truth == pred else " ✗"
        lines.append(f"- {truth} → {pred}: {count}{mark}")
    others = getattr(args, "other_results", None) or {}
    if others:
        lines += ["", "The same measures on further sets of the same size (other seeds):", "",
                  "| seed | side, stationary singles | motion, singles | count, two sources | count and sides |",
                  "| --- | --- | --- | --- | --- |"]
        every = [summary, *others.values()]

        def cells(figures: list[float]) -> str:
            return " | ".join(f"{value:.1f}%" for value in figures)

        def means(pick) -> list[float]:
            return [sum(pick(o)[key][0] for o in every) / len(every) for key in HEADLINE_KEYS]

        for seed, other in [(args.seed, summary), *others.items()]:
            lines.append(f"| {seed} | {cells([other[key][0] for key in HEADLINE_KEYS])} |")
        lines.append(f"| mean of {len(every)} | {cells(means(lambda o: o))} |")

        def met(key: str, target: float) -> int:
            return sum(o[key][0] >= target for o in every)

        lines += ["", f"Sets meeting each target: side ≥ 95% {met('side_stationary', 95)} of {len(every)}, "
                  f"motion ≥ 90% {met('motion_single', 90)} of {len(every)}, count and sides ≥ 85% "
                  f"{met('count_and_sides_pairs', 85)} of {len(every)}. With {n_side} stationary singles and "
                  f"{n_pairs} pairs per set, one scene moves a figure by {100 / max(n_side, 1):.1f} points."]
        right, total = (sum(o["kind_right"][i] for o in every) for i in (0, 1))
        lines += ["", f"Recording kind detected as what it is: {right} of {total} recordings over the {len(every)} "
                  "sets (the rest can be set by hand: `--kind`, Analysis → Recording kind).",
                  "", "What setting the kind by hand gives: the same sets analysed with each recording's true "
                  "kind set (as `--kind` sets it), mean of the sets:", "",
                  "| kind | side, stationary singles | motion, singles | count, two sources | count and sides |",
                  "| --- | --- | --- | --- | --- |"]
        lines.append(f"| detected | {cells(means(lambda o: o))} |")
        lines.append(f"| set by hand | {cells(means(lambda o: o['kind_set']))} |")
    rtf = quality["audio_s"] / max(quality["analyse_s"], 1e-9)
    lines += [
        "",
        f"Analysing the {quality['audio_s']:.0f} s of the set took {quality['analyse_s']:.1f} s "
        f"({rtf:.0f}× real time, all cores, short files).",
    ]
    if speed:
        a, r = speed["analyse"], speed["read"]
        rtf_one = a["audio_s"] / a["seconds"]
        lines += [
            "",
            f"### Speed and memory on a {speed['minutes']:.0f}-minute 48 kHz stereo file (one core)",
            "",
            "| run | seconds | × real time | ratio to the read baseline | peak memory |",
            "| --- | --- | --- | --- | --- |",
            f"| baseline: read the file in blocks | {r['seconds']:.1f} | {r['audio_s'] / r['seconds']:.0f}× | "
            f"1.00 | {r['peak_mib']:.0f} MiB |",
            f"| analysis (cues, kind, sources) | {a['seconds']:.1f} | {rtf_one:.0f}× | "
            f"{a['seconds'] / r['seconds']:.2f} | {a['peak_mib']:.0f} MiB |",
        ]
        for rev, b in speed.get("compare", {}).items():
            lines.append(f"| the same analysis at commit {rev} | {b['seconds']:.1f} | "
                         f"{b['audio_s'] / b['seconds']:.0f}× | {b['seconds'] / r['seconds']:.2f} | "
                         f"{b['peak_mib']:.0f} MiB |")
        if speed.get("compare"):
            lines += ["", "Against the earlier commits in the same run, the analysis now takes "
                      + ", ".join(f"{a['seconds'] / b['seconds']:.2f}× the time of {rev}"
                                  for rev, b in speed["compare"].items()) + "."]
        lines += [
            "",
            f"Targets: ≥ 200× real time on one core ({status(rtf_one, 200)}); peak memory for 60 minutes "
            f"under 1.5 GB ({'meets' if a['peak_mib'] < 1430 else '**misses**'}).",
        ]
    return "\n".join(lines) + "\n"


def update_benchmarks_md(path: Path, section: str) -> None:
    header = "# Benchmarks\n\nMeasured figures, each with its machine and date. Scripts live in `benchmarks/`.\n\n"
    text = path.read_text() if path.exists() else header
    heading = section.splitlines()[0]  # each script owns the section under its own "## " heading
    pattern = re.compile(re.escape(heading) + r"\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip("\n") + "\n", text) if pattern.search(text) else text + "\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=90, help="scenes in the quality set")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--long-minutes", type=float, default=60.0, help="0 skips speed/memory")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--failures", action="store_true", help="print every failed scene")
    parser.add_argument("--core", type=int, default=0, help="CPU core the speed runs are pinned to")
    parser.add_argument("--other-seeds", default="", help="comma-separated seeds of further sets to score")
    parser.add_argument("--compare", default="", help="comma-separated earlier commits to time on the long file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        quality = score_quality(args.n, args.seed, Path(tmp) / "bench")
        summary = summarise_quality(quality)
        args.other_results = {}
        for seed in [int(s) for s in args.other_seeds.split(",") if s.strip()]:
            args.other_results[seed] = summarise_quality(score_quality(args.n, seed, Path(tmp) / f"bench_{seed}"))
        speed = None
        if args.long_minutes > 0:
            long_path = Path(tmp) / "long.wav"
            write_long_file(long_path, args.long_minutes, args.seed)
            speed = {
                "minutes": args.long_minutes,
                "read": measure_child(long_path, "read", args.core),
                "analyse": measure_child(long_path, "analyse", args.core),
                "compare": {rev: measure_child(long_path, "analyse", args.core,
                                               export_revision(rev, Path(tmp) / f"tree_{rev}"))
                            for rev in (r.strip() for r in args.compare.split(",")) if rev},
            }
    report = render_report(summary, quality, speed, args)
    print(report)
    if args.failures:
        for row in summary["failures"]:
            print(f"{row['scene']} {row['kind']}/{row['reverb']} {row['category']}: "
                  f"true {row['true']} pred {row['pred']}")
    update_benchmarks_md(Path(args.out), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
