"""The command line: the same engine as the studio, one sub-command per stage (SPEC.md).

Exit codes: 0 on success, 2 on bad input (one clear line on stderr), 1 on an internal error.
Qt is imported only by the commands that open a window, so `analyze` runs on a headless server.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import Cancelled, InputError
from engine.planner.camera import THIRDS_HFOV_DEG

log = logging.getLogger("spa2v.cli")

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse with SPEC.md's exit code and a one-line message for bad arguments."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _progress_printer(label: str) -> Callable[[float], None]:
    """A progress callback that redraws one line on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return lambda _fraction: None
    last = [-1]

    def show(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != last[0]:
            last[0] = percent
            end = "\n" if percent >= 100 else ""
            sys.stderr.write(f"\r{label}: {percent:3d}%{end}")
            sys.stderr.flush()

    return show


def _format_source(source) -> str:
    sweep = f"{source.azimuth_start_deg:+6.1f}° → {source.azimuth_end_deg:+6.1f}°"
    return (
        f"  source {source.id}: {source.side.value:<6} azimuth {sweep}  "
        f"{source.motion.value:<12} level {source.level_change_db:+5.1f} dB  "
        f"confidence {source.confidence:.2f}"
    )


def cmd_analyze(args: argparse.Namespace) -> int:
    from engine.audio.hear import analyze

    analysis = analyze(args.audio, progress=_progress_printer("analysing"))
    frames = analysis.frames
    print(f"{args.audio}: {analysis.duration_s:.2f} s, {analysis.sample_rate} Hz, {analysis.channels} ch")
    print(
        f"  recording: {analysis.kind.value} (confidence {analysis.kind_confidence:.2f}); "
        f"{len(frames)} cue frames every {frames.hop_s * 1000:.0f} ms"
    )
    for warning in analysis.warnings:
        print(f"  note: {warning}")
    if not analysis.sources:
        print("  no sounding source found")
    for source in analysis.sources:
        print(_format_source(source))
    if args.json:
        analysis.save_json(args.json)
        print(f"analysis written to {args.json}")
    return EXIT_OK


def cmd_make_bench(args: argparse.Namespace) -> int:
    from engine.synth.bench import make_bench

    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    paths = make_bench(Path(args.out), args.n, seed=args.seed)
    print(f"{len(paths)} scenes with ground truth written to {args.out}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from engine.audio.hear import analyze
    from engine.fileio import atomic_write_text
    from engine.planner.camera import Camera
    from engine.planner.offline import parse_label_hints, plan_offline

    if args.keyframes < 1:
        raise InputError(f"--keyframes must be at least 1, got {args.keyframes}")
    hints = parse_label_hints(args.labels)
    analysis = analyze(args.audio, progress=_progress_printer("analysing"))
    layout = plan_offline(analysis, hints, n_keyframes=args.keyframes, camera=Camera(hfov_deg=args.hfov))
    atomic_write_text(args.out, json.dumps(layout, indent=1, ensure_ascii=False) + "\n")
    n_objects = len({o["id"] for kf in layout["keyframes"] for o in kf["objects"]})
    print(f"{args.audio}: {n_objects} object(s) over {len(layout['keyframes'])} keyframes")
    print(f"  {layout['video_caption']}")
    print(f"layout written to {args.out}")
    return EXIT_OK


def cmd_screenshot(args: argparse.Namespace) -> int:
    from app.studio import save_screenshot

    save_screenshot(args.out, args.file)
    print(f"screenshot written to {args.out}")
    return EXIT_OK


def cmd_open(args: argparse.Namespace) -> int:
    from app.studio import run_studio

    if not Path(args.file).exists():
        raise InputError(f"{args.file}: no such file")
    return run_studio(args.file)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spa2v",
        description="SpA2V Studio: stereo recording → spatial cues and source tracks → video scene layout.",
        epilog="Without a command the studio opens on the demo project.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("open", help="open the studio on an audio or video file")
    p.add_argument("file", help="a recording (WAV/FLAC/OGG/MP3, or MP4/MOV/MKV/WebM)")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser(
        "analyze",
        help="measure spatial cues and source tracks",
        description="Measure ILD, ITD, coherence and level over time, find each sounding source and how "
        "it moves. Prints one line per source; --json writes the analysis (SPEC.md format).",
    )
    p.add_argument("audio", help="a stereo recording, or the audio track of a video file")
    p.add_argument("--json", metavar="OUT", help="write the analysis JSON here")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser(
        "make-bench",
        help="write synthetic stereo scenes with ground truth",
        description="Binaural (measured KEMAR HRIRs), spaced-pair and pan-pot scenes with known sources and "
        "trajectories, dry and reverberant; one WAV and one ground-truth JSON per scene.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, default=30, help="number of scenes (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_make_bench)

    p = sub.add_parser(
        "plan",
        help="plan a video scene layout (keyframe boxes) from a recording",
        description="Analyse the recording and plan N keyframes of labelled boxes that put each sounding "
        "object where the ears place it (SPEC.md's VSL JSON).",
    )
    p.add_argument("audio", help="a stereo recording, or the audio track of a video file")
    p.add_argument("--out", required=True, help="the layout to write (X.vsl.json)")
    p.add_argument("--planner", choices=["offline"], default="offline",
                   help="offline: from the measured cue tracks, no network (default)")
    p.add_argument("--labels", help="object names: 'car', 'car,piano' or 'car@left,piano@right'")
    p.add_argument("--keyframes", type=int, default=5, help="number of keyframes N (default 5)")
    p.add_argument("--hfov", type=float, default=THIRDS_HFOV_DEG,
                   help=f"camera horizontal field of view in degrees (default {THIRDS_HFOV_DEG:.1f}: "
                   "the ±15° side limits fall on the thirds of the frame)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("screenshot", help="render the studio window to a PNG and exit")
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("file", nargs="?", help="a recording (default: the demo project)")
    p.set_defaults(func=cmd_screenshot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        from app.studio import run_studio

        return run_studio(None)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.error("internal error", exc_info=args.verbose)
        print(
            "internal error: this is a bug in SpA2V Studio; run again with --verbose and report the output",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def main_gui() -> int:
    """Entry point of the `spa2v-studio` launcher: the studio, optionally on a file."""
    from app.studio import run_studio

    return run_studio(sys.argv[1] if len(sys.argv) > 1 else None)


if __name__ == "__main__":
    sys.exit(main())

