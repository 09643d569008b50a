"""The Edit stage joined up: layout canvas, timeline, objects, captions, planner, render and log.

:class:`EditorController` owns the widgets of ``ui/`` for editing and the two background runners (planning,
rendering), and keeps them in step with one :class:`~app.document.LayoutDocument`: whatever changes the
document (an edit on the canvas, a plan, an undo) refreshes every view from it, and every view sends the
user's intent back to the document as an undoable command. The window gives it the recording (path,
analysis, duration) and one clock: :meth:`set_time` is called as the audio plays or is scrubbed, and
:attr:`seekRequested` asks the window to move the audio when the user scrubs the timeline.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QUndoCommand

from app.document import LayoutDocument
from app.project_store import studio_settings
from app.tasks import (
    GeneratorCache,
    LoadedModel,
    PlanOutcome,
    PreviewFrames,
    RenderOutcome,
    error_message,
    load_model_task,
    plan_task,
    provider_defaults,
    remember_api_key,
    render_options,
    render_task,
    request_from_form,
    revise_task,
)
from app.workers import TaskRunner
from engine.check.consistency import BoxDirection, Checker, CheckReport, KeyframeCheck
from engine.check.sounding import shared_label_groups, sounding_objects
from engine.errors import InputError
from engine.layout.interp import boxes_at, boxes_at_times
from engine.layout.model import VideoLayout
from ui.caption_panel import CaptionPanel
from ui.forms import rgb_image
from ui.layout_canvas import CanvasBox, LayoutCanvas
from ui.log_panel import LogPanel
from ui.object_panel import ObjectPanel, ObjectRow
from ui.planner_panel import PlannerPanel
from ui.render_panel import RenderPanel
from ui.timeline import Lane, Timeline

log = logging.getLogger(__name__)

#: Where the "Remember in the OS keyring" preference lives in the studio's QSettings.
REMEMBER_KEY_SETTING = "planner/remember_key"

RENDER_ASPECT = 512 / 320


def _decode_video(path: Path) -> np.ndarray | None:
    """Every frame of a rendered MP4 as ``(T, H, W, 3)`` uint8 (None if it cannot be read)."""
    import av

    try:
        with av.open(str(path)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    except (OSError, ValueError, av.FFmpegError) as exc:
        log.warning("cannot read the rendered video %s back: %s", path, exc)
        return None


class _StandsFor(QUndoCommand):
    """Which measured source an object stands for, as the user said (``after``; None: the automatic matching);
    undo gives it back the source it stood for before."""

    def __init__(self, editor: EditorController, object_id: int, before: int | None, after: int | None,
                 text: str) -> None:
        super().__init__(text)
        self.editor, self.object_id, self.before, self.after = editor, object_id, before, after

    def redo(self) -> None:
        self.editor._assign_source(self.object_id, self.after)

    def undo(self) -> None:
        self.editor._assign_source(self.object_id, self.before)


class EditorController(QObject):
    """The editing views and tasks around one layout document (see the module docstring)."""

    #: The user scrubbed the timeline: the window moves the audio there (and calls :meth:`set_time` back).
    seekRequested = Signal(float)
    #: One line for the status bar.
    statusMessage = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = LayoutDocument(self)
        self.canvas = LayoutCanvas()
        self.canvas.set_canvas_size(454, 256, RENDER_ASPECT)
        self.timeline = Timeline()
        self.objects = ObjectPanel()
        self.captions = CaptionPanel()
        self.log_panel = LogPanel()
        self.planner = PlannerPanel(provider_defaults=provider_defaults())
        self.render = RenderPanel()
        self.plan_runner = TaskRunner(self)
        self.render_runner = TaskRunner(self)
        self.generators = GeneratorCache()
        self.audio_path: Path | None = None
        self.analysis: Any = None
        self.duration_s = 0.0
        self.last_video: Path | None = None
        self._initial_plan = False
        #: The consistency check against the recording's sources (None without an analysis): it keeps the
        #: object ↔ source matching across edits, so the box being dragged is the one that gets flagged.
        self.checker: Checker | None = None
        self.check_report: CheckReport | None = None
        #: The off-screen sources the Objects dock's "stands for" choices were last listed without (None: list them).
        self._choices_offscreen: frozenset[int] | None = None
        #: When each measured source sounds (``engine.audition.events.SourceEvents``, from the analysis task);
        #: planning with the LLM and "Objects follow their sounds" use them.
        self.events: list[Any] = []
        self._shared_labels = False
        #: The last rendered video's frames, shown on the canvas at the playhead (so Play plays it with its
        #: sound, the recording's); None before a render or when switched off.
        self.video_frames: np.ndarray | None = None
        self.video_fps = 8.0
        self.show_video = True
        self._shown_frame = -1
        self._render_dir = Path(tempfile.mkdtemp(prefix="spa2v-render-"))
        self._settings = studio_settings()
        self._wire()
        # "Remember in the OS keyring" is the user's preference, not the project's.
        self.planner.remember_check.setChecked(self.planner.keyring_available and str(
            self._settings.value(REMEMBER_KEY_SETTING, "false")).lower() == "true")
        self.refresh()

    # --- wiring -------------------------------------------------------------------------------------

    def _wire(self) -> None:
        doc = self.document
        doc.layoutChanged.connect(self.refresh)
        doc.timeChanged.connect(self._refresh_time)
        doc.selectionChanged.connect(self._on_document_selection)
        doc.objectStateChanged.connect(lambda _id: self.refresh())
        doc.editRefused.connect(self._on_refused)
        # Undo and redo return to the frame where the change was made: the audio goes there too.
        doc.undo_stack.indexChanged.connect(self._after_undo_step)

        self.canvas.boxChanged.connect(self._on_box_changed)
        self.canvas.boxDrawn.connect(self._on_box_drawn)
        self.canvas.deleteRequested.connect(self._on_delete)
        self.canvas.selectionChanged.connect(doc.set_selected)
        self.canvas.nudgeRequested.connect(lambda oid, dx, dy: self._edit(doc.nudge(dx, dy)))
        self.canvas.renameRequested.connect(self.objects.edit_label)

        self.timeline.timeChanged.connect(self.seekRequested)
        self.timeline.objectClicked.connect(doc.set_selected)
        self.objects.selectionChanged.connect(doc.set_selected)
        self.objects.renameRequested.connect(lambda oid, name: self._edit(doc.rename(oid, name)))
        self.objects.colourRequested.connect(lambda oid, colour: self._edit(doc.set_colour(oid, colour.name())))
        self.objects.visibilityToggled.connect(doc.set_visible)
        self.objects.lockToggled.connect(doc.set_locked)
        self.objects.deleteRequested.connect(lambda oid: self._edit(doc.delete_object(oid)))
        self.objects.addRequested.connect(lambda: self.canvas.set_draw_mode(True))
        self.objects.sourceRequested.connect(self.set_stands_for)
        self.captions.videoCaptionEdited.connect(lambda text: self._edit(doc.set_video_caption(text)))
        self.captions.keyframeCaptionEdited.connect(lambda index, text: self._edit(doc.set_caption(index, text)))

        self.planner.planRequested.connect(self.plan)
        self.planner.reviseRequested.connect(self.revise)
        self.planner.cancelRequested.connect(self.plan_runner.cancel)
        self.planner.rememberKeyChanged.connect(self._on_remember_key)
        self.plan_runner.progressChanged.connect(lambda p: self.planner.set_progress(p, None))
        self.plan_runner.statusChanged.connect(self.planner.set_status)
        self.plan_runner.resultReady.connect(self._on_plan)
        self.plan_runner.failed.connect(lambda exc: self._on_failed("Plan", exc, self.planner))
        self.plan_runner.cancelled.connect(lambda: self._on_cancelled("Plan", self.planner))

        self.render.renderRequested.connect(self.start_render)
        self.render.loadRequested.connect(self.load_models)
        self.render.cancelRequested.connect(self.render_runner.cancel)
        self.render.openVideoRequested.connect(lambda path: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        self.render.exportRequested.connect(self.export_video)
        self.render_runner.progressChanged.connect(lambda p: self.render.set_progress(p, None))
        self.render_runner.statusChanged.connect(self.render.set_status)
        self.render_runner.partialResult.connect(self._on_preview)
        self.render_runner.resultReady.connect(self._on_render_runner_result)
        self.render_runner.failed.connect(lambda exc: self._on_failed("Render", exc, self.render))
        self.render_runner.cancelled.connect(lambda: self._on_cancelled("Render", self.render))

    def _edit(self, accepted: Any) -> None:
        if accepted is False:
            self.refresh()  # the view shows what the document kept

    @Slot(str)
    def _on_refused(self, reason: str) -> None:
        self.statusMessage.emit(reason)
        self.log_panel.add(reason, "warning")

    @Slot(int)
    def _after_undo_step(self, _index: int) -> None:
        self.seekRequested.emit(self.document.time_s)

    # --- the recording and the clock ----------------------------------------------------------------

    def set_recording(self, path: Path | None, analysis: Any, duration_s: float) -> None:
        """The recording the layout belongs to (planning reads it; renders carry its sound)."""
        self.audio_path = Path(path) if path is not None else None
        self.analysis = analysis
        self.duration_s = float(duration_s)
        sources = getattr(analysis, "sources", None)
        self.checker = Checker(analysis) if sources else None
        self.check_report = None
        self._choices_offscreen = None  # the Objects dock's sources to choose from are listed anew
        self.refresh()

    def follow_sounds(self) -> bool:
        """Put each object on the keyframes where the source it stands for (the check's matching) is heard,
        and take it off the others: one undoable command; says what happened in the status line."""
        layout = self.document.layout
        if layout is None or self.checker is None or not self.events:
            self.statusMessage.emit("Open a recording and plan first: objects follow the sounds measured in it.")
            return False
        spans = {entry.source_id: list(entry.intervals) for entry in self.events}
        # The matching of the check made when the layout last changed (_refresh_layout).
        sounding = {object_id: spans.get(source_id, []) for object_id, source_id in self.checker.matches.items()}
        before = layout
        self._edit(self.document.follow_sounds(sounding))
        changed = self.document.layout is not before
        self.statusMessage.emit("Objects now appear while their sound is heard (undo to go back)." if changed
                                else "Every object already appears exactly while its sound is heard.")
        return changed

    def saved_matches(self) -> list[tuple[int, int, float]]:
        """Which source each object stands for, as a project keeps it (see Checker.saved_matches); [] without a
        check."""
        return self.checker.saved_matches() if self.checker is not None else []

    def restore_matches(self, saved: Sequence[tuple[int, int, float]]) -> None:
        """Take up the matching a project was saved with, before its layout is shown: the boxes a user dragged
        away from their sounds stay the flagged ones."""
        if self.checker is not None:
            self.checker.restore(saved)

    def set_stands_for(self, object_id: int, source_id: int | None) -> None:
        """The user says which measured source ``object_id`` stands for (None: match it automatically again): one
        undoable step; the check then compares its boxes with that source, and an object that stood for it is
        matched anew among the others."""
        if self.checker is None or self.document.layout is None:
            return
        name = self.document.layout.names_by_id().get(object_id, f"object {object_id}")
        before = self.checker.matches.get(object_id)
        text = (f"{name} stands for source #{source_id}" if source_id is not None
                else f"{name} is matched to a sound automatically")
        self.document.undo_stack.push(_StandsFor(self, object_id, before, source_id, text))
        self.statusMessage.emit(f"{text[0].upper()}{text[1:]} (undo to go back).")

    def _assign_source(self, object_id: int, source_id: int | None) -> None:
        if self.checker is None:
            return
        try:
            self.checker.assign(object_id, source_id)
        except InputError as exc:  # an undo step from before the recording was heard again: its sources are gone
            self.statusMessage.emit(f"Not matched: {exc}")
            return
        self.refresh()

    def objects_of_source(self, source_id: int) -> list[int]:
        """The objects the consistency check matched to measured source ``source_id`` (none without a check)."""
        if self.checker is None:
            return []
        return [object_id for object_id, matched in self.checker.matches.items() if matched == source_id]

    def set_time(self, time_s: float) -> None:
        """The audio's playhead moved: show the boxes of that moment."""
        self.document.set_time(float(time_s))

    # --- refreshing the views from the document ------------------------------------------------------

    def _frame_boxes(self, layout: VideoLayout, time_s: float, checked: bool = False) -> list[CanvasBox]:
        """The boxes shown at ``time_s``; ``checked``: with the consistency check's verdict on each (the frame
        on screen; the onion-skin frames around it go without)."""
        doc = self.document
        frame = boxes_at(layout, time_s)
        verdicts: dict[int, KeyframeCheck] = {}
        sounding: set[int] = set()
        if checked and self.checker is not None and self.check_report is not None:
            # Against the matching of the check made when the layout last changed (_refresh_layout): the
            # playhead path only compares this frame's boxes.
            verdicts = {b.id: self.checker.box_check(b.id, b.box, time_s) for b in frame}
            if self._shared_labels:
                sounding = sounding_objects(layout, self.analysis, [time_s])[float(time_s)]
        return [
            CanvasBox(b.id, b.name, b.box, doc.colour(b.id), b.is_keyframe, doc.is_locked(b.id), doc.is_visible(b.id),
                      flag=self._frame_flag(verdicts.get(b.id)), sounding=b.id in sounding)
            for b in frame
        ]

    def _frame_flag(self, verdict: KeyframeCheck | None) -> str:
        """What the box on screen gets wrong, in one sentence ("" when it agrees or was not checked)."""
        if verdict is None or verdict.agrees:
            return ""
        if verdict.source_azimuth_deg is None:
            return "This box matches no measured source: no sound is heard where it stands."
        direction = BoxDirection(verdict.box_azimuth_deg, verdict.edge).describe()
        return (f"At {verdict.time_s:.2f} s this box is {direction}, but its sound is heard at "
                f"{verdict.source_azimuth_deg:+.0f}°.")

    @Slot()
    def refresh(self) -> None:
        """Every view from the document: what depends on the layout, then what depends on the time."""
        layout = self.document.layout
        if layout is None:
            self.canvas.set_boxes([])
            self.timeline.set_duration(max(self.duration_s, 0.1))
            self.timeline.set_keyframes([])
            self.timeline.set_lanes([])
            self.objects.set_rows([])
            self.captions.clear()
            return
        self._refresh_layout(layout)
        self._refresh_time()

    def _refresh_layout(self, layout: VideoLayout) -> None:
        """What changes only with the layout or the objects' display: frame size, box paths, timeline lanes,
        the consistency check (live while a box is dragged: each step of a drag changes the layout)."""
        doc = self.document
        self.check_report = self.checker.check(layout) if self.checker is not None else None
        offscreen = frozenset(layout.offscreen_source_ids())
        if offscreen != self._choices_offscreen:  # the sources to choose from change with these only (and the
            self._choices_offscreen = offscreen   # recording: set_recording), not with each step of a drag
            self.objects.set_source_choices([] if self.checker is None else [
                (source.id, f"#{source.id}: {source.side.value}, {source.motion.value.replace('_', ' ')} "
                            f"({source.azimuth_start_deg:+.0f}° → {source.azimuth_end_deg:+.0f}°)")
                for source in self.analysis.sources if source.id not in offscreen])
        self._shared_labels = bool(shared_label_groups(layout))
        self.canvas.set_canvas_size(layout.canvas.width, layout.canvas.height, RENDER_ASPECT)
        paths: dict[int, list[tuple[float, float]]] = {}
        for frame in boxes_at_times(layout, np.linspace(0.0, layout.duration_s, 41)):
            for b in frame:
                paths.setdefault(b.id, []).append(((b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2))
        self.canvas.set_paths(paths, {object_id: doc.colour(object_id) for object_id in paths})
        self.timeline.set_duration(layout.duration_s)
        self.timeline.set_keyframes(list(layout.times))
        lanes = []
        for object_id, appearances in layout.objects_by_id().items():
            kf_times = tuple(layout.keyframes[k].time_s for k, _ in appearances)
            spans = tuple(
                (layout.keyframes[a].time_s, layout.keyframes[b].time_s)
                for (a, _), (b, _) in itertools.pairwise(appearances) if b == a + 1
            ) or tuple((kt, kt) for kt in kf_times)
            lanes.append(Lane(object_id, appearances[0][1].name, doc.colour(object_id), kf_times, spans))
        self.timeline.set_lanes(lanes)

    @Slot()
    def _refresh_time(self) -> None:
        """What changes as the playhead moves (the playback path: kept to the boxes of two nearby frames)."""
        doc = self.document
        layout = doc.layout
        if layout is None:
            return
        t = doc.time_s
        current = self._frame_boxes(layout, t, checked=True)
        self.canvas.set_boxes(current)
        step = 1.0 / 8.0
        self.canvas.set_onion(self._frame_boxes(layout, max(0.0, t - step)),
                              self._frame_boxes(layout, min(layout.duration_s, t + step)))
        self.canvas.set_selected(doc.selected)
        self._show_video_frame()
        on_screen = {b.object_id for b in current}
        checks = {c.id: c for c in self.check_report.objects} if self.check_report is not None else {}
        self.objects.set_rows([
            ObjectRow(object_id, name, doc.colour(object_id), doc.is_visible(object_id), doc.is_locked(object_id),
                      object_id in on_screen,
                      flags=tuple(checks[object_id].flags) if object_id in checks else None,
                      source_id=checks[object_id].source_id if object_id in checks else None,
                      faint_source=object_id in checks and checks[object_id].faint_source)
            for object_id, name in layout.names_by_id().items()
        ])
        self.objects.set_selected(doc.selected)
        self.timeline.set_time(t)
        self.timeline.set_selected(doc.selected)
        index = doc.keyframe_index()
        self.captions.set_captions(layout.video_caption, index,
                                   layout.keyframes[index].caption if index is not None else "",
                                   layout.keyframes[index].time_s if index is not None else None)

    @Slot(object)
    def _on_document_selection(self, object_id: Any) -> None:
        self.canvas.set_selected(object_id)
        self.timeline.set_selected(object_id)
        self.objects.set_selected(object_id)

    # --- canvas edits ---------------------------------------------------------------------------------

    @Slot(int, tuple, bool)
    def _on_box_changed(self, object_id: int, box: tuple, finished: bool) -> None:
        self._edit(self.document.move_box(object_id, tuple(box), finished))

    @Slot(tuple)
    def _on_box_drawn(self, box: tuple) -> None:
        if self.document.layout is None:
            self.statusMessage.emit("Plan a layout first (or open one): boxes belong to a layout.")
            return
        self.document.add_object("object", tuple(box))

    @Slot(int)
    def _on_delete(self, object_id: int) -> None:
        self._edit(self.document.remove_object_at(object_id))

    # --- planning -------------------------------------------------------------------------------------

    @Slot(object)
    def plan(self, settings: Any, initial: bool = False) -> None:
        """Plan in the background; ``initial``: the first layout of a recording (not an undoable change)."""
        if self.audio_path is None:
            self.statusMessage.emit("Open a recording first: the planner plans from its sound.")
            return
        self._initial_plan = initial
        self.planner.set_busy(True)
        self.plan_runner.start(plan_task(self.audio_path, self.analysis, settings, api_key=self.planner.api_key(),
                                         events=self._events_for_planning()))

    @Slot(bool)
    def _on_remember_key(self, remember: bool) -> None:
        """The preference is kept; unticking removes the provider's key from the OS keyring (in a thread: a
        keyring may take a while to answer). Ticking keeps the key with the next plan, in the plan's worker."""
        self._settings.setValue(REMEMBER_KEY_SETTING, bool(remember))
        self._settings.sync()
        provider = self.planner.settings().provider
        if remember:
            self.log_panel.add(f"The {provider} key will be kept in the OS keyring with the next plan.")
        else:
            threading.Thread(target=remember_api_key, args=(provider, None), name="keyring-forget",
                             daemon=True).start()
            self.log_panel.add(f"The {provider} key is removed from the OS keyring.")

    @Slot(str)
    def revise(self, request: str) -> None:
        if self.document.layout is None or self.audio_path is None:
            self.statusMessage.emit("Plan a layout first: a revision changes an existing layout.")
            return
        self.planner.set_busy(True)
        self._initial_plan = False
        self.plan_runner.start(revise_task(self.document.layout, request, self.audio_path, self.analysis,
                                           self.planner.settings(), api_key=self.planner.api_key(),
                                           events=self._events_for_planning()))

    def _events_for_planning(self) -> list[Any] | None:
        """The events found with the analysis, so the plan does not find them again (None: it finds them)."""
        return self.events if self.events and self.analysis is not None else None

    @Slot(object)
    def _on_plan(self, outcome: PlanOutcome) -> None:
        self.planner.set_busy(False)
        if self.checker is not None:
            self.checker.match(outcome.layout)  # a new plan: its objects are matched afresh
        if self._initial_plan:
            self.document.set_layout(outcome.layout, clean=True)
        else:
            self.document.replace_layout(outcome.layout)
        self._initial_plan = False
        self.planner.set_reasoning(outcome.reasoning, outcome.repairs)
        n_objects = len(outcome.layout.object_ids())
        self.log_panel.add(f"Plan: {n_objects} object(s) over {len(outcome.layout.keyframes)} keyframes"
                           + (" (from the cache)" if outcome.from_cache else ""))
        if outcome.repairs:
            self.log_panel.add("Plan: repaired the answer: " + "; ".join(outcome.repairs), "warning")
        self.statusMessage.emit("Planned: edit the boxes, then render (undo returns to the layout before).")

    # --- rendering ------------------------------------------------------------------------------------

    @Slot(object)
    def start_render(self, form: Any) -> None:
        layout = self.document.layout
        if layout is None:
            self.statusMessage.emit("Plan a layout first: a render draws a layout.")
            return
        try:
            request = request_from_form(layout, form)
        except Exception as exc:  # an InputError names the bad value
            self._on_failed("Render", exc, self.render)
            return
        self.render.clear_previews()
        self.render.set_busy(True)
        out = self._render_dir / f"render-{len(list(self._render_dir.glob('*.mp4'))) + 1:03d}.mp4"
        self.render_runner.start(render_task(request, form.generator, out, self.audio_path, cache=self.generators))

    def _show_video_frame(self) -> None:
        """The rendered frame at the playhead under the boxes (only when it changes)."""
        frames = self.video_frames
        if frames is None or not self.show_video:
            return
        index = min(max(int(self.document.time_s * self.video_fps), 0), len(frames) - 1)
        if index != self._shown_frame:
            self._shown_frame = index
            self.canvas.set_background(rgb_image(frames[index]))

    def set_show_video(self, on: bool) -> None:
        """Show the rendered video on the canvas (True) or only the boxes (False)."""
        self.show_video = bool(on)
        self._shown_frame = -1
        if not on:
            self.canvas.set_background(None)
        self._show_video_frame()

    @Slot(object)
    def _on_preview(self, preview: Any) -> None:
        if not isinstance(preview, PreviewFrames):
            return
        self.render.show_preview(preview.step, preview.frames)
        # The canvas shows the frame forming at the playhead under the boxes.
        layout = self.document.layout
        frames = preview.frames
        if layout is not None and len(frames):
            index = round(self.document.time_s / max(layout.duration_s, 1e-9) * (len(frames) - 1))
            self.canvas.set_background(rgb_image(frames[min(max(index, 0), len(frames) - 1)]))

    @Slot(object)
    @Slot(object)
    def load_models(self, form: Any) -> None:
        """Make the diffusion models of the panel's settings ready, in the background on the render runner
        (a render started meanwhile cancels it, as one render cancels another)."""
        self.render.set_busy(True)
        self.render.set_status("Loading the models…")
        self.render_runner.start(load_model_task(self.generators, render_options(form)))

    def _on_render_runner_result(self, result: Any) -> None:
        if isinstance(result, LoadedModel):
            self.render.set_busy(False)
            how = "already loaded" if result.reused else f"loaded in {result.seconds:.1f} s"
            text = f"Models ready ({how}): {result.model} with {result.motion_adapter} on {result.device}"
            self.render.set_progress(100, text)
            self.log_panel.add(text)
            self.statusMessage.emit(text)
        else:
            self._on_render(result)

    def _on_render(self, outcome: RenderOutcome) -> None:
        self.render.set_busy(False)
        self.last_video = Path(outcome.out_path)
        self.render.set_finished(str(outcome.out_path))
        frames = outcome.summary.get("frames_array")
        if frames is None:
            frames = _decode_video(Path(outcome.out_path))
        self.video_frames, self.video_fps = frames, float(outcome.summary.get("fps") or 8.0)
        self._shown_frame = -1
        self._show_video_frame()
        for note in outcome.notes:
            self.log_panel.add(f"Render: {note}", "warning")
        summary = outcome.summary
        self.log_panel.add(f"Render: {summary.get('frames')} frames with the {summary.get('generator')} generator "
                           f"in {summary.get('seconds', {}).get('total', 0):.1f} s")
        self.statusMessage.emit(f"Rendered {outcome.out_path.name}: open it or export it from the Render panel.")

    @Slot(str)
    def export_video(self, destination: str) -> None:
        if self.last_video is None or not self.last_video.exists():
            self.statusMessage.emit("Nothing rendered yet.")
            return
        try:
            shutil.copyfile(self.last_video, destination)
        except OSError as exc:
            self._on_failed("Export", exc, None)
            return
        self.log_panel.add(f"Exported the video to {destination}")

    # --- endings --------------------------------------------------------------------------------------

    def _on_failed(self, what: str, exc: BaseException, panel: Any) -> None:
        message = error_message(exc, what.lower())
        if panel is not None:
            panel.set_busy(False)
        self.log_panel.add(f"{what}: {message}", "error")
        self.statusMessage.emit(f"{what} failed: {message}")

    def _on_cancelled(self, what: str, panel: Any) -> None:
        panel.set_busy(False)
        self.log_panel.add(f"{what}: cancelled")
        self.statusMessage.emit(f"{what} cancelled.")

    def shutdown(self) -> None:
        """Stop both runners (the window is closing)."""
        self.plan_runner.shutdown()
        self.render_runner.shutdown()
        shutil.rmtree(self._render_dir, ignore_errors=True)
