"""Soak tests: thousands of random edits with undo/redo on one document, and memory over many renders.

1. **Edits.** 2,000 random edit commands on a :class:`~app.document.LayoutDocument` (drags with steps, nudges,
   adds, removals, renames, keyframe edits, hold, propagate, copy/paste, captions, sounds off screen, follow the
   sounds, colours, a new plan), interleaved with random undo/redo and locks, from a seeded ``random.Random``
   (``SPA2V_SOAK_SEED`` chooses another seed; the seed is printed, so a failure can be replayed). Each call that
   pushes a command is recorded with the state it ran in (time, selection, locks), in a list kept aligned with
   the undo stack: a push after undos drops the redo tail, a nudge merged into the command before it joins that
   command's entry, a nudge back to where it started drops the entry. At the end:

   * every layout the document showed on the way (drag steps, undo, redo included) was valid;
   * replaying only the entries below ``undo_stack.index()`` on a fresh document gives, command by command, the
     same layouts, hence the same final layout;
   * undoing everything returns the very starting layout, and redoing everything the very final one.

2. **Memory.** 20 tiny renders with the animatic generator and 20 with the tiny random diffusion models
   (tests/tiny_models.py), each through :func:`app.tasks.render_task` on a :class:`~app.workers.TaskRunner` as
   the studio runs them (the diffusion ones sharing one :class:`~app.tasks.GeneratorCache`). The Python heap
   (``tracemalloc``) may not grow by more than a few MB between render 5 and render 20.

The counts and the memory figures are printed in one ``SOAK ...`` line per test (``pytest -s`` shows them).
"""

from __future__ import annotations

import gc
import os
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QCoreApplication, QEvent

from app.document import LayoutCommand, LayoutDocument
from app.tasks import GeneratorCache, RenderOutcome, render_task
from app.workers import TaskRunner
from engine.layout.model import VideoLayout
from engine.render.run import make_request
from tests.hardening.test_properties import check_layout

SEED = int(os.environ.get("SPA2V_SOAK_SEED", "20261205"))
N_EDITS = 2000

START = {
    "format": "spa2v.vsl", "version": 1, "canvas": {"width": 454, "height": 256}, "duration_s": 4.0,
    "reasoning": "A car passes from left to right; a violin plays on the right; a dog barks late.",
    "video_caption": "A car drives past a violinist while a dog barks.",
    "keyframes": [
        {"time_s": 0.0, "caption": "The car enters on the left.", "objects": [
            {"id": 0, "name": "car", "box": [10.0, 150.0, 110.0, 200.0]},
            {"id": 1, "name": "violin", "box": [380.0, 80.0, 430.0, 220.0]}]},
        {"time_s": 1.0, "caption": "The car approaches.", "objects": [
            {"id": 0, "name": "car", "box": [90.0, 150.0, 190.0, 200.0]},
            {"id": 1, "name": "violin", "box": [380.0, 80.0, 430.0, 220.0]}]},
        {"time_s": 2.0, "caption": "The car is in the middle.", "objects": [
            {"id": 0, "name": "car", "box": [180.0, 150.0, 280.0, 200.0]},
            {"id": 1, "name": "violin", "box": [370.0, 80.0, 420.0, 220.0]},
            {"id": 2, "name": "dog", "box": [20.0, 190.0, 70.0, 240.0]}]},
        {"time_s": 3.0, "caption": "The dog barks.", "objects": [
            {"id": 0, "name": "car", "box": [260.0, 150.0, 360.0, 200.0]},
            {"id": 2, "name": "dog", "box": [30.0, 190.0, 80.0, 240.0]}]},
        {"time_s": 4.0, "caption": "The car leaves on the right.", "objects": [
            {"id": 0, "name": "car", "box": [340.0, 150.0, 440.0, 200.0]}]},
    ],
}

Action = Callable[[LayoutDocument], Any]


@dataclass(frozen=True)
class Context:
    """The document state an edit depends on besides the layout: where the user is, what is selected, locked."""

    time_s: float
    selected: int | None
    locked: frozenset[int]

    @classmethod
    def of(cls, doc: LayoutDocument) -> Context:
        return cls(doc.time_s, doc.selected, frozenset(doc.display_state()["locked"]))

    def restore(self, doc: LayoutDocument) -> None:
        doc.set_time(self.time_s)
        doc.set_selected(self.selected)
        for object_id in self.locked | set(doc.display_state()["locked"]):
            doc.set_locked(object_id, object_id in self.locked)


@dataclass
class Step:
    """One recorded call: what it was (for messages), the state it ran in, and the call itself."""

    name: str
    context: Context
    action: Action


@dataclass
class SoakCounts:
    """What the soak did: calls made, what became of them on the stack, undo/redo steps, layouts checked."""

    calls: int = 0
    pushed: int = 0
    pushed_by_action: dict[str, int] = field(default_factory=dict)
    merged: int = 0
    dropped_as_obsolete: int = 0
    unchanged_or_refused: int = 0
    drag_steps: int = 0
    interrupted_drags: int = 0
    undo_steps: int = 0
    redo_steps: int = 0
    layouts_checked: int = 0
    by_action: dict[str, int] = field(default_factory=dict)


def _committed_layout(doc: LayoutDocument, start: VideoLayout) -> VideoLayout:
    """The layout the undo stack stands at: the ``after`` of the last layout command below the index."""
    stack = doc.undo_stack
    for index in range(stack.index() - 1, -1, -1):
        command = stack.command(index)
        if isinstance(command, LayoutCommand):
            return command.after
    return start


class Soak:
    """Random edits on ``doc`` with the entries list kept aligned with its undo stack."""

    def __init__(self, doc: LayoutDocument, start: VideoLayout, rng: random.Random) -> None:
        self.doc, self.start, self.rng = doc, start, rng
        self.entries: list[list[Step]] = []  # entries[i]: the calls that made undo_stack.command(i)
        self.counts = SoakCounts()

    # --- random choices -------------------------------------------------------------------------------

    def time(self) -> float:
        layout = self.doc.layout
        assert layout is not None
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.choice(layout.times)
        if roll < 0.75:
            return self.rng.choice(self.doc.frame_times())
        if roll < 0.8:
            return self.rng.choice([0.0, layout.duration_s])
        return round(self.rng.uniform(0.0, layout.duration_s), self.rng.choice([1, 3, 6]))

    def object_id(self) -> int:
        """Mostly an object shown at the current time (what a click picks), else any, now and then an unknown one."""
        layout = self.doc.layout
        assert layout is not None
        shown, known, roll = [b.id for b in self.doc.shown_boxes()], layout.object_ids(), self.rng.random()
        if shown and roll < 0.65:
            return self.rng.choice(shown)
        if known and roll < 0.93:
            return self.rng.choice(known)
        return self.rng.randrange(0, 12)  # one the layout does not (or no longer) know

    def box(self) -> tuple[float, float, float, float]:
        if self.rng.random() < 0.1:  # out of the canvas, corners swapped or degenerate: clamped by the editor
            return (self.rng.uniform(-100, 550), self.rng.uniform(-100, 350), self.rng.uniform(-100, 550),
                    self.rng.uniform(-100, 350))
        x0, y0 = self.rng.uniform(0, 400), self.rng.uniform(0, 220)
        return (x0, y0, x0 + self.rng.uniform(2, 120), y0 + self.rng.uniform(2, 120))

    def text(self) -> str:
        return self.rng.choice(["", "a car", "The car is close.", "  spaced  out  ", "dog\nbarks", "Ünïcode ✓"])

    def index(self) -> int | None:
        layout = self.doc.layout
        assert layout is not None
        return None if self.rng.random() < 0.5 else self.rng.randrange(-1, len(layout.keyframes) + 1)

    # --- the edits --------------------------------------------------------------------------------------

    def random_edit(self) -> tuple[str, Action]:
        """A random edit as ``(name, action)``; the action calls the document (public API only)."""
        rng = self.rng
        kind = rng.choices(
            ["drag", "nudge", "add", "remove_at", "delete", "rename", "insert_kf", "remove_kf", "toggle_kf", "hold",
             "propagate", "paste_box", "paste_keyframe", "caption", "video_caption", "offscreen", "follow",
             "colour", "replace"],
            weights=[14, 8, 3, 5, 3, 3, 5, 4, 4, 3, 3, 4, 3, 4, 2, 2, 2, 2, 1],
        )[0]
        object_id = self.object_id()
        if kind == "drag":
            steps = [self.box() for _ in range(rng.randrange(0, 5))]
            release = self.box()
            back_to_start = rng.random() < 0.15  # released where it started (as after Esc): no command

            def drag(d: LayoutDocument) -> None:
                shown = [b.box for b in d.shown_boxes() if b.id == object_id]
                for box in steps:
                    d.move_box(object_id, box)
                d.move_box(object_id, shown[0] if back_to_start and shown else release, finished=True)

            self.counts.drag_steps += len(steps)
            return kind, drag
        if kind == "nudge":
            dx, dy = rng.choice([-10, -1, 0, 1, 10]), rng.choice([-10, -1, 0, 1, 10])
            return kind, lambda d: d.nudge(dx, dy)
        if kind == "add":
            name, box = rng.choice(["bird", "car", "piano", " horn "]), self.box()
            return kind, lambda d: d.add_object(name, box)
        if kind == "remove_at":
            return kind, lambda d: d.remove_object_at(object_id)
        if kind == "delete":
            return kind, lambda d: d.delete_object(object_id)
        if kind == "rename":
            name = self.text()
            return kind, lambda d: d.rename(object_id, name)
        if kind == "insert_kf":
            return kind, lambda d: d.insert_keyframe()
        if kind == "remove_kf":
            index = self.index()
            return kind, lambda d: d.remove_keyframe(index)
        if kind == "toggle_kf":
            return kind, lambda d: d.toggle_keyframe()
        if kind == "hold":
            index = self.index()
            return kind, lambda d: d.hold(index)
        if kind == "propagate":
            chosen, add_missing = rng.choice([object_id, None]), rng.random() < 0.5
            return kind, lambda d: d.propagate(chosen, add_missing=add_missing)
        if kind == "paste_box":
            copy_at, as_new = self.time(), rng.random() < 0.3

            def copy_then_paste_box(d: LayoutDocument) -> None:
                paste_at = d.time_s
                d.set_time(copy_at)
                copied = d.copy_box(object_id)
                d.set_time(paste_at)
                if copied:
                    d.paste_box(as_new=as_new)

            return kind, copy_then_paste_box
        if kind == "paste_keyframe":
            copy_at = self.time()

            def copy_then_paste_keyframe(d: LayoutDocument) -> None:
                paste_at = d.time_s
                d.set_time(copy_at)
                d.copy_keyframe()
                d.set_time(paste_at)
                d.paste_keyframe()

            return kind, copy_then_paste_keyframe
        if kind == "caption":
            index, text = self.index(), self.text()
            return kind, lambda d: d.set_caption(index, text)
        if kind == "video_caption":
            text = self.text()
            return kind, lambda d: d.set_video_caption(text)
        if kind == "offscreen":
            source_id, offscreen, name = rng.randrange(0, 4), rng.random() < 0.6, rng.choice(["", "wind", "narrator"])
            return kind, lambda d: d.set_offscreen(source_id, offscreen, name)
        if kind == "follow":
            starts = [rng.uniform(-0.5, 4.0) for _ in range(rng.randrange(1, 3))]
            sounding = {object_id: [(a, a + rng.uniform(0.0, 2.0)) for a in starts]}
            return kind, lambda d: d.follow_sounds(sounding)
        if kind == "colour":
            colour = rng.choice(["#ff0000", "green", "#123456", "not a colour"])
            return kind, lambda d: d.set_colour(object_id, colour)
        # A new plan: the start layout with every box moved a little and another video caption.
        shift = rng.uniform(-5, 5)
        plan = VideoLayout.from_json_dict({**START, "video_caption": f"A new plan ({shift:.2f})", "keyframes": [
            {**frame, "objects": [{**obj, "box": [min(max(v + shift, 0.0), 454.0 if i % 2 == 0 else 256.0)
                                                  for i, v in enumerate(obj["box"])]}
                                  for obj in frame["objects"]]}
            for frame in START["keyframes"]]})
        return kind, lambda d: d.replace_layout(plan)

    # --- running and recording --------------------------------------------------------------------------

    def run_recorded(self, name: str, action: Action) -> None:
        """Run one edit and keep ``entries`` aligned with the undo stack (see the module docstring)."""
        doc, stack = self.doc, self.doc.undo_stack
        step = Step(name, Context.of(doc), action)
        before_index, before_count = stack.index(), stack.count()
        top = stack.command(before_index - 1) if before_index > 0 else None
        top_after = getattr(top, "after", None)
        action(doc)
        index, count = stack.index(), stack.count()
        self.counts.calls += 1
        self.counts.by_action[name] = self.counts.by_action.get(name, 0) + 1
        where = f"call {self.counts.calls} ({name}), seed {SEED}"
        if index == before_index + 1:  # a new command; any redo tail was dropped
            assert count == index, where
            del self.entries[before_index:]
            self.entries.append([step])
            self.counts.pushed += 1
            self.counts.pushed_by_action[name] = self.counts.pushed_by_action.get(name, 0) + 1
        elif index == before_index and top is not None and stack.command(index - 1) is top \
                and getattr(top, "after", None) is not top_after:  # merged into the command before it
            assert count == index, where
            del self.entries[before_index:]
            self.entries[-1].append(step)
            self.counts.merged += 1
        elif index == before_index - 1:  # merged, and back where that command started: both gone
            assert count == index, where
            del self.entries[index:]
            self.counts.dropped_as_obsolete += 1
        else:  # nothing pushed: the stack is as it was
            assert (index, count) == (before_index, before_count), where
            self.counts.unchanged_or_refused += 1
        assert len(self.entries) == count, where
        # The layout shown is the very one the stack stands at (a drag left open would show another).
        assert doc.layout is _committed_layout(doc, self.start), f"a drag was left open after {where}"

    def interrupted_drag(self) -> None:
        """Drag steps that never get their release: an undo, a redo or a lock ends the drag instead."""
        doc, stack, rng = self.doc, self.doc.undo_stack, self.rng
        object_id = self.object_id()
        for _ in range(rng.randrange(1, 4)):
            doc.move_box(object_id, self.box())
            self.counts.drag_steps += 1
        self.counts.interrupted_drags += 1
        if stack.canUndo() and rng.random() < 0.5:
            stack.undo()
            self.counts.undo_steps += 1
        elif stack.canRedo():
            stack.redo()
            self.counts.redo_steps += 1
        # Undoing or redoing an edit of the layout ends the drag; a colour change does not, nor does an empty
        # stack: then locking the dragged object ends it.
        if doc.layout is not _committed_layout(doc, self.start):
            was_locked = doc.is_locked(object_id)
            doc.set_locked(object_id, True)
            doc.set_locked(object_id, was_locked)
        assert doc.layout is _committed_layout(doc, self.start), f"the drag was left open (seed {SEED})"

    def nudge_burst(self) -> None:
        """The arrow keys held on one box: consecutive nudges merge into one command (or vanish when the box is
        nudged back to where it started)."""
        rng = self.rng
        self.doc.set_selected(self.object_id())
        dx, dy = rng.choice([(1, 0), (-1, 0), (0, 1), (0, -1), (10, 0), (0, -10)])
        for _ in range(rng.randrange(1, 5)):
            self.run_recorded("nudge", lambda d, dx=dx, dy=dy: d.nudge(dx, dy))
        if rng.random() < 0.5:  # and back
            for _ in range(rng.randrange(1, 5)):
                self.run_recorded("nudge", lambda d, dx=dx, dy=dy: d.nudge(-dx, -dy))

    def undo_redo(self) -> None:
        """Undo a few steps and maybe redo some of them, or jump in the history."""
        stack, rng = self.doc.undo_stack, self.rng
        if rng.random() < 0.9:
            for _ in range(rng.randrange(1, 5)):
                if stack.canUndo():
                    stack.undo()
                    self.counts.undo_steps += 1
            for _ in range(rng.choice([0, 0, 1, 2, 4])):
                if stack.canRedo():
                    stack.redo()
                    self.counts.redo_steps += 1
        else:  # a jump in the History panel, a few steps either way
            target = min(max(stack.index() + rng.randrange(-6, 7), 0), stack.count())
            self.counts.undo_steps += max(0, stack.index() - target)
            self.counts.redo_steps += max(0, target - stack.index())
            stack.setIndex(target)
        # Undo and redo show the very layouts the commands keep.
        assert self.doc.layout is _committed_layout(self.doc, self.start), f"seed {SEED}"

    def view_state(self) -> None:
        """Time, selection and locks: not edits, but every edit depends on them. Now and then they stay as they
        are, so that edits at one place follow each other (and nudges of one box merge)."""
        rng, doc = self.rng, self.doc
        if rng.random() < 0.35:
            return
        doc.set_time(self.time())
        if rng.random() < 0.5:
            doc.set_selected(None if rng.random() < 0.1 else self.object_id())
        if rng.random() < 0.1:
            object_id = self.object_id()
            doc.set_locked(object_id, not doc.is_locked(object_id))


def test_random_edits_with_undo_and_redo_replay_to_the_same_layout(qapp) -> None:
    print(f"soak seed {SEED} (set SPA2V_SOAK_SEED to replay another)")
    rng = random.Random(SEED)
    start = VideoLayout.from_json_dict(START)
    doc = LayoutDocument()
    soak = Soak(doc, start, rng)

    shown: list[VideoLayout] = []
    doc.layoutChanged.connect(lambda: shown.append(doc.layout))
    doc.set_layout(start)
    started = time.perf_counter()
    while soak.counts.calls < N_EDITS:
        soak.view_state()
        roll = rng.random()
        if roll < 0.12:
            soak.undo_redo()
        elif roll < 0.15:
            soak.interrupted_drag()
        elif roll < 0.2:
            soak.nudge_burst()
        else:
            name, action = soak.random_edit()
            soak.run_recorded(name, action)
        # Every layout shown on the way (drag steps, undo and redo too) is valid.
        for layout in shown:
            assert layout is not None
            check_layout(layout, exact_clip=True)
        soak.counts.layouts_checked += len(shown)
        shown.clear()

    # End with a redo tail, so that the replay must leave out the commands above the index.
    stack = doc.undo_stack
    for _ in range(rng.randrange(1, 8)):
        if stack.canUndo():
            stack.undo()
            soak.counts.undo_steps += 1
    final, final_index, final_count = doc.layout, stack.index(), stack.count()
    assert final is not None
    assert soak.counts.pushed > N_EDITS // 3, f"too few edits took effect to mean much: {soak.counts}"

    # Replaying only the commands that survive below the index gives the same layouts, command by command.
    replay = LayoutDocument()
    replay.set_layout(start)
    for i, entry in enumerate(soak.entries[:final_index]):
        for step in entry:
            step.context.restore(replay)
            step.action(replay)
        assert replay.undo_stack.index() == i + 1, (
            f"replaying entry {i} ({[s.name for s in entry]}) made {replay.undo_stack.index() - i} commands "
            f"(seed {SEED})")
        original = stack.command(i)
        if isinstance(original, LayoutCommand):
            assert replay.layout == original.after, f"entry {i} ({[s.name for s in entry]}) differs (seed {SEED})"
    assert replay.layout == final, f"the replayed layout differs from the edited one (seed {SEED})"

    # Undoing everything gives back the very starting layout; redoing everything, the very final one.
    undone = stack.index()
    stack.setIndex(0)
    assert doc.layout is start, f"seed {SEED}"
    stack.setIndex(final_index)
    assert doc.layout is final, f"seed {SEED}"
    for layout in shown:
        check_layout(layout, exact_clip=True)
    seconds = time.perf_counter() - started

    counts = soak.counts
    print(f"SOAK edits: seed={SEED} edit_calls={counts.calls} pushed={counts.pushed} merged={counts.merged} "
          f"dropped_obsolete={counts.dropped_as_obsolete} no_op_or_refused={counts.unchanged_or_refused} "
          f"drag_steps={counts.drag_steps} interrupted_drags={counts.interrupted_drags} "
          f"undo_steps={counts.undo_steps} redo_steps={counts.redo_steps} "
          f"stack_count={final_count} stack_index={final_index} replayed_entries={final_index} "
          f"replayed_calls={sum(len(e) for e in soak.entries[:final_index])} undone_at_end={undone} "
          f"layouts_checked={counts.layouts_checked} seconds={seconds:.1f}")
    print(f"SOAK edit mix (called/pushed): "
          f"{ {name: (n, counts.pushed_by_action.get(name, 0)) for name, n in sorted(counts.by_action.items())} }")


# ------------------------------------------------------------------------------------------ memory


N_RENDERS = 20
FIRST_MEASURED = 5
#: Growth of the Python heap allowed between render 5 and render 20. Measured: 20-40 KB for either generator
#: (see the SOAK line). Keeping each render's frames would add 1.5 MB over the 15 renders (animatic, 8 frames)
#: or 0.6 MB (diffusion, 3 frames): both caught.
MAX_GROWTH_BYTES = 512 * 2**10

LAYOUT_2S = {**START, "duration_s": 2.0, "keyframes": [
    {**frame, "time_s": frame["time_s"] / 2} for frame in START["keyframes"]]}


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.tiny_models import save_tiny_model_folders

    return save_tiny_model_folders(tmp_path_factory.mktemp("tiny-models"))


def _deferred_deletes() -> None:
    """Let Qt delete what was handed to ``deleteLater`` (the runner's finished threads), as its event loop would."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QCoreApplication.processEvents()


def _render_many(qtbot: Any, runner: TaskRunner, make_task: Callable[[int], Any]) -> tuple[list[int], float]:
    """Run ``N_RENDERS`` render tasks one after the other; the traced heap after each (after a collection)."""
    outcomes: list[RenderOutcome] = []
    errors: list[BaseException] = []

    def keep_last(outcome: RenderOutcome) -> None:  # only the last: the test itself must not grow
        outcomes[:] = [outcome]

    def failed(exc: BaseException) -> None:
        exc.__traceback__ = None
        errors.append(exc)

    runner.resultReady.connect(keep_last)
    runner.failed.connect(failed)
    heap: list[int] = []
    started = time.perf_counter()
    try:
        for i in range(N_RENDERS):
            with qtbot.waitSignal(runner.finished, timeout=120000):
                runner.start(make_task(i))
            assert runner.wait(20000)
            assert not errors, f"render {i + 1} failed: {errors[0]!r}"
            assert outcomes and outcomes[0].out_path.exists()
            outcomes.clear()
            _deferred_deletes()
            gc.collect()
            heap.append(tracemalloc.get_traced_memory()[0])
    finally:
        runner.resultReady.disconnect(keep_last)
        runner.failed.disconnect(failed)
    return heap, time.perf_counter() - started


def test_memory_stays_flat_over_many_tiny_renders(qtbot, tmp_path: Path, tiny_folders: tuple[Path, Path]) -> None:
    rng = np.random.default_rng(0)
    wav = tmp_path / "scene.wav"
    sf.write(wav, (0.1 * rng.standard_normal((32000, 2))).astype(np.float32), 16000)
    layout = VideoLayout.from_json_dict(LAYOUT_2S)
    sd_folder, adapter_folder = tiny_folders
    animatic = make_request(layout, fps=8.0, frames=8, size=(64, 64))
    diffusion = make_request(layout, fps=8.0, frames=3, size=(64, 64), steps=2,
                             options={"model": str(sd_folder), "motion_adapter": str(adapter_folder), "device": "cpu"})
    cache = GeneratorCache(local_files_only=True)
    runner = TaskRunner()
    results: dict[str, tuple[list[int], float]] = {}
    tracemalloc.start()
    try:
        results["animatic"] = _render_many(
            qtbot, runner, lambda i: render_task(animatic, "animatic", tmp_path / f"animatic-{i % 2}.mp4", wav))
        results["diffusion"] = _render_many(
            qtbot, runner, lambda i: render_task(diffusion, "diffusion", tmp_path / f"diffusion-{i % 2}.mp4", wav,
                                                 cache=cache))
    finally:
        tracemalloc.stop()
        runner.shutdown()
        cache.release()
        _deferred_deletes()

    report = []
    for name, (heap, seconds) in results.items():
        growth = heap[N_RENDERS - 1] - heap[FIRST_MEASURED - 1]
        report.append(f"{name}: renders={N_RENDERS} heap_after_5={heap[FIRST_MEASURED - 1] / 2**20:.2f}MB "
                      f"heap_after_20={heap[-1] / 2**20:.2f}MB growth_5_to_20={growth / 2**10:.1f}KB "
                      f"seconds={seconds:.1f}")
    print("SOAK memory: " + "; ".join(report) + f"; bound={MAX_GROWTH_BYTES / 2**10:.0f}KB")
    for name, (heap, _seconds) in results.items():
        growth = heap[N_RENDERS - 1] - heap[FIRST_MEASURED - 1]
        assert growth < MAX_GROWTH_BYTES, (
            f"{name}: the Python heap grew by {growth / 2**20:.1f} MB from render {FIRST_MEASURED} to {N_RENDERS} "
            f"(after each: {[round(h / 2**20, 2) for h in heap]} MB)")
