"""Measure the "Check" stage: does the consistency check pass layouts that agree with the sound and flag moved ones?

    python benchmarks/bench_check.py [--n 48] [--seeds 11,12] [--out docs/BENCHMARKS.md]

For each seed a fresh make-bench set is written (all three stereo kinds, dry and reverberant, single stationary,
single moving and two-source scenes in a balanced cycle) and each recording analysed (``engine.audio.hear``).
Then per scene:

- the **untouched** ground-truth layout is checked: expected, no flag;
- a **moved** copy is checked: object 0 (the first object, always) has every box mirrored around the canvas
  centre (``x → W − x``). Where its boxes stand on average within ±:data:`MIRROR_MIN_DEG` of straight ahead, a
  mirror would move them by less than the tolerance, so they are put at the far edge instead: on the side
  opposite their mean direction, centred on the edge so that half of each box shows (how the camera draws a
  source beyond its field of view). Expected: that object flagged.

The moved copy is checked two ways: **from the file** (a fresh matching, as ``python main.py check`` does) and
**as an edit** (the matching kept from the check of the untouched layout, as the studio does while a box is
dragged). From the file, two boxes on one side and two sounds on opposite sides leave it open which box is the
wrong one, so "layout flagged" and "the moved object itself flagged" are reported apart.

Scenes where the analysis finds no source at all are counted apart. Times: one check of a layout from scratch
(matching and every keyframe), and ``Checker.box_check`` (one dragged box), median over the set. ``--compare REV[,REV]``
also times the same checks with the check code of earlier commits (each exported with ``git archive``), in child
processes pinned to one core next to one running this tree, in the same run: the ratio is the speed change.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.bench_hear import (  # noqa: E402
    export_revision,
    machine_description,
    run_pinned_child,
    update_benchmarks_md,
)
from engine.audio.model import Analysis  # noqa: E402
from engine.check.consistency import Checker, CheckReport, box_direction, camera_for  # noqa: E402
from engine.layout.model import VideoLayout  # noqa: E402

#: Objects standing on average within this many degrees of straight ahead are moved to the far edge, not mirrored.
MIRROR_MIN_DEG = 20.0
TARGET_PERCENT = 95.0
KINDS = ("binaural", "spaced", "panpot")


@dataclass
class SceneResult:
    """One scene's verdicts."""

    seed: int
    name: str
    kind: str
    room: str
    category: str
    n_true: int
    n_heard: int
    untouched: CheckReport
    moved_file: CheckReport
    moved_edit: CheckReport
    moved_id: int
    #: Heard sources that stand more than the tolerance from every true source (the analysis's ghosts).
    ghost_ids: set[int]
    check_s: float
    box_check_s: float

    @property
    def untouched_ok(self) -> bool:
        return self.untouched.ok

    @property
    def moved_flagged(self) -> bool:
        return not self.moved_file.ok

    @property
    def moved_object_flagged(self) -> bool:
        return _flagged(self.moved_file, self.moved_id)

    @property
    def moved_object_flagged_edit(self) -> bool:
        return _flagged(self.moved_edit, self.moved_id)

    @property
    def moved_box_on_a_ghost(self) -> bool:
        """Whether, checked from the file, the moved object was matched to a ghost source."""
        return any(o.source_id in self.ghost_ids for o in self.moved_file.objects if o.id == self.moved_id)


def _flagged(report: CheckReport, object_id: int) -> bool:
    return any(obj.flags for obj in report.objects if obj.id == object_id)


def ghost_sources(analysis: Analysis, truth: dict, tolerance_deg: float = 30.0) -> set[int]:
    """Heard sources whose azimuth stands, over most of their track, more than ``tolerance_deg`` from every true
    source's (true azimuths move linearly in time from start to end, as make-bench's arcs do)."""
    ghosts = set()
    duration_s = float(truth["duration_s"])
    for source in analysis.sources:
        t = np.asarray(source.track.t, dtype=float)
        heard = np.asarray(source.track.azimuth_deg, dtype=float)
        true = np.array([s["azimuth_start_deg"] + (s["azimuth_end_deg"] - s["azimuth_start_deg"]) * t / duration_s
                         for s in truth["sources"]])
        if t.size and np.nanmedian(np.min(np.abs(true - heard), axis=0)) > tolerance_deg:
            ghosts.add(source.id)
    return ghosts


def moved_copy(layout: VideoLayout) -> tuple[VideoLayout, int]:
    """The layout with object 0's boxes on the other side (see the module docstring), and that object's id."""
    camera = camera_for(layout.canvas)
    width = float(layout.canvas.width)
    object_id, appearances = next(iter(layout.objects_by_id().items()))
    mean_azimuth = statistics.fmean(box_direction(obj.box, camera).azimuth_deg for _k, obj in appearances)

    def moved(box: tuple[float, float, float, float]) -> list[float]:
        x0, y0, x1, y1 = box
        if abs(mean_azimuth) >= MIRROR_MIN_DEG:
            return [width - x1, y0, width - x0, y1]
        half = (x1 - x0) / 2.0
        return [0.0, y0, half, y1] if mean_azimuth >= 0 else [width - half, y0, width, y1]

    data = layout.to_json_dict()
    for frame in data["keyframes"]:
        for obj in frame["objects"]:
            if obj["id"] == object_id:
                obj["box"] = moved(tuple(obj["box"]))
    return VideoLayout.from_json_dict(data, source="the moved copy"), object_id


def run_seed(n: int, seed: int, folder: Path) -> tuple[list[SceneResult], list[str]]:
    """Write, analyse and check one make-bench set; returns the scenes checked and those where nothing was heard."""
    from engine.audio.hear import analyze
    from engine.layout.model import load_vsl
    from engine.synth.bench import make_bench

    make_bench(folder, n, seed=seed)
    index = json.loads((folder / "index.json").read_text())
    results, unheard = [], []
    for entry in index["scenes"]:
        analysis: Analysis = analyze(folder / entry["audio"])
        if not analysis.sources:
            unheard.append(entry["name"])
            continue
        analysis.save_json(folder / f"{entry['name']}.analysis.json")  # for the timing children (--compare)
        layout = load_vsl(folder / f"{entry['name']}.vsl.json")
        truth = json.loads((folder / entry["truth"]).read_text())
        moved, moved_id = moved_copy(layout)
        start = time.perf_counter()
        checker = Checker(analysis)
        untouched = checker.check(layout)
        check_s = time.perf_counter() - start
        moved_edit = checker.check(moved)  # the matching of the untouched layout is kept
        box = moved.keyframes[0].objects[0].box
        start = time.perf_counter()
        for _ in range(100):
            checker.box_check(moved_id, box, moved.keyframes[0].time_s)
        box_check_s = (time.perf_counter() - start) / 100
        results.append(SceneResult(
            seed=seed, name=entry["name"], kind=entry["kind"], room="reverberant" if entry["rt60_s"] > 0 else "dry",
            category=entry["category"], n_true=len(entry["motions"]), n_heard=len(analysis.sources),
            untouched=untouched, moved_file=Checker(analysis).check(moved), moved_edit=moved_edit, moved_id=moved_id,
            ghost_ids=ghost_sources(analysis, truth), check_s=check_s, box_check_s=box_check_s,
        ))
    return results, unheard


def _percent(rows: list[SceneResult], attribute: str) -> str:
    if not rows:
        return "–"
    hits = sum(bool(getattr(r, attribute)) for r in rows)
    return f"{100.0 * hits / len(rows):.1f}% ({hits}/{len(rows)})"


def _meets(rows: list[SceneResult], attribute: str) -> str:
    hits = sum(bool(getattr(r, attribute)) for r in rows)
    return "meets" if rows and 100.0 * hits / len(rows) >= TARGET_PERCENT else "**misses**"


def _why_untouched_flagged(row: SceneResult) -> str:
    flags = [f"object {o.id} '{o.name}': {o.flags[0]}" for o in row.untouched.objects if o.flags]
    heard = f"{row.n_heard} source(s) heard for {row.n_true} true"
    return f"- seed {row.seed} {row.name} ({row.kind}, {row.room}, {row.category}; {heard}): {'; '.join(flags)}"


COLUMNS = (
    ("untouched: no flag", "untouched_ok"),
    ("moved, from the file: layout flagged", "moved_flagged"),
    ("moved, from the file: that object flagged", "moved_object_flagged"),
    ("moved, as an edit: that object flagged", "moved_object_flagged_edit"),
)


_TIMING_CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from engine.audio.model import Analysis
from engine.check.consistency import Checker
from engine.layout.model import load_vsl
check_ms, box_us = [], []
for folder in sys.argv[2:]:
    for path in sorted(Path(folder).glob("*.analysis.json")):
        analysis = Analysis.load_json(path)
        layout = load_vsl(path.with_name(path.name.replace(".analysis.json", ".vsl.json")))
        start = time.perf_counter()
        checker = Checker(analysis)
        checker.check(layout)
        check_ms.append(1e3 * (time.perf_counter() - start))
        first = layout.keyframes[0]
        start = time.perf_counter()
        for _ in range(100):
            checker.box_check(first.objects[0].id, first.objects[0].box, first.time_s)
        box_us.append(1e6 * (time.perf_counter() - start) / 100)
print(json.dumps({"check_ms": statistics.median(check_ms), "box_check_us": statistics.median(box_us),
                  "layouts": len(check_ms)}))
"""


def time_checks(folders: list[Path], core: int, root: Path = ROOT) -> dict:
    """Median time of a check from scratch and of a box check over the layouts saved in ``folders``, in a child
    process pinned to ``core`` running the code of the tree at ``root``."""
    return run_pinned_child(_TIMING_CHILD, [str(root), *map(str, folders)], core)


def render(by_seed: dict[int, tuple[list[SceneResult], list[str]]], args: argparse.Namespace) -> str:
    seeds = ",".join(str(s) for s in by_seed)
    lines = [
        "## Check: consistency of layouts with the sound",
        "",
        f"Measured {date.today().isoformat()} on {machine_description()}, by "
        f"`python benchmarks/bench_check.py --n {args.n} --seeds {seeds}"
        + (f" --core {args.core} --compare {args.compare}" if args.compare else "") + "`.",
        "",
        "How to read this section:",
        "- Each make-bench scene is analysed, then its ground-truth layout is checked (**untouched**: no flag",
        "  expected) and a copy with object 0 moved to the other side (**moved**: mirrored around the canvas",
        f"  centre; objects within ±{MIRROR_MIN_DEG:.0f}° of ahead are put half out at the far edge instead).",
        "  Tolerance 30° (the default).",
        "- **From the file**: a fresh matching, as `python main.py check` runs. **As an edit**: the matching kept",
        "  from the check of the untouched layout, as the studio keeps it while a box is dragged (and, since the",
        "  project records it, when a saved project is opened again).",
        "- A flag on an untouched layout is mostly the analysis's doing: a source it did not find leaves a box",
        "  matching none, and in reverberant rooms it hears ghost sources, where a moved box may land.",
        "",
        "| seed | measure | result | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    every_row = [row for rows, _unheard in by_seed.values() for row in rows]
    groups = list(by_seed.items()) + ([(f"all {len(by_seed)}", (every_row, []))] if len(by_seed) > 1 else [])
    for seed, (rows, _unheard) in groups:
        for label, attribute in COLUMNS:
            targeted = attribute != "moved_object_flagged"
            target = f"≥ {TARGET_PERCENT:.0f}%" if targeted else ""
            status = _meets(rows, attribute) if targeted else ""
            lines.append(f"| {seed} | {label} | {_percent(rows, attribute)} | {target} | {status} |")
    for seed, (rows, unheard) in by_seed.items():
        lines += [
            "",
            f"Seed {seed}, by recording kind and room ({len(rows)} scenes checked; {len(unheard)} where the analysis",
            f"found no source at all, counted apart{': ' + ', '.join(unheard) if unheard else ''}):",
            "",
            "| kind / room | scenes | " + " | ".join(label for label, _a in COLUMNS) + " |",
            "| --- | --- | " + " | ".join("---" for _c in COLUMNS) + " |",
        ]
        groups = [(kind, [r for r in rows if r.kind == kind]) for kind in KINDS]
        groups += [(room, [r for r in rows if r.room == room]) for room in ("dry", "reverberant")]
        groups.append(("**overall**", rows))
        for name, group in groups:
            cells = " | ".join(_percent(group, attribute) for _label, attribute in COLUMNS)
            lines.append(f"| {name} | {len(group)} | {cells} |")
        untouched_flagged = [r for r in rows if not r.untouched_ok]
        missed = [r for r in untouched_flagged if r.n_heard < r.n_true]
        passed = [r for r in rows if not r.moved_flagged]
        on_ghost = sum(r.moved_box_on_a_ghost for r in passed)
        lines += [
            "",
            f"Of the {len(untouched_flagged)} untouched layouts flagged, {len(missed)} had fewer sources heard than "
            f"true (a box is left matching none). Of the {len(passed)} moved copies that passed from the file, "
            f"{on_ghost} had the moved box matched to a ghost: a source the analysis heard more than 30° from every "
            "true source.",
        ]
    flagged = [r for rows, _u in by_seed.values() for r in rows if not r.untouched_ok]
    if flagged:
        lines += ["", "Untouched layouts that were flagged, and the first flag of each flagged object:", ""]
        lines += [_why_untouched_flagged(r) for r in flagged]
    all_rows = [r for rows, _u in by_seed.values() for r in rows]
    if all_rows:
        check_ms = [1000.0 * r.check_s for r in all_rows]
        box_check_us = statistics.median(1e6 * r.box_check_s for r in all_rows)
        lines += [
            "",
            "Time: checking a layout from scratch (matching and every keyframe) took "
            f"{statistics.median(check_ms):.1f} ms (median; at most {max(check_ms):.1f} ms) over {len(all_rows)} "
            f"layouts; `Checker.box_check` on a dragged box {box_check_us:.0f} µs (median). Target for the live "
            "check while dragging: under 5 ms.",
        ]
    timing = getattr(args, "timing", None)
    if timing and timing["compare"]:
        now = timing["now"]
        lines += ["", f"Speed against earlier commits, in the same run (one core, {now['layouts']} layouts, median):",
                  "", "| code | check from scratch | ratio | box check | ratio |", "| --- | --- | --- | --- | --- |",
                  f"| this tree | {now['check_ms']:.2f} ms | 1.00 | {now['box_check_us']:.1f} µs | 1.00 |"]
        for rev, then in timing["compare"].items():
            lines.append(f"| commit {rev} | {then['check_ms']:.2f} ms | {then['check_ms'] / now['check_ms']:.2f} | "
                         f"{then['box_check_us']:.1f} µs | {then['box_check_us'] / now['box_check_us']:.2f} |")
        lines += ["", "A ratio above 1 means the earlier commit took longer."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="scenes per seed (default 48)")
    parser.add_argument("--seeds", default="11,12", help="make-bench seeds, comma-separated (default 11,12)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--compare", default="", help="comma-separated earlier commits to time the checks with")
    parser.add_argument("--core", type=int, default=0, help="the core the timing children run on (default 0)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    by_seed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            start = time.perf_counter()
            by_seed[seed] = run_seed(args.n, seed, Path(tmp) / f"seed_{seed}")
            seconds = time.perf_counter() - start
            print(f"seed {seed}: {len(by_seed[seed][0])} scenes in {seconds:.1f} s", file=sys.stderr)
        revs = [r.strip() for r in args.compare.split(",") if r.strip()]
        if revs:
            folders = [Path(tmp) / f"seed_{seed}" for seed in seeds]
            args.timing = {"now": time_checks(folders, args.core),
                           "compare": {rev: time_checks(folders, args.core, export_revision(rev, Path(tmp) / rev))
                                       for rev in revs}}
        report = render(by_seed, args)
    print(report)
    update_benchmarks_md(Path(args.out), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
