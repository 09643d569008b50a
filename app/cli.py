"""The command line: the same engine as the studio, one sub-command per stage (SPEC.md).

Exit codes: 0 on success, 2 on bad input (one clear line on stderr), 1 on an internal error.
Qt is imported only by the commands that open a window, so `analyze` runs on a headless server.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Cancelled, InputError
from engine.planner.camera import THIRDS_HFOV_DEG

log = logging.getLogger("spa2v.cli")

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

#: What the boxes of ``check --audition`` sound like (engine.audition.spatial.SIGNALS; the engine is imported
#: only when a command runs).
AUDITION_SIGNALS = ("separated", "test")
#: The files ``check --audition`` writes (engine.audition.spatial.write_audition), checked before any work.
AUDITION_SUFFIXES = (".wav", ".flac")


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
        f"{source.motion.value:<12} level {source.level_change_db:+5.1f} dB  nearer {source.nearness_db:+5.1f} dB  "
        f"confidence {source.confidence:.2f}"
    )


RECORDING_KINDS = ("auto", "binaural", "spaced", "panpot")


def _add_hearing_options(p: argparse.ArgumentParser) -> None:
    """The options that say how a recording was made, for the commands that analyse one."""
    p.add_argument("--kind", choices=RECORDING_KINDS, default="auto",
                   help="how the recording was made: binaural (a dummy head or in-ear microphones), spaced (two "
                   "microphones apart), panpot (a studio mix panned by level); auto detects it (default)")
    p.add_argument("--spacing", type=float, metavar="CM",
                   help="spaced pairs: the distance between the microphones in cm (default 40; 1 to 500)")


def _analysis_settings(args: argparse.Namespace):
    """The :class:`~engine.audio.hear.AnalysisSettings` of ``--kind`` and ``--spacing``."""
    from engine.audio.hear import AnalysisSettings
    from engine.audio.model import DEFAULT_SPACING_M, SPACING_RANGE_M, RecordingKind

    spacing_cm = 100 * DEFAULT_SPACING_M if args.spacing is None else args.spacing
    low, high = (100 * m for m in SPACING_RANGE_M)
    if not low <= spacing_cm <= high:  # NaN fails too
        raise InputError(f"--spacing {spacing_cm:g}: give the microphones' distance in cm, between {low:g} and "
                         f"{high:g}")
    kind = None if args.kind == "auto" else RecordingKind(args.kind)
    return AnalysisSettings(kind=kind, spacing_m=spacing_cm / 100.0)


def cmd_analyze(args: argparse.Namespace) -> int:
    from engine.audio.hear import analyze

    analysis = analyze(args.audio, _analysis_settings(args), progress=_progress_printer("analysing"))
    frames = analysis.frames
    print(f"{args.audio}: {analysis.duration_s:.2f} s, {analysis.sample_rate} Hz, {analysis.channels} ch")
    how = "given with --kind" if args.kind != "auto" else f"detected, confidence {analysis.kind_confidence:.2f}"
    print(f"  recording: {analysis.kind.value} ({how}); {len(frames)} cue frames every {frames.hop_s * 1000:.0f} ms")
    for warning in analysis.warnings:
        print(f"  note: {warning}")
    if not analysis.sources:
        print("  no sounding source found")
    for source in analysis.sources:
        print(_format_source(source))
    events = _print_events(args.audio, analysis) if args.events else None
    if args.json:
        if events is None:
            analysis.save_json(args.json)
        else:
            import json

            from engine.fileio import atomic_write_text

            # An extra top-level key: Analysis.from_dict reads the rest and leaves it alone.
            document = {**analysis.to_dict(), "events": [e.to_dict() for e in events]}
            atomic_write_text(args.json, json.dumps(document, indent=1, allow_nan=False))
        print(f"analysis written to {args.json}")
    return EXIT_OK


def _print_events(audio: str, analysis):
    """Print when each source sounds (the timeline the LLM planner is given) and return the events."""
    from engine.audition.events import SEPARATED_EVENTS_MAX_S, describe_events, recording_events, source_names

    events = recording_events(audio, analysis)
    if analysis.sources:
        print(f"  when each source sounds: {describe_events(events, source_names(analysis))}")
        if analysis.duration_s > SEPARATED_EVENTS_MAX_S:
            print(f"  note: timed from the source tracks (0.25 s steps); recordings over "
                  f"{SEPARATED_EVENTS_MAX_S / 60:g} min are not separated")
    return events


def cmd_make_bench(args: argparse.Namespace) -> int:
    from engine.synth.bench import make_bench

    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    paths = make_bench(Path(args.out), args.n, seed=args.seed)
    print(f"{len(paths)} scenes with ground truth written to {args.out}")
    return EXIT_OK


def _status(line: str) -> None:
    print(line, file=sys.stderr)


def _llm_settings(args: argparse.Namespace):
    """The LLM planner's settings from the command line; the key only ever comes from the environment."""
    from engine.planner.llm import LLMSettings

    overrides = {
        "temperature": args.temperature,
        "k_examples": args.k,
        "include_cues": not args.no_cues,
        "use_cache": not args.no_cache,
    }
    if args.model:
        overrides["model"] = args.model
    if args.base_url:
        overrides["base_url"] = args.base_url
    if args.timeout is not None:
        overrides["timeout_s"] = args.timeout
    if args.provider:
        settings = LLMSettings.for_provider(args.provider, **overrides)
    else:  # OPENAI_BASE_URL / OPENAI_API_KEY decide the endpoint (SPEC.md)
        settings = LLMSettings(**overrides)
    settings.validate()
    return settings


def _audio_reference(audio: Path, out: Path) -> str:
    """How a layout names its recording: relative to the layout's folder, so a project folder can move."""
    try:
        return os.path.relpath(audio.resolve(), out.resolve().parent)
    except ValueError:  # another drive (Windows)
        return str(audio.resolve())


def _write_layout(layout_dict: dict, audio: Path, out: Path, repairs: Sequence[str] = ()) -> None:
    from engine.layout.model import VideoLayout, save_vsl

    layout = VideoLayout.from_json_dict({**layout_dict, "audio": _audio_reference(audio, out)}, source="the plan")
    save_vsl(layout, out)
    n_objects = len(layout.object_ids())
    print(f"{audio}: {n_objects} object(s) over {len(layout.keyframes)} keyframes")
    if layout.video_caption:
        print(f"  {layout.video_caption}")
    for repair in repairs:
        print(f"  repaired: {repair}")
    print(f"layout written to {out}")


def cmd_plan(args: argparse.Namespace) -> int:
    from engine.audio.hear import analyze
    from engine.planner.camera import Camera
    from engine.planner.offline import parse_label_hints, plan_offline

    if args.revise is not None:
        return _revise(args)
    if args.audio is None:
        raise InputError("plan needs a recording: plan AUDIO --out X.vsl.json (or --revise TEXT --from X.vsl.json)")
    if args.out is None:
        raise InputError("plan needs --out X.vsl.json: where to write the layout")
    if args.keyframes < 1:
        raise InputError(f"--keyframes must be at least 1, got {args.keyframes}")
    audio, out = Path(args.audio), Path(args.out)
    hints = parse_label_hints(args.labels)
    settings = _llm_settings(args) if args.planner == "llm" else None
    analysis = analyze(audio, _analysis_settings(args), progress=_progress_printer("analysing"))
    if settings is None:
        from engine.planner.sound_type import recording_frames

        if len(analysis.sources) > 1:
            _status("separating the sources to tell what each one is")
        layout = plan_offline(analysis, hints, n_keyframes=args.keyframes, camera=Camera(hfov_deg=args.hfov),
                              source_frames=recording_frames(audio, analysis))
        _write_layout(layout, audio, out)
        return EXIT_OK

    from engine.planner.examples import open_store
    from engine.planner.llm import plan_llm

    examples = []
    if settings.k_examples > 0:
        store = open_store(args.examples, embedder=_embedder(args), progress=_status)
        # The recording's own entry (a bench scene planned again) would hand the model the answer.
        examples = store.nearest(audio, k=settings.k_examples, exclude_same_audio=True)
    events = _planner_events(audio, analysis, settings)
    names = ", ".join(e.name for e in examples) or "none"
    _status(f"asking {settings.model} at {settings.resolved_base_url()} (examples: {names})")
    result = plan_llm(audio, analysis, examples, settings, n_keyframes=args.keyframes, labels=hints or None,
                      progress=_progress_printer("planning"), events=events)
    if result.from_cache:
        _status("answer taken from the cache (--no-cache asks again)")
    _write_layout(result.layout_dict, audio, out, result.repairs)
    return EXIT_OK


def _planner_events(audio: Path, analysis, settings):
    """When each source sounds, for the LLM's request; None when the measured cues are left out (--no-cues)."""
    from engine.audition.events import recording_events

    if not settings.include_cues:
        return None
    _status("finding when each source sounds")
    return recording_events(audio, analysis)


def _revise(args: argparse.Namespace) -> int:
    from engine.audio.hear import analyze
    from engine.layout.model import load_vsl
    from engine.planner.llm import revise_llm

    if args.source_layout is None:
        raise InputError("--revise needs --from X.vsl.json: the layout to change")
    if not args.revise.strip():
        raise InputError("--revise needs a change request, e.g. --revise 'make the car start further left'")
    source = Path(args.source_layout)
    current = load_vsl(source)
    audio = Path(args.audio) if args.audio else current.audio_path(source)
    if audio is None:
        raise InputError(f"{source} does not name its recording; give it: plan AUDIO --revise ... --from {source}")
    if not audio.exists():
        raise InputError(f"{audio}: the recording of {source} is not there; give it: plan AUDIO --revise ...")
    out = Path(args.out) if args.out else source.with_name(source.name.removesuffix(".vsl.json") + ".revised.vsl.json")
    settings = _llm_settings(args)
    analysis = analyze(audio, _analysis_settings(args), progress=_progress_printer("analysing"))
    events = _planner_events(audio, analysis, settings)
    _status(f"asking {settings.model} at {settings.resolved_base_url()} to revise {source}")
    result = revise_llm(current.to_json_dict(), args.revise, audio, analysis, settings,
                        labels=args.labels, progress=_progress_printer("revising"), events=events)
    _write_layout(result.layout_dict, audio, out, result.repairs)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from engine.fileio import atomic_write_text
    from engine.metrics.evaluate import evaluate_folders, table_markdown, table_text
    from engine.metrics.labels import ExactLabelSimilarity, shared_label_similarity

    label_sim = ExactLabelSimilarity() if args.exact_labels else shared_label_similarity()
    result = evaluate_folders(args.pred, args.gt, label_sim, progress=_progress_printer("scoring"))
    backend = "exact" if args.exact_labels else (label_sim.backend or "minilm")
    missing = result["missing"]
    print(f"{len(result['per_file'])} layouts scored (label match: {backend}; metrics x100, keyframe mean)")
    print(table_text(result))
    if missing["no_prediction"]:
        print(f"note: {len(missing['no_prediction'])} ground-truth file(s) have no prediction: "
              f"{', '.join(missing['no_prediction'][:5])}{' ...' if len(missing['no_prediction']) > 5 else ''}")
    if missing["no_ground_truth"]:
        print(f"note: {len(missing['no_ground_truth'])} prediction(s) have no ground truth and were skipped")
    if args.json:
        payload = {**result, "label_match": backend, "table_markdown": table_markdown(result)}
        atomic_write_text(args.json, json.dumps(payload, indent=1) + "\n")
        print(f"scores written to {args.json}")
    return EXIT_OK


@dataclass
class _CheckedWork:
    """What ``check`` checks: a layout file's layout and the recording it names, or a project's layout, recording,
    analysis settings and the box-to-source matching the studio kept (see Checker.restore)."""

    layout: Any
    audio: Path | None
    settings: Any = None  # AnalysisSettings; None: those of --kind and --spacing
    saved_matches: list[tuple[int, int, float]] = field(default_factory=list)


def _checked_work(args: argparse.Namespace, path: Path) -> _CheckedWork:
    from engine.layout.model import load_vsl
    from engine.project import load_project

    if path.suffix.lower() != ".spa2v":
        layout = load_vsl(path)
        return _CheckedWork(layout, layout.audio_path(path))
    project, _warnings = load_project(path)
    if project.layout is None:
        raise InputError(f"{path}: the project has no layout yet; plan one in the studio (or with 'plan') first")
    settings = project.analysis_settings.to_engine()
    if args.kind != "auto" or args.spacing is not None:  # what the command line says, over what the project says
        given = _analysis_settings(args)
        settings = dataclasses.replace(settings, kind=given.kind if args.kind != "auto" else settings.kind,
                                       spacing_m=given.spacing_m if args.spacing is not None else settings.spacing_m)
    return _CheckedWork(project.layout, project.audio, settings, project.edit_state.saved_matches())


def _check_sound(args: argparse.Namespace, work: _CheckedWork, path: Path):
    """The analysis to check against, and the recording it comes from (None when an analysis JSON is given):
    ``--analysis`` as it is, else ``--audio`` (default: the recording the layout or project names) analysed now."""
    from engine.audio.hear import analyze
    from engine.audio.model import Analysis

    if args.analysis and args.audio:
        raise InputError("give --audio AUDIO or --analysis A.json, not both")
    if args.analysis:
        if args.kind != "auto" or args.spacing is not None:
            raise InputError("--kind and --spacing say how to analyse the recording; an --analysis JSON is analysed "
                             "already (analyse it again with 'analyze --kind ...', or give --audio)")
        return Analysis.load_json(args.analysis), None
    audio = Path(args.audio) if args.audio else work.audio
    if audio is None:
        raise InputError(f"{path} does not name its recording; give it: check {path} --audio AUDIO "
                         "(or --analysis A.json)")
    if not audio.exists():
        raise InputError(f"{audio}: the recording is not there; give it with --audio (or --analysis A.json)")
    settings = work.settings if work.settings is not None else _analysis_settings(args)
    return analyze(audio, settings, progress=_progress_printer("analysing")), audio


def _print_check(report, heard_from: str, n_sources: int) -> None:
    """The check as a table: one row per object (id, name, matched source, verdict), a line per further flag."""
    print(f"checked against {heard_from}: {n_sources} source(s) heard, tolerance {report.tolerance_deg:g}°")
    print(f"  {'id':>3}  {'name':<16} {'source':<7} verdict")
    indent = " " * 31
    for obj in report.objects:
        source = "-" if obj.source_id is None else f"{obj.source_id}{' faint' if obj.faint_source else ''}"
        verdicts = obj.flags or ["agrees"]
        print(f"  {obj.id:>3}  {obj.name[:16]:<16} {source:<7} {verdicts[0]}")
        for flag in verdicts[1:]:
            print(f"{indent}{flag}")
    if report.offscreen_source_ids:
        print(f"  off screen (not checked): source(s) {', '.join(map(str, report.offscreen_source_ids))}")
    for source in report.unexplained_sources:
        print(f"  note: {source.note}")
    flagged = sum(1 for obj in report.objects if obj.flags)
    print("ok: every box agrees with the sound" if report.ok else
          f"{flagged} of {len(report.objects)} object(s) disagree with the sound")


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from engine.check.consistency import DEFAULT_TOLERANCE_DEG, check_layout
    from engine.fileio import atomic_write_text

    tolerance = DEFAULT_TOLERANCE_DEG if args.tolerance is None else args.tolerance
    if not 0.0 < tolerance <= 180.0:
        raise InputError(f"--tolerance must be above 0 and at most 180 degrees, got {tolerance:g}")
    if args.audition_signal and not args.audition:
        raise InputError("--audition-signal needs --audition OUT.wav: where to write the audition")
    if args.audition and Path(args.audition).suffix.lower() not in AUDITION_SUFFIXES:
        raise InputError(f"{args.audition}: an audition is written as .wav or .flac")
    signal = args.audition_signal or "separated"
    layout_path = Path(args.layout)
    work = _checked_work(args, layout_path)
    layout = work.layout
    named = args.audio or args.analysis or work.audio
    if args.audition and signal == "test" and not named and not args.json:
        # Nothing to check against; the test signal needs no recording, so the audition is still made.
        print(f"not checked: {layout_path} names no recording (give --audio AUDIO or --analysis A.json)")
        _write_check_audition(args.audition, signal, layout, None, None)
        return EXIT_OK
    analysis, audio = _check_sound(args, work, layout_path)
    report = check_layout(layout, analysis, tolerance_deg=tolerance, saved_matches=work.saved_matches)
    _print_check(report, str(audio or args.analysis), len(analysis.sources))
    if args.json:
        atomic_write_text(args.json, json.dumps(report.to_json_dict(), indent=1, ensure_ascii=False) + "\n")
        print(f"check written to {args.json}")
    if args.audition:
        if signal == "separated" and audio is None:
            audio = _analysed_recording(work.audio, analysis)
        _write_check_audition(args.audition, signal, layout, analysis, audio)
    return EXIT_OK


def _analysed_recording(named: Path | None, analysis) -> Path:
    """The recording behind an analysis JSON, for the separated audition: the one the layout or project names
    (``named``), else the one the analysis names, whichever is there."""
    candidates = [named, Path(analysis.audio_path) if analysis.audio_path else None]
    for path in candidates:
        if path is not None and path.exists():
            return path
    raise InputError("the separated audition needs the recording, and neither the layout nor the analysis names "
                     "one that is there; give it with --audio instead of --analysis, or use --audition-signal test")


def _write_check_audition(out: str, signal: str, layout, analysis, audio: Path | None) -> None:
    """Render the layout's audition (the recording's rate and length when there is one) and write it to ``out``."""
    from engine.audio.io import ANALYSIS_RATE, load_stereo
    from engine.audition.spatial import audition_layout, write_audition

    stereo = None
    rate = analysis.sample_rate if analysis is not None else ANALYSIS_RATE
    if signal == "separated":
        stereo, rate, _source = load_stereo(audio, rate)
    samples = audition_layout(layout, analysis, stereo, rate, signal=signal)
    write_audition(out, samples, rate)
    print(f"audition ({signal}) written to {out}: {samples.shape[0] / rate:.2f} s at {rate} Hz")


def _embedder(args: argparse.Namespace):
    """The retrieval embedding: CLAP from --clap or SPA2V_CLAP_MODEL when given, else the compact one."""
    from engine.planner.embedding import CompactEmbedder, clap_embedder

    model = args.clap or os.environ.get("SPA2V_CLAP_MODEL")
    return clap_embedder(model) if model else CompactEmbedder()


def cmd_examples(args: argparse.Namespace) -> int:
    from engine.layout.model import load_vsl
    from engine.planner.examples import ExampleStore, default_store_dir, open_store

    folder = Path(args.store) if args.store else default_store_dir()
    if args.action == "build":
        if not args.bench:
            raise InputError("examples build needs --bench DIR: a folder written by make-bench")
        store = ExampleStore.build_from_bench(args.bench, folder, embedder=_embedder(args))
        print(f"{len(store)} examples in {folder}")
        return EXIT_OK
    if args.action == "add":
        if not args.audio or not args.layout:
            raise InputError("examples add needs AUDIO and --layout X.vsl.json")
        layout = load_vsl(args.layout)
        store = ExampleStore(folder, embedder=_embedder(args))
        example = store.add(args.audio, layout.to_json_dict(), name=args.name)
        print(f"example '{example.name}' saved in {folder} ({len(store)} examples)")
        return EXIT_OK
    if args.action == "remove":
        if not args.name:
            raise InputError("examples remove needs --name NAME (see 'examples list')")
        store = ExampleStore(folder)
        store.remove(args.name)
        print(f"example '{args.name}' removed ({len(store)} left)")
        return EXIT_OK
    store = open_store(folder, embedder=_embedder(args), progress=_status)
    print(f"{len(store)} examples in {folder}")
    for example in store:
        names = sorted({o["name"] for kf in example.layout["keyframes"] for o in kf["objects"]})
        origin = example.meta.get("source", "?")
        print(f"  {example.name:<24} {origin:<6} {', '.join(names)}")
    return EXIT_OK


def _render_options(args: argparse.Namespace) -> dict:
    """The diffusion generator's settings from the command line (see engine.generator.RenderSettings)."""
    options = {
        "model": args.model, "motion_adapter": args.motion_adapter, "device": args.device,
        "scheduler": args.scheduler, "grounding": args.grounding, "grounding_strength": args.grounding_strength,
        "grounding_fraction": args.grounding_steps, "gligen": args.gligen, "decode_chunk": args.decode_chunk,
        "compile": True if args.compile else None,
    }
    return {key: value for key, value in options.items() if value is not None}


def _render_generator(args: argparse.Namespace, options: dict):
    """The generator the user asked for; "auto" takes the diffusion model where a GPU and its weights are."""
    from engine.render.animatic import AnimaticGenerator

    if args.generator == "animatic":
        return AnimaticGenerator()
    from engine.generator import DiffusionGenerator, RenderSettings
    from engine.generator.loading import pick_device

    settings = RenderSettings.from_options(options)
    if args.generator == "auto" and pick_device(settings.device).type == "cpu":
        _status("no GPU here: rendering the animatic (--generator diffusion renders on the CPU, very slowly)")
        return AnimaticGenerator()
    generator = DiffusionGenerator()
    _status(f"loading {settings.model or generator.model} with {settings.motion_adapter or generator.motion_adapter}")
    try:
        generator.pipeline_for(settings)  # now, so that missing weights are said before anything else
    except InputError as exc:
        if args.generator == "diffusion":
            raise
        _status(f"{exc}\nrendering the animatic instead")
        return AnimaticGenerator()
    return generator


def _preview_writer(folder: Path | None):
    """A preview callback that keeps the latest preview of each step as a PNG strip of frames (or None)."""
    if folder is None:
        return None
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)

    def save(step: int, frames) -> None:
        picks = np.linspace(0, len(frames) - 1, min(len(frames), 4)).round().astype(int)
        Image.fromarray(np.concatenate([frames[i] for i in picks], axis=1)).save(folder / f"step_{step:03d}.png")

    return save


def cmd_render(args: argparse.Namespace) -> int:
    from engine.layout.model import load_vsl
    from engine.render.base import parse_size
    from engine.render.run import make_request, render_video

    layout_path = Path(args.layout)
    layout = load_vsl(layout_path)
    audio = Path(args.audio) if args.audio else layout.audio_path(layout_path)
    if audio is not None and not audio.exists():
        raise InputError(f"{audio}: the recording is not there; give it with --audio (or --no-audio)")
    if args.no_audio:
        audio = None
    size = parse_size(args.size)
    options = _render_options(args)
    request = make_request(layout, fps=args.fps, frames=args.frames, size=size, seed=args.seed, steps=args.steps,
                           guidance=args.guidance, prompt_suffix=args.prompt_suffix or "", options=options,
                           **({"negative": args.negative} if args.negative is not None else {}))
    generator = _render_generator(args, options)
    _status(f"rendering {request.n_frames} frames at {size[0]}x{size[1]}, {request.fps:g} fps "
            f"with the {generator.name} generator")
    summary = render_video(request, generator, Path(args.out), audio_path=audio,
                           png_dir=Path(args.png) if args.png else None,
                           overlay_path=Path(args.overlay) if args.overlay else None,
                           progress=_progress_printer("rendering"),
                           preview=_preview_writer(Path(args.previews) if args.previews else None))
    seconds = summary["seconds"]
    print(f"{args.out}: {summary['frames']} frames, {summary['duration_s']:.2f} s at {summary['fps']:g} fps, "
          f"{summary['width']}x{summary['height']} ({summary['generator']}, {seconds['total']:.1f} s)")
    if summary.get("audio"):
        print(f"  sound: {summary['audio']}")
    if summary.get("overlay"):
        print(f"  boxes overlay: {summary['overlay']}")
    if summary.get("png_dir"):
        print(f"  PNG frames: {summary['png_dir']} ({summary.get('png_files') or 0} files)")
    return EXIT_OK


def cmd_screenshot(args: argparse.Namespace) -> int:
    from app.studio import save_screenshot

    render = None
    if args.state in ("rendering", "rendered"):
        import dataclasses

        from ui.render_panel import RenderSettingsForm

        render = RenderSettingsForm(generator=args.generator)
        changes = {"model": args.model, "motion_adapter": args.motion_adapter, "device": args.device,
                   "steps": args.steps, "frames": args.frames}
        render = dataclasses.replace(render, **{k: v for k, v in changes.items() if v is not None})
        if args.size:
            from engine.render.base import parse_size

            width, height = parse_size(args.size)
            render = dataclasses.replace(render, width=width, height=height)
    save_screenshot(args.out, args.file, state=args.state, render=render)
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

    p = sub.add_parser("open", help="open the studio on a recording, a project or a layout file")
    p.add_argument("file", help="a recording (WAV/FLAC/OGG/MP3, or MP4/MOV/MKV/WebM), a .spa2v project or a .vsl.json "
                   "layout (opened on the recording it names)")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser(
        "analyze",
        help="measure spatial cues and source tracks",
        description="Measure ILD, ITD, coherence and level over time, find each sounding source and how "
        "it moves. Prints one line per source; --json writes the analysis (SPEC.md format).",
    )
    p.add_argument("audio", help="a stereo recording, or the audio track of a video file")
    p.add_argument("--json", metavar="OUT", help="write the analysis JSON here")
    p.add_argument("--events", action="store_true", help="also say when each source sounds (onset-offset times "
                   "from the separated sources, as the LLM planner is told); --json then holds them as 'events'")
    _add_hearing_options(p)
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
        "object where the ears place it (SPEC.md's VSL JSON). The LLM planner reads OPENAI_API_KEY and "
        "OPENAI_BASE_URL; the key is never written anywhere.",
    )
    p.add_argument("audio", nargs="?", help="a stereo recording, or the audio track of a video file "
                   "(with --revise: default, the recording the layout names)")
    p.add_argument("--out", help="the layout to write (X.vsl.json); with --revise default X.revised.vsl.json")
    p.add_argument("--planner", choices=["offline", "llm"], default="offline",
                   help="offline: from the measured cue tracks, no network (default); llm: an audio LLM with "
                   "in-context examples and the measured cues")
    p.add_argument("--labels", help="object names: 'car', 'car,piano' or 'car@left,piano@right'")
    p.add_argument("--keyframes", type=int, default=5, help="number of keyframes N (default 5)")
    p.add_argument("--hfov", type=float, default=THIRDS_HFOV_DEG,
                   help=f"offline: camera horizontal field of view in degrees (default {THIRDS_HFOV_DEG:.1f}: "
                   "the ±15° side limits fall on the thirds of the frame)")
    _add_hearing_options(p)
    llm = p.add_argument_group("LLM planner")
    llm.add_argument("--provider", choices=["openai", "gemini", "vllm"],
                     help="endpoint preset (default: OPENAI_BASE_URL, else OpenAI)")
    llm.add_argument("--model", help="model name (default: the provider's audio model, gpt-4o-audio-preview)")
    llm.add_argument("--base-url", help="any OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    llm.add_argument("--k", type=int, default=3, help="in-context examples (default 3)")
    llm.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (default 0.5)")
    llm.add_argument("--timeout", type=float, help="seconds to wait for one answer (default 120)")
    llm.add_argument("--no-cues", action="store_true", help="do not add the measured cues to the request")
    llm.add_argument("--no-cache", action="store_true", help="ask again even if this request was answered before")
    llm.add_argument("--examples", metavar="DIR", help="the example store (default: the user's; see 'examples')")
    llm.add_argument("--clap", metavar="ID_OR_PATH", help="retrieve examples by CLAP embeddings from local weights, "
                     "e.g. laion/clap-htsat-unfused (default: SPA2V_CLAP_MODEL, else a compact cue embedding)")
    llm.add_argument("--revise", metavar="TEXT", help="revise a layout by a change request (with --from)")
    llm.add_argument("--from", dest="source_layout", metavar="VSL", help="the layout to revise")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "evaluate",
        help="score predicted layouts against ground truth (MaxIoU / LTSim / DocSim)",
        description="Pair X.vsl.json files by name, score each keyframe (soft label match by MiniLM "
        "sentence embeddings) and print the paper's Table 1 split: stationary / translational x "
        "single / multiple / combined.",
    )
    p.add_argument("--pred", required=True, help="folder of predicted X.vsl.json files")
    p.add_argument("--gt", required=True, help="folder of ground-truth X.vsl.json files (e.g. a make-bench set)")
    p.add_argument("--json", metavar="OUT", help="write every score here")
    p.add_argument("--exact-labels", action="store_true", help="labels match only when equal (no embedding model)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "check",
        help="does each box agree with the measured sound?",
        description="Match each object of a layout to the measured source it best explains and compare, per "
        "keyframe, the box's direction (through the planner's camera) with the source's azimuth, and the box's "
        "growth with the sound's level trend. Prints one row per object with its flags; exits 0 either way "
        "(--json holds 'ok'). Sources marked off screen are left out. --audition also writes the layout "
        "as sound (each box placed where it stands) to hear beside the recording.",
    )
    p.add_argument("layout", metavar="LAYOUT", help="the layout (X.vsl.json), or a studio project (X.spa2v): its "
                   "layout, recording and analysis settings, and which source each box stands for as the studio kept "
                   "it")
    p.add_argument("--audio", help="the recording (default: the one the layout or project names)")
    p.add_argument("--analysis", metavar="JSON", help="an analysis written by 'analyze --json', instead of analysing "
                   "the recording again")
    p.add_argument("--json", metavar="OUT", help="write the check here (SPEC.md: ok, objects with their flags)")
    p.add_argument("--tolerance", type=float, metavar="DEG",
                   help="how far a box may stand from its sound, in degrees straight ahead (default 30; toward the "
                   "sides of a binaural or spaced recording read on sin θ, so wider)")
    p.add_argument("--audition", metavar="OUT", help="also write the layout's audition here (.wav or .flac): each box "
                   "re-rendered as stereo sound where it stands, to hear beside the recording")
    p.add_argument("--audition-signal", choices=AUDITION_SIGNALS,
                   help="what each box sounds like: separated (default: its measured source cut out of the "
                   "recording) or test (pink-noise bursts, one rhythm per object; needs no recording)")
    _add_hearing_options(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "examples",
        help="the LLM planner's example store: list, build, add, remove",
        description="In-context examples are retrieved by audio similarity from a store (default: the "
        "user's data folder, filled with synthetic scenes on first use).",
    )
    p.add_argument("action", choices=["list", "build", "add", "remove"], nargs="?", default="list")
    p.add_argument("audio", nargs="?", help="add: the recording")
    p.add_argument("--layout", help="add: its layout (X.vsl.json), e.g. one you edited")
    p.add_argument("--name", help="add: the example's name; remove: which one")
    p.add_argument("--bench", default=None, help="build: a make-bench folder")
    p.add_argument("--store", help="the store folder (default: the user's)")
    p.add_argument("--clap", metavar="ID_OR_PATH", help="embed with CLAP from local weights (as plan --clap)")
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser(
        "render",
        help="render a layout to an MP4 with the recording's sound",
        description="Draw every frame of a layout (SPEC.md's VSL): the diffusion generator (SD 1.5 + AnimateDiff, "
        "each object's words held to its box) on a GPU, or the animatic (the interpolated boxes as labelled "
        "rectangles with the keyframe captions) anywhere. The MP4 is H.264 with the recording's sound trimmed "
        "to the clip; nothing half-written is left if it fails or is cancelled.",
    )
    p.add_argument("layout", metavar="VSL", help="the layout (X.vsl.json)")
    p.add_argument("--audio", help="the recording to put under the video (default: the one the layout names)")
    p.add_argument("--no-audio", action="store_true", help="a silent video")
    p.add_argument("--out", required=True, help="the video to write (X.mp4)")
    p.add_argument("--generator", choices=["auto", "diffusion", "animatic"], default="auto",
                   help="auto (default): diffusion where a GPU and the weights are, else the animatic")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    p.add_argument("--frames", type=int, help="number of frames (default: duration x fps)")
    p.add_argument("--size", default="512x320", help="WIDTHxHEIGHT, multiples of 8 (default 512x320)")
    p.add_argument("--steps", type=int, default=25, help="diffusion: denoising steps (default 25)")
    p.add_argument("--seed", type=int, default=0, help="diffusion: random seed (default 0)")
    p.add_argument("--guidance", type=float, default=7.5, help="diffusion: classifier-free guidance (default 7.5)")
    p.add_argument("--negative", help="diffusion: negative prompt")
    p.add_argument("--prompt-suffix", help="diffusion: words added to every frame's prompt (style)")
    d = p.add_argument_group("diffusion generator")
    d.add_argument("--model", help="SD 1.5 hub id or folder (default stable-diffusion-v1-5/stable-diffusion-v1-5)")
    d.add_argument("--motion-adapter", help="AnimateDiff motion adapter hub id or folder "
                   "(default guoyww/animatediff-motion-adapter-v1-5-2)")
    d.add_argument("--device", help="cuda, cuda:N, mps or cpu (default: the GPU if there is one)")
    d.add_argument("--scheduler", choices=["ddim", "euler", "lcm", "lightning"],
                   help="sampler (default ddim; lcm for AnimateLCM, lightning for AnimateDiff-Lightning)")
    d.add_argument("--grounding", choices=["hard", "soft", "off"], help="how boxes hold each object's words "
                   "(default hard: its words attend only inside its box)")
    d.add_argument("--grounding-strength", type=float, help="soft grounding: boost inside / damping outside")
    d.add_argument("--grounding-steps", type=float, help="fraction of the steps that are grounded (default 0.4)")
    d.add_argument("--gligen", nargs="?", const="masterful/gligen-1-4-generation-text-box", metavar="ID_OR_PATH",
                   help="stronger grounding with GLIGEN's text-box layers (default weights: "
                   "masterful/gligen-1-4-generation-text-box)")
    d.add_argument("--decode-chunk", type=int, help="frames decoded at once by the VAE (lower it if memory runs out)")
    d.add_argument("--compile", action="store_true", help="torch.compile the UNet (slow first run, faster after)")
    d.add_argument("--previews", metavar="DIR", help="save each step's preview (predicted frames) as a PNG here")
    p.add_argument("--png", metavar="DIR", help="also write every frame as a PNG here")
    p.add_argument("--overlay", metavar="MP4", help="also write a copy with the layout's boxes drawn on the frames")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("screenshot", help="render the studio window to a PNG and exit")
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("file", nargs="?", help="a recording or project (default: the demo project)")
    p.add_argument("--state", choices=["empty", "planned", "rendering", "rendered"], default="planned",
                   help="what to show: no file, the planned layout (default), a render under way (at its third "
                   "preview) or a finished render")
    p.add_argument("--generator", choices=["animatic", "diffusion", "auto"], default="animatic",
                   help="the generator of --state rendering/rendered (default animatic)")
    p.add_argument("--model", help="diffusion: the Stable Diffusion hub id or folder")
    p.add_argument("--motion-adapter", help="diffusion: the motion adapter hub id or folder")
    p.add_argument("--device", help="diffusion: cpu, cuda, mps (default: the GPU if there is one)")
    p.add_argument("--steps", type=int, help="diffusion: denoising steps")
    p.add_argument("--frames", type=int, help="frames to render (default: the recording's length at 8 fps)")
    p.add_argument("--size", help="render size WxH, e.g. 512x320")
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
        # One line, whatever the message quotes (a file name may hold a line break).
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        print(f"error: {one_line}", file=sys.stderr)
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

