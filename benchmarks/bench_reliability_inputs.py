"""Run the generated bad-input corpus through the command line and count what happened to each input.

    python benchmarks/bench_reliability_inputs.py [--skip-slow] [--out docs/BENCHMARKS.md] [--no-write]

Every case of tests/hardening/corpus.py (audio files for ``analyze``, layouts for ``render --generator
animatic``, projects for the loader ``open`` uses) is written to a temporary folder and read the way a user's
command reads it, in this process. Each is counted as a **clear error** (exit code 2, one line on stderr naming
the file and the problem, nothing written), a **repair** (exit code 0 and the repair said: mono, extra
channels, odd rates, a file cut short, a moved recording, a pasted API key), **accepted** (a valid input at a
limit: one hour of sound) or a **failure**: anything else — a traceback, exit code 1, a second line, a message
that does not name the file or the problem, an output written from bad input. The section
"## Reliability: bad inputs" of docs/BENCHMARKS.md is replaced with the counts, the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_hear import machine_description, update_benchmarks_md  # noqa: E402
from tests.hardening.corpus import CASES, Case, problems, run_case, write_corpus  # noqa: E402

KIND_NAMES = {"audio": "audio (`analyze`)", "vsl": "layouts (`render`)", "project": "projects (loader of `open`)"}
HEADING = "## Reliability: bad inputs"


def verdict(case: Case, found: list[str]) -> str:
    """``clear error``, ``repair``, ``accepted`` or ``failure`` for a case and its problems."""
    if found:
        return "failure"
    return {"error": "clear error", "repaired": "repair", "accepted": "accepted"}[case.outcome]


def run_corpus(folder: Path, include_slow: bool) -> list[dict]:
    """Write and run every case; one row per case: name, kind, verdict, problems, seconds."""
    paths = write_corpus(folder / "corpus", include_slow=include_slow)
    rows = []
    for case in CASES:
        if case.name not in paths:
            continue
        run = run_case(case, paths[case.name], folder / "out")
        found = problems(case, paths[case.name], run)
        rows.append({"name": case.name, "kind": case.kind, "verdict": verdict(case, found), "problems": found,
                     "seconds": run.seconds})
        mark = "ok  " if not found else "FAIL"
        print(f"{mark} {case.name:<30} {verdict(case, found):<12} {run.seconds:6.2f} s", flush=True)
        for problem in found:
            print(f"       {problem}", flush=True)
    return rows


def section(rows: list[dict], command: str, seconds: float) -> str:
    """The Markdown section for docs/BENCHMARKS.md."""
    columns = ("clear error", "repair", "accepted", "failure")
    lines = [
        HEADING,
        "",
        f"Measured {date.today().isoformat()} on {machine_description()}, by `{command}` ({seconds:.0f} s).",
        "",
        "The generated corpus of `tests/hardening/corpus.py` (no binary kept in the repository), each input read",
        "the way a user's command reads it. A *clear error* is exit code 2 with one line on stderr that names the",
        "file and the problem, and nothing written; a *repair* is exit code 0 with the repair said (mono, extra",
        "channels, odd rates, a WAV cut short, a moved recording, a pasted API key dropped); *accepted* is a valid",
        "input at a limit (one hour of sound, streamed; an unknown project field nested 900 deep); a *failure* is",
        "anything else (traceback, exit code 1, a second line, a message that does not name the file or the",
        "problem, output written from bad input).",
        "",
        "| inputs | tried | clear errors | repairs | accepted | failures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("audio", "vsl", "project", None):
        chosen = [row for row in rows if kind is None or row["kind"] == kind]
        counts = Counter(row["verdict"] for row in chosen)
        name = KIND_NAMES[kind] if kind else "**all**"
        lines.append(f"| {name} | {len(chosen)} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    failures = [row for row in rows if row["verdict"] == "failure"]
    lines.append("")
    if failures:
        lines.append("Failures:")
        lines += [f"- `{row['name']}`: {'; '.join(row['problems'])}" for row in failures]
    else:
        lines.append("Failures: none.")
    hour = next((row for row in rows if row["name"] == "flac_one_hour"), None)
    if hour is not None:
        lines += ["", f"The one-hour recording (16-bit 8 kHz FLAC, 4 MB) is analysed in {hour['seconds']:.1f} s "
                  "(streamed and resampled to 48 kHz in 20 s blocks); every other input takes "
                  f"{max(row['seconds'] for row in rows if row is not hour):.2f} s at most."]
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-slow", action="store_true", help="leave out the one-hour recording")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spa2v-reliability-") as tmp:
        # Decoded copies of video files and anything else the commands cache stay in the temporary folder.
        os.environ["SPA2V_CACHE_DIR"] = str(Path(tmp) / "cache")
        rows = run_corpus(Path(tmp), include_slow=not args.skip_slow)
    command = "python benchmarks/bench_reliability_inputs.py" + (" --skip-slow" if args.skip_slow else "")
    text = section(rows, command, time.perf_counter() - start)
    print(text)
    if not args.no_write:
        update_benchmarks_md(Path(args.out), text)
    return 1 if any(row["verdict"] == "failure" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
