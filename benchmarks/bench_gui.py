"""Measure how responsive the studio stays while it renders: the longest event-loop stall.

    python benchmarks/bench_gui.py [--frames 16] [--steps 10] [--out docs/BENCHMARKS.md]

The studio window is opened offscreen on a short synthetic recording, planned offline, and a render with
the tests' tiny diffusion models (CPU) runs in the render worker while a 5 ms timer on the GUI thread
records how late each of its ticks comes: the longest gap minus 5 ms is the longest stall a user would
feel. The same timer runs for the same time with nothing rendering, as the baseline of the same run.
Target: the longest stall under 50 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from benchmarks.bench_hear import machine_description, update_benchmarks_md  # noqa: E402

TICK_MS = 5


def _stalls(app, seconds: float, busy, stamps: list[float] | None = None) -> list[float]:
    """Tick gaps (ms) of a 5 ms timer over ``seconds`` (or while ``busy()``), minus the tick itself; the
    time of each tick goes to ``stamps`` when given."""
    from PySide6.QtCore import QTimer

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000.0 - TICK_MS)
        if stamps is not None:
            stamps.append(now)
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    end = time.perf_counter() + seconds
    while (busy() if busy is not None else True) and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return gaps


def measure(frames: int, steps: int, preload: bool) -> dict:
    """One render in the studio window; the stall figures as a dict. ``preload``: import the generator's
    libraries first, as the studio does behind its splash screen."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    preload_s = 0.0
    if preload:
        from app.preload import preload_generator_libraries

        preload_s = sum(preload_generator_libraries().values())

    from app.playback import Player
    from app.window import StudioWindow

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rng = np.random.default_rng(0)
        mono = rng.standard_normal(48000 * 3).astype(np.float32) * 0.1
        sf.write(tmp_path / "scene.wav", np.stack([mono * 0.3, mono], axis=1), 48000)
        window = StudioWindow(player=Player(stream_factory=lambda *a: None))
        window.ask_to_save = False
        window.resize(1600, 960)
        window.show()
        window.open_file(tmp_path / "scene.wav")
        while window.runner.busy or window.editor.plan_runner.busy or window.editor.document.layout is None:
            app.processEvents()
            time.sleep(0.005)
        # Let the window take in the plan (panels fill, the layout settles) as it would before anyone can
        # press Render.
        _stalls(app, 1.0, None)
        # The tiny model folders are written by a subprocess: writing them here would import torch and
        # diffusers, which is exactly what the cold run must leave to the render.
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from tests.tiny_models import save_tiny_model_folders as s; s(Path(sys.argv[1]))",
                        str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
        sd_folder, adapter_folder = tmp_path / "sd15", tmp_path / "adapter"
        # Press Render, as a user does: the panel's settings with the tiny models, on the CPU.
        form = dataclasses.replace(window.editor.render.settings(), generator="diffusion", model=str(sd_folder),
                                   motion_adapter=str(adapter_folder), device="cpu", steps=steps, frames=frames,
                                   width=128, height=80)
        window.editor.render.set_settings(form)
        runner = window.editor.render_runner
        previews: list[float] = []
        runner.partialResult.connect(lambda p: previews.append(time.perf_counter()))
        failures: list[BaseException] = []
        runner.failed.connect(failures.append)
        stamps: list[float] = []
        started = time.perf_counter()
        window.editor.render.render_button.click()
        during = _stalls(app, 300.0, lambda: runner.busy, stamps)
        render_s = time.perf_counter() - started
        idle = _stalls(app, render_s, None)
        window.shutdown()
        window.close()
        if failures:
            raise failures[0]

    # Once the first preview is shown the models are loaded: what is left is denoising, previews and encoding.
    denoising = [gap for gap, at in zip(during, stamps, strict=True) if previews and at > previews[0]] or [0.0]
    return {
        "preload_s": preload_s, "render_s": render_s, "previews": len(previews),
        "idle": {"ticks": len(idle), "worst": max(idle), "p99": float(np.percentile(idle, 99))},
        "during": {"ticks": len(during), "worst": max(during), "p99": float(np.percentile(during, 99))},
        "denoising": {"ticks": len(denoising), "worst": max(denoising),
                      "p99": float(np.percentile(denoising, 99))},
    }


def _in_subprocess(frames: int, steps: int, preload: bool) -> dict:
    """:func:`measure` in a fresh interpreter, so that nothing is imported before it starts."""
    command = [sys.executable, str(Path(__file__).resolve()), "--frames", str(frames), "--steps", str(steps),
               "--measure", "preloaded" if preload else "cold"]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, seconds: str, figures: dict) -> str:
    return f"| {name} | {seconds} | {figures['ticks']} | {figures['worst']:.1f} ms | {figures['p99']:.1f} ms |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--measure", choices=("cold", "preloaded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.frames, args.steps, args.measure == "preloaded")))
        return 0

    preloaded = _in_subprocess(args.frames, args.steps, True)
    cold = _in_subprocess(args.frames, args.steps, False)
    worst = preloaded["during"]["worst"]
    status = "meets" if worst < 50 else "**misses**"
    section = "\n".join([
        "## Studio: responsiveness while rendering",
        "",
        f"Measured {date.today().isoformat()} on {machine_description()}, by `python benchmarks/bench_gui.py "
        f"--frames {args.frames} --steps {args.steps}` (offscreen).",
        "",
        "A render with the tests' tiny diffusion models runs in the render worker (CPU, previews every step, the",
        "canvas showing each preview) while a 5 ms timer on the GUI thread records how late its ticks come.",
        "Baseline: the same timer for the same time with nothing rendering. Each run is a fresh interpreter.",
        "",
        "| run | seconds | ticks | longest stall | 99th percentile |",
        "| --- | --- | --- | --- | --- |",
        _row("idle window (baseline)", f"{preloaded['render_s']:.1f}", preloaded["idle"]),
        _row(f"rendering, libraries preloaded as the studio starts ({preloaded['previews']} previews)",
             f"{preloaded['render_s']:.1f}", preloaded["during"]),
        _row("… after the first preview (denoising, previews, encoding)", "", preloaded["denoising"]),
        _row(f"rendering, libraries imported by the render (`SPA2V_PRELOAD=0`, {cold['previews']} previews)",
             f"{cold['render_s']:.1f}", cold["during"]),
        "",
        "What froze the window, and what the studio does about it:",
        "- importing torch, transformers and diffusers holds the interpreter's lock for up to ~0.2 s at a time;",
        f"  the studio imports them behind its start-up splash ({preloaded['preload_s']:.1f} s here, once);",
        "- a full garbage collection walks those libraries' millions of objects (~0.2 s, lock held); after the",
        "  preload `gc.freeze()` leaves them out of every later collection;",
        "Loading the models and denoising share the lock well once those are gone. Render is pressed through the",
        "panel once the window has taken in the plan (laying out the filled panels and repainting the plots takes",
        "up to ~65 ms here, once per plan, with nothing rendering).",
        "",
        f"Target: the longest stall under 50 ms while rendering ({status}).",
        "",
    ])
    print(section)
    if not args.no_write:
        update_benchmarks_md(Path(args.out), section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
