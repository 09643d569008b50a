"""The studio's "Hear" window: waveform and cue plots, meters, sources, transport.

It joins the widgets of ``ui/`` to the engine through a :class:`~app.workers.TaskRunner` (analysis in
the background, so the window never freezes) and a :class:`~app.playback.Player` (the playhead moves
the cursor and the meters). A failed analysis shows one clear message and leaves what was shown before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.audition import AuditionController
from app.editor import EditorController
from app.playback import Player
from app.project_store import Autosaver, RecentFiles
from app.workers import LoadedAudio, TaskRunner, analysis_task
from engine.errors import InputError
from ui.cues import CuePlots
from ui.cursor import TimeCursor
from ui.meters import MeterPanel
from ui.planner_panel import PlanSettings
from ui.sources import SourcesTable, sounding_text
from ui.transport import Transport
from ui.waveform import WaveformView

log = logging.getLogger(__name__)

#: The Analysis → Recording kind entries: the project's ``analysis_settings.kind`` and what the menu says.
RECORDING_KIND_CHOICES: tuple[tuple[str | None, str], ...] = (
    (None, "&Detect automatically"),
    ("binaural", "&Binaural (dummy head, in-ear microphones)"),
    ("spaced", "&Spaced microphone pair"),
    ("panpot", "&Pan-pot studio mix"),
)

AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "oga", "mp3", "aif", "aiff", "w64", "caf")
VIDEO_EXTENSIONS = ("mp4", "m4a", "m4v", "mov", "mkv", "webm", "avi", "aac", "opus")
#: What File → Open opens: recordings, projects and layout files (the recording a layout names is opened with it).
LAYOUT_SUFFIX = ".vsl.json"
OPEN_FILTERS = ";;".join(
    [
        "Recordings, projects and layouts (" + " ".join(f"*.{e}" for e in AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)
        + f" *.spa2v *{LAYOUT_SUFFIX})",
        "SpA2V projects (*.spa2v)",
        f"Layouts (*{LAYOUT_SUFFIX})",
        "All files (*)",
    ]
)
FILE_FILTERS = ";;".join(
    [
        "Audio and video (" + " ".join(f"*.{e}" for e in AUDIO_EXTENSIONS + VIDEO_EXTENSIONS) + ")",
        "Audio (" + " ".join(f"*.{e}" for e in AUDIO_EXTENSIONS) + ")",
        "Video (" + " ".join(f"*.{e}" for e in VIDEO_EXTENSIONS) + ")",
        "All files (*)",
    ]
)

BANNER_STYLE = (
    "QLabel { background: #5a4a12; color: #fff4cc; border: 1px solid #8a7320; padding: 4px 8px; }"
)


class StudioWindow(QMainWindow):
    """The Hear stage: open a recording, see and hear its cues and sources.

    ``player`` and ``analyze_fn`` can be replaced (tests: a fake output stream, a fast analysis).
    """

    def __init__(
        self,
        player: Player | None = None,
        analyze_fn: Callable[..., Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("SpA2V Studio")
        self.setAcceptDrops(True)
        self.analyze_fn = analyze_fn
        self.loaded: LoadedAudio | None = None
        self.last_error: str = ""
        self.error_box: QMessageBox | None = None
        self._position_s = 0.0
        self._pending_path: Path | None = None
        #: Asked when a project's recording is not where the project says: (project file, the recording it
        #: names or None) → the recording to use instead, or None to give up. Tests replace it.
        self.locate_recording: Callable[[Path, Path | None], Path | None] = self._ask_to_locate_recording
        #: Closing with unsaved edits asks first (tests and screenshots turn it off).
        self.ask_to_save = True
        self._showing_partial = False

        self.runner = TaskRunner(self)
        self.player = player if player is not None else Player(parent=self)
        if self.player.parent() is None:
            self.player.setParent(self)

        # --- widgets ---------------------------------------------------------------------------------
        self.waveform = WaveformView()
        self.cues = CuePlots()
        self.meters = MeterPanel()
        self.sources_table = SourcesTable()
        self.transport = Transport()
        self.cursor = TimeCursor(self)
        for plot in self.waveform.plots:
            self.cues.link_x(plot)
        for plot in self.waveform.plots + self.cues.plots:
            self.cursor.attach(plot)

        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.hide()
        self.file_label = QLabel("No recording loaded. Open one (Ctrl+O) or drop a file here.")
        self.file_label.setStyleSheet("QLabel { padding: 2px 6px; font-weight: bold; }")

        plots_split = QSplitter(Qt.Orientation.Vertical)
        plots_split.addWidget(self.waveform)
        plots_split.addWidget(self.cues)
        plots_split.setStretchFactor(0, 1)
        plots_split.setStretchFactor(1, 3)
        plots_split.setSizes([220, 600])
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        left_layout.addWidget(self.file_label)
        left_layout.addWidget(self.banner)
        left_layout.addWidget(plots_split, 1)

        # Right: the layout canvas (the video frame) above the meters; below both, the timeline.
        self.editor = EditorController(self)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.editor.canvas)
        right.addWidget(self.meters)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)

        main_split = QSplitter(Qt.Orientation.Horizontal)
        main_split.addWidget(left)
        main_split.addWidget(right)
        main_split.setStretchFactor(0, 3)
        main_split.setStretchFactor(1, 2)
        main_split.setSizes([800, 600])
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(main_split)
        outer.addWidget(self.editor.timeline)
        outer.setStretchFactor(0, 4)
        outer.setStretchFactor(1, 1)
        self.setCentralWidget(outer)

        sources_box = QWidget()
        sources_layout = QVBoxLayout(sources_box)
        sources_layout.setContentsMargins(4, 4, 4, 4)
        sources_layout.addWidget(self.sources_table)
        self.docks: dict[str, QDockWidget] = {}
        for name, widget, area in (
            ("Planner", self.editor.planner, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Render", self.editor.render, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Objects", self.editor.objects, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Captions", self.editor.captions, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Sources", sources_box, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Log", self.editor.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
        ):
            dock = QDockWidget(name, self)
            dock.setObjectName(f"dock_{name.lower()}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        for name in ("Render", "Objects", "Captions", "Sources"):
            self.tabifyDockWidget(self.docks["Planner"], self.docks[name])
        self.docks["Planner"].raise_()
        self.docks["Log"].hide()

        toolbar = QToolBar("Transport")
        toolbar.setObjectName("transport")
        toolbar.setMovable(False)
        toolbar.addWidget(self.transport)
        self.addToolBar(toolbar)

        # --- status bar: message, progress, cancel ---------------------------------------------------
        self.status_label = QLabel("Ready")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the analysis (Esc)")
        self.playback_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.playback_label)
        self.statusBar().addPermanentWidget(self.progress_bar)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._set_busy(False)

        # --- actions and shortcuts -------------------------------------------------------------------
        menu_file = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Open a recording or video (Ctrl+O)")
        self.open_action.triggered.connect(self.choose_file)
        menu_file.addAction(self.open_action)
        self.save_action = QAction("&Save project", self)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setToolTip("Save the project: recording, layout, edits and settings (Ctrl+S)")
        self.save_action.triggered.connect(self.save_project)
        menu_file.addAction(self.save_action)
        save_as = QAction("Save project &as…", self)
        save_as.setShortcut(QKeySequence("Ctrl+Shift+S"))
        save_as.triggered.connect(self.save_project_as)
        menu_file.addAction(save_as)
        self.recent_menu = menu_file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu_file.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu_file.addAction(quit_action)
        menu_play = self.menuBar().addMenu("&Playback")
        self.play_action = QAction("Play / pause", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.play_action.triggered.connect(self.toggle_playback)
        menu_play.addAction(self.play_action)
        home_action = QAction("Go to start", self)
        home_action.setShortcut(QKeySequence(Qt.Key.Key_Home))
        home_action.triggered.connect(lambda: self.seek(0.0))
        menu_play.addAction(home_action)
        self.ab_action = QAction("A/B: the recording or the layout as sound", self)
        self.ab_action.setShortcut(QKeySequence("B"))
        self.ab_action.setToolTip("Switch between the recording (A) and the layout heard as spatial sound (B) (B)")
        self.ab_action.triggered.connect(lambda: self.transport.set_listening(
            "separated" if self.transport.listening == "original" else "original"))
        menu_play.addAction(self.ab_action)
        self.cancel_action = QAction("Cancel analysis", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.triggered.connect(self.cancel_analysis)
        menu_play.addAction(self.cancel_action)
        self.addAction(self.play_action)
        self.addAction(home_action)
        self.addAction(self.cancel_action)

        self._build_edit_menu()
        self._build_analysis_menu()

        # --- wiring ----------------------------------------------------------------------------------
        self.transport.openRequested.connect(self.choose_file)
        self.transport.playPauseRequested.connect(self.toggle_playback)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.waveform.seekRequested.connect(self.seek)
        self.cursor.seekRequested.connect(self.seek)
        self.sources_table.sourceSelected.connect(
            lambda sid: self.cues.highlight_source(None if sid < 0 else sid)
        )
        self.sources_table.offscreenToggled.connect(self._on_offscreen_toggled)
        self.audition = AuditionController(self.player, self)
        self.transport.listenChanged.connect(self.audition.listen)
        self.audition.statusMessage.connect(self.status_label.setText)
        self.audition.fellBack.connect(lambda: self.transport.set_listening("original"))
        self.editor.document.layoutChanged.connect(lambda: self.audition.set_layout(self.editor.document.layout))
        self.editor.document.layoutChanged.connect(self._show_offscreen)
        self.runner.statusChanged.connect(self.status_label.setText)
        self.runner.progressChanged.connect(lambda p: self.progress_bar.setValue(round(p)))
        self.runner.partialResult.connect(self._on_partial)
        self.runner.resultReady.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.player.positionChanged.connect(self._on_position)
        self.player.stateChanged.connect(self.transport.set_playing)
        self.player.availabilityChanged.connect(lambda ok, why: self._update_play_enabled())
        self.project_path: Path | None = None
        # A project being opened: it replaces what is shown only once its recording has been analysed, so a
        # recording that fails leaves the open project (its layout, its file, its autosave) as it was.
        self._pending_project: Any = None
        self._pending_recovered = False
        self._pending_is_new = False  # a layout file opened: no project file yet
        self._pending_project_path: Path | None = None
        # The project shown (as opened, or a fresh one for a recording): saving writes it with what the studio
        # shows now, and keeps what the studio has no control for (analysis settings, the last render).
        self._project: Any = None
        # Analysis settings the open recording is being heard again with (set_analysis_options); None otherwise.
        self._reanalysis: Any = None
        # The analysis settings changed since the project was opened or saved (the layout's changes are the undo
        # stack's to tell): the title shows "*" and closing asks to save.
        self._settings_unsaved = False
        self.recent = RecentFiles()
        self.autosaver = Autosaver(self._project_snapshot)
        self.editor.document.dirtyChanged.connect(self._on_dirty)
        self.editor.document.undo_stack.indexChanged.connect(lambda _i: self.autosaver.mark_dirty())
        self.editor.seekRequested.connect(self.seek)
        self.editor.statusMessage.connect(self.status_label.setText)
        self._update_play_enabled()
        self.resize(1500, 900)

    def _build_edit_menu(self) -> None:
        """Undo/redo and the editing shortcuts (CVAT / video-editor habits), each with its key in the tooltip."""
        doc = self.editor.document
        menu = self.menuBar().addMenu("&Edit")
        undo = doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        menu.addAction(undo)
        menu.addAction(redo)
        menu.addSeparator()
        entries = [
            ("Next frame", "Right", lambda: self.seek(doc.step_frame(+1))),
            ("Previous frame", "Left", lambda: self.seek(doc.step_frame(-1))),
            ("Next keyframe", ".", lambda: self.seek(doc.next_keyframe_time(self.position_s))),
            ("Previous keyframe", ",", lambda: self.seek(doc.previous_keyframe_time(self.position_s))),
            ("Go to end", "End", lambda: self.seek(self.loaded.peaks.duration_s if self.loaded else 0.0)),
            ("Toggle keyframe here", "K", doc.toggle_keyframe),
            ("Copy box", "Ctrl+C", doc.copy_box),
            ("Paste box", "Ctrl+V", doc.paste_box),
            ("Copy keyframe", "Ctrl+Shift+C", doc.copy_keyframe),
            ("Paste keyframe", "Ctrl+Shift+V", doc.paste_keyframe),
            ("Hold (same as previous keyframe)", "H", doc.hold),
            ("Propagate box to following keyframes", "P", doc.propagate),
            ("Objects follow their sounds (appear while heard)", "Ctrl+L", self.editor.follow_sounds),
            ("Draw a new box", "N", lambda: self.editor.canvas.set_draw_mode(True)),
            ("Delete the selected box", "Delete", lambda: self.editor._on_delete(doc.selected)
             if doc.selected is not None else None),
            ("Keyboard shortcuts", "?", self.show_shortcuts),
        ]
        self.shortcut_actions: list[QAction] = [undo, redo]
        for text, key, slot in entries:
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{text} ({key})")
            action.triggered.connect(slot)
            menu.addAction(action)
            self.addAction(action)
            self.shortcut_actions.append(action)
        view = self.menuBar().addMenu("&View")
        #: The view toggles a project keeps (EditState.onion, EditState.paths).
        self.view_actions: dict[str, QAction] = {}
        for name, text, key, toggle, on in (
            ("onion", "Onion skin (neighbouring frames)", "O", self.editor.canvas.show_onion, False),
            ("paths", "Paths of the box centres", "Shift+P", self.editor.canvas.show_paths, True),
            ("video", "Rendered video under the boxes", "V", self.editor.set_show_video, True),
        ):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(on)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{text} ({key})")
            action.toggled.connect(toggle)
            toggle(action.isChecked())
            self.view_actions[name] = action
            view.addAction(action)
            self.addAction(action)
            self.shortcut_actions.append(action)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

    def _build_analysis_menu(self) -> None:
        """How the recording was made, when the detection gets it wrong: the recording kind and a pair's spacing."""
        menu = self.menuBar().addMenu("&Analysis")
        kinds = menu.addMenu("Recording &kind")
        group = QActionGroup(self)
        # One entry ticked at most: a project may also force "mono", which has no entry (nothing ticked then).
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        #: kind (None: detect) -> its menu entry.
        self.kind_actions: dict[str | None, QAction] = {}
        for kind, text in RECORDING_KIND_CHOICES:
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(kind is None)
            action.triggered.connect(lambda _checked=False, k=kind: self.set_analysis_options(kind=k))
            group.addAction(action)
            kinds.addAction(action)
            self.kind_actions[kind] = action
        spacing = QAction("Microphone &spacing of a spaced pair…", self)
        spacing.triggered.connect(self.ask_spacing)
        menu.addAction(spacing)

    def _show_analysis_options(self) -> None:
        """Tick the recording kind the project says (None: detected)."""
        kind = None if self._project is None else self._project.analysis_settings.kind
        for choice, action in self.kind_actions.items():
            action.setChecked(choice == kind)

    @Slot()
    def ask_spacing(self) -> None:
        """Ask for a spaced pair's microphone distance (cm), then hear the recording again with it."""
        from engine.audio.model import DEFAULT_SPACING_M, SPACING_RANGE_M

        spacing_m = DEFAULT_SPACING_M if self._project is None else self._project.analysis_settings.spacing_m
        low, high = (100 * m for m in SPACING_RANGE_M)
        value, ok = QInputDialog.getDouble(self, "Microphone spacing",
                                           "Distance between the two microphones of a spaced pair (cm):",
                                           100 * spacing_m, low, high, 1)
        if ok:
            self.set_analysis_options(spacing_m=value / 100.0)

    def set_analysis_options(self, **changes: Any) -> None:
        """Hear the open recording again with changed analysis settings (``kind``: a RecordingKind value, None to
        detect it; ``spacing_m``). The layout stays and is checked against the new sources; the project keeps the
        settings. Runs in the background like any analysis, and can be cancelled (nothing changes then)."""
        from engine.project import Project

        if self.loaded is None:
            self.status_label.setText("Open a recording first: the recording kind says how it was made.")
            self._show_analysis_options()
            return
        if self.runner.busy:
            self.status_label.setText("An analysis is under way: wait for it, or cancel it (Esc), first.")
            self._show_analysis_options()
            return
        project = self._project or Project.new(self.loaded.path)
        try:
            options = project.analysis_settings.replaced(**changes)
        except ValueError as exc:
            self.show_error(f"Those analysis settings cannot be used: {exc}")
            self._show_analysis_options()
            return
        if options == project.analysis_settings:
            self._show_analysis_options()
            return  # heard that way already
        self._reanalysis = options
        self._pending_path = self.loaded.path
        log.info("analysing %s again with %s", self.loaded.path, changes)
        self.runner.start(analysis_task(self.loaded.path, analyze_fn=self.analyze_fn, settings=options.to_engine()))
        self._set_busy(True)
        how = "detecting its kind" if options.kind is None else f"as a {options.kind} recording"
        self.status_label.setText(f"Hearing {self.loaded.path.name} again, {how}…")

    def shortcuts_text(self) -> str:
        """Every shortcut of the window, one per line (the cheat sheet)."""
        lines = [f"{a.text().replace('&', ''):<28} {a.shortcut().toString()}" for a in self.shortcut_actions]
        lines += [f"{'Play / pause':<28} Space", f"{'Open':<28} Ctrl+O",
                  f"{'Nudge the selected box':<28} arrows (Shift: 10 px)",
                  f"{'Resize keeping the aspect':<28} Shift + drag a handle",
                  f"{'Resize from the centre':<28} Alt + drag a handle", f"{'No snapping':<28} Ctrl + drag"]
        return "\n".join(lines)

    @Slot()
    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", self.shortcuts_text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setStyleSheet("QLabel { font-family: monospace; }")
        box.open()

    # --- opening files -------------------------------------------------------------------------------

    @Slot()
    def choose_file(self) -> None:
        start = str(self.loaded.path.parent) if self.loaded else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording, a project or a layout", start, OPEN_FILTERS)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        """Open a recording (analysed in the background), a ``.spa2v`` project or a ``.vsl.json`` layout; errors are
        one clear message."""
        path = Path(path)
        if path.suffix.lower() == ".spa2v":
            self.open_project(path)
            return
        if path.name.lower().endswith(LAYOUT_SUFFIX):
            self.open_layout(path)
            return
        self._pending_project, self._pending_project_path = None, None
        self._pending_recovered = False
        self._pending_is_new = False
        self._open_recording(path)

    def _open_recording(self, path: Path) -> None:
        self._pending_path = path
        log.info("opening %s", path)
        # A project's recording is heard as the project says (a forced recording kind, a pair's spacing).
        project = self._pending_project
        settings = None if project is None else project.analysis_settings.to_engine()
        self.runner.start(analysis_task(path, analyze_fn=self.analyze_fn, settings=settings))
        self._set_busy(True)
        self.status_label.setText(f"Opening {path.name}…")

    @Slot()
    def cancel_analysis(self) -> None:
        if self.runner.busy:
            self.runner.cancel()

    def _set_busy(self, busy: bool) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress_bar.setValue(0)

    @Slot(object)
    def _on_partial(self, partial: LoadedAudio) -> None:
        # The waveform of the new file can be drawn while its cues are measured.
        self._showing_partial = True
        self.waveform.set_peaks(partial.peaks)

    @Slot(object)
    def _on_result(self, loaded: LoadedAudio) -> None:
        self._set_busy(False)
        self._showing_partial = False
        self.show_loaded(loaded)
        count = len(loaded.analysis.sources)
        self.status_label.setText(
            f"{loaded.path.name}: {loaded.analysis.duration_s:.1f} s, {loaded.audio.sample_rate} Hz, "
            f"{count} source{'s' if count != 1 else ''}"
        )

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self._drop_pending()
        name = self._pending_path.name if self._pending_path else "the file"
        if isinstance(exc, InputError):
            message = str(exc)
            log.warning("cannot open %s: %s", name, message)
        else:
            detail = getattr(exc, "__traceback_text__", "")
            log.error("analysis of %s failed:\n%s", name, detail or repr(exc))
            message = (
                f"The analysis of {name} failed because of an internal error "
                f"({type(exc).__name__}: {exc}). Details are in the log file."
            )
        self.status_label.setText(f"Could not open {name}")
        self.show_error(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._drop_pending()
        self.status_label.setText("Analysis cancelled")

    def _drop_pending(self) -> None:
        """An analysis failed or was cancelled: show what was open before, and forget what was about to open."""
        self._set_busy(False)
        self._restore_previous()
        self._reanalysis = None
        self._show_analysis_options()
        self._pending_project, self._pending_project_path = None, None
        self._pending_recovered = False
        self._pending_is_new = False

    def _restore_previous(self) -> None:
        if self._showing_partial:
            self._showing_partial = False
            self.waveform.set_peaks(self.loaded.peaks if self.loaded else None)

    def show_error(self, message: str) -> None:
        """One non-blocking dialog; a second error replaces the text of a dialog still open."""
        self.last_error = message
        if self.error_box is not None and self.error_box.isVisible():
            self.error_box.setText(message)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "SpA2V Studio", message, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box = box
        box.open()

    def _on_offscreen_toggled(self, source_id: int, offscreen: bool) -> None:
        """The user ticked a source off screen (or back on): one undoable edit of the layout. A sound heard but
        not seen has no box: the object that stood for it (the check's matching) is removed and its label
        names the off-screen entry."""
        doc = self.editor.document
        layout = doc.layout
        if layout is None:
            self.sources_table.set_offscreen(frozenset())
            self.status_label.setText("Plan a layout first: off-screen sounds are part of the layout.")
            return
        if not offscreen:
            doc.set_offscreen(source_id, False)
            return
        shown_for = self.editor.objects_of_source(source_id)
        names = layout.names_by_id()
        label = names[shown_for[0]] if shown_for else ""
        doc.undo_stack.beginMacro("Mark sound off screen")
        for object_id in shown_for:
            doc.delete_object(object_id)
        doc.set_offscreen(source_id, True, label)
        doc.undo_stack.endMacro()
        what = f"“{label}”" if label else f"Source #{source_id}"
        self.status_label.setText(f"{what} is now heard off screen" + (": its box is gone (undo to keep it)."
                                                                       if shown_for else "."))

    def _show_offscreen(self) -> None:
        layout = self.editor.document.layout
        self.sources_table.set_offscreen(frozenset() if layout is None else layout.offscreen_source_ids())

    def show_loaded(self, loaded: LoadedAudio) -> None:
        """Show a fully analysed recording (replaces what was shown)."""
        analysis = loaded.analysis
        project, self._pending_project = self._pending_project, None
        project_path, self._pending_project_path = self._pending_project_path, None
        is_new, self._pending_is_new = self._pending_is_new, False
        # The same recording heard again with other analysis settings (set_analysis_options): same place in it.
        reheard = project is None and self._reanalysis is not None and self._project is not None
        resume_s = self.position_s if reheard else 0.0
        if is_new:  # saving asks where, and never writes over the project that was open
            self.project_path = None
            self.autosaver.set_project_path(None)
        if project is not None:
            # The project's own layout follows (_show_project); the one shown so far belongs to what was open.
            self.editor.document.set_layout(None)
            self._project = project
        elif reheard:
            self._project = self._project.replaced(analysis_settings=self._reanalysis)
            self.autosaver.mark_dirty()
        else:
            from engine.project import Project

            self._project = Project.new(loaded.path)
        self._settings_unsaved = reheard
        self._reanalysis = None
        self._show_analysis_options()
        if project_path is not None:
            self.project_path = project_path
            self.recent.add(project_path)
            self.autosaver.set_project_path(project_path)
        self.loaded = loaded
        self.player.load(loaded.audio)
        self.waveform.set_peaks(loaded.peaks)
        self.cues.set_analysis(analysis)
        self.meters.set_analysis(analysis)
        layout = self.editor.document.layout
        events = loaded.events or []
        self.cues.set_events(events)
        self.editor.events = list(events)
        self.audition.set_recording(loaded.audio, analysis, loaded.path)
        self.sources_table.set_sources(analysis.sources,
                                       frozenset() if layout is None else layout.offscreen_source_ids(),
                                       sounds={e.source_id: sounding_text(e.intervals) for e in events})
        self.transport.set_duration(loaded.peaks.duration_s)
        warnings = list(dict.fromkeys([*loaded.audio.warnings, *analysis.warnings]))
        self.banner.setText("⚠ " + "\n⚠ ".join(warnings) if warnings else "")
        self.banner.setVisible(bool(warnings))
        forced = self._project.analysis_settings.kind
        self.file_label.setText(
            f"{loaded.path.name} — {loaded.audio.sample_rate} Hz, {loaded.audio.channels} ch, "
            f"{getattr(analysis.kind, 'value', analysis.kind)} recording "
            f"({'detected' if forced is None else 'as set in Analysis → Recording kind'})"
        )
        self._update_title()
        self._update_play_enabled()
        self._set_position(resume_s, smooth=False)
        if reheard and self.player.available and self.player.has_source:
            self.player.seek(resume_s)
        self.editor.set_recording(loaded.path, analysis, loaded.peaks.duration_s)
        if project is not None:
            self._show_project(project)
        elif self.editor.document.layout is None:
            # A first layout straight away, from the measured tracks (no network): something to edit and render.
            self.editor.plan(PlanSettings(), initial=True)

    # --- projects -------------------------------------------------------------------------------------

    def open_project(self, path: str | Path) -> None:
        """Load a ``.spa2v`` project: its recording is analysed, then its layout and edit state are shown.

        A bad project file, or a recording that cannot be analysed, shows one message and leaves what is open
        as it was. A recording that is not where the project says is offered to be located
        (:attr:`locate_recording`); the project then uses the file chosen (saving it keeps that).
        """
        from engine.project import load_project

        path = Path(path)
        try:
            project, warnings = load_project(path)
        except InputError as exc:
            self.show_error(str(exc))
            return
        for warning in warnings:
            self.editor.log_panel.add(f"{path.name}: {warning}", "warning")
        if project.audio is None or project.audio_missing:
            located = self.locate_recording(path, project.audio)
            if located is None:
                missing = ("names no recording" if project.audio is None
                           else f"names {project.audio}, which is not there")
                self.show_error(f"{path.name}: the project {missing}; open it again and locate the recording, or "
                                "open the recording (File → Open) and save the project again to point it there.")
                return
            project = project.replaced(audio=Path(located).absolute())
            self.editor.log_panel.add(f"{path.name}: the recording is now {project.audio}; save the project to "
                                      "keep it there", "info")
        self._pending_project = project
        self._pending_project_path = path
        self._open_recording(project.audio)

    def open_layout(self, path: str | Path) -> None:
        """Open a ``.vsl.json`` layout (from ``plan --out``, an edit by hand, another tool) on the recording it
        names: the recording is analysed, then the layout shown and checked, as a new unsaved project.

        A bad layout file shows one message naming the field and leaves what is open as it was; a recording that
        is not there is offered to be located (:attr:`locate_recording`).
        """
        from engine.layout.model import load_vsl
        from engine.project import Project

        path = Path(path)
        try:
            layout = load_vsl(path)
        except InputError as exc:
            self.show_error(str(exc))
            return
        audio = layout.audio_path(path)
        if audio is None or not audio.is_file():
            located = self.locate_recording(path, audio)
            if located is None:
                missing = "names no recording" if audio is None else f"names {audio}, which is not there"
                self.show_error(f"{path.name}: the layout {missing}; open it again and locate the recording, or "
                                "open the recording (File → Open) and plan there.")
                return
            audio = Path(located).absolute()
        self._pending_project = Project.new(audio, layout=layout,
                                            planner={"keyframes": max(1, len(layout.keyframes))})
        self._pending_project_path = None
        self._pending_recovered = False
        self._pending_is_new = True
        self.editor.log_panel.add(f"{path.name}: layout opened on {audio.name}; save it as a project to keep the "
                                  "edits and settings together", "info")
        self._open_recording(audio)

    def _ask_to_locate_recording(self, project_path: Path, audio: Path | None) -> Path | None:
        """Ask whether to look for the missing recording of a project or layout file, then for the file; None when
        declined."""
        where = "names no recording" if audio is None else f"names the recording\n{audio}\nwhich is not there"
        answer = QMessageBox.question(
            self, "SpA2V Studio", f"{project_path.name} {where}.\n\nLocate the recording?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return None
        start = str(audio.parent if audio is not None and audio.parent.is_dir() else project_path.parent)
        chosen, _ = QFileDialog.getOpenFileName(self, f"Locate {audio.name if audio else 'the recording'}", start,
                                                FILE_FILTERS)
        return Path(chosen) if chosen else None

    def offer_recovery(self) -> bool:
        """After a crash: offer to restore the newest autosaved project; True when one is being restored."""
        from app.project_store import discard_recovery, recovery_files

        entries = recovery_files()
        if not entries:
            return False
        entry = entries[0]
        answer = QMessageBox.question(
            self, "SpA2V Studio",
            f"SpA2V Studio did not close cleanly. Restore the autosaved “{entry.title}” from "
            f"{entry.saved_at:%Y-%m-%d %H:%M}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            discard_recovery(entry)
            return False
        try:
            project, warnings = entry.load()
        except InputError as exc:
            self.show_error(str(exc))
            return False
        for warning in warnings:
            self.editor.log_panel.add(f"recovery: {warning}", "warning")
        if project.audio is None or project.audio_missing:
            located = self.locate_recording(entry.original_path or Path(entry.title), project.audio)
            if located is None:
                self.show_error(f"The autosaved project's recording {project.audio} is not there any more; "
                                "restore it again and locate the recording, or open the recording and plan anew.")
                return False
            project = project.replaced(audio=Path(located).absolute())
            self.editor.log_panel.add(f"recovery: the recording is now {project.audio}", "info")
        self.project_path = entry.original_path
        self.autosaver.adopt(entry)
        self._pending_project = project
        # Restored work is not saved work: the document stays unsaved until the user saves it, so closing asks.
        self._pending_recovered = True
        self._open_recording(project.audio)
        return True

    def _show_project(self, project: Any) -> None:
        doc = self.editor.document
        recovered, self._pending_recovered = self._pending_recovered, False
        self.editor.restore_matches(project.edit_state.saved_matches())
        doc.set_layout(project.layout, clean=not recovered)
        if project.layout is not None:
            self.editor.planner.set_reasoning(project.layout.reasoning)
        from app.project_settings import plan_settings, render_form

        # The "remember the key" and render device choices are the user's on this machine, not the project's.
        self.editor.planner.set_settings(plan_settings(project.planner,
                                                       remember_key=self.editor.planner.settings().remember_key))
        self.editor.render.set_settings(render_form(project.render, device=self.editor.render.settings().device))
        for object_id, view in project.edit_state.objects.items():
            if view.colour:
                doc.set_colour(object_id, view.colour)
            doc.set_visible(object_id, view.visible)
            doc.set_locked(object_id, view.locked)
        selected = [i for i in project.edit_state.selected if project.layout and i in project.layout.object_ids()]
        if selected:
            doc.set_selected(selected[0])
        self.view_actions["onion"].setChecked(project.edit_state.onion)
        self.view_actions["paths"].setChecked(project.edit_state.paths)
        self.seek(project.edit_state.time_s)
        self._update_title()

    def _project_snapshot(self) -> Any:
        """The project as it is now (for saving and autosave)."""
        from app.project_settings import planner_options, render_options
        from engine.project import CheckMatch, EditState, ObjectView, Project

        doc = self.editor.document
        layout = doc.layout
        objects = {} if layout is None else {
            oid: ObjectView(colour=doc.colour(oid), visible=doc.is_visible(oid), locked=doc.is_locked(oid))
            for oid in layout.object_ids()
        }
        state = EditState(time_s=max(0.0, self.position_s),
                          selected=() if doc.selected is None else (doc.selected,), objects=objects,
                          onion=self.view_actions["onion"].isChecked(), paths=self.view_actions["paths"].isChecked(),
                          check_matches=tuple(CheckMatch(object_id=o, source_id=s, source_azimuth_deg=az)
                                              for o, s, az in self.editor.saved_matches()))
        base = self._project or Project.new(self.loaded.path if self.loaded else None)
        sections: dict[str, Any] = {}
        try:
            sections["planner"] = planner_options(self.editor.planner.settings())
        except ValueError as exc:
            log.warning("the planner settings shown are not saved (%s); the project keeps its own", exc)
        try:
            sections["render"] = render_options(self.editor.render.settings(), base.render)
        except ValueError as exc:
            log.warning("the render settings shown are not saved (%s); the project keeps its own", exc)
        return base.replaced(audio=self.loaded.path if self.loaded else base.audio, layout=layout,
                             edit_state=state, **sections)

    @Slot()
    def save_project(self) -> bool:
        if self.project_path is None:
            return self.save_project_as()
        return self._write_project(self.project_path)

    @Slot()
    def save_project_as(self) -> bool:
        start = str(self.loaded.path.with_suffix(".spa2v")) if self.loaded else ""
        path, _ = QFileDialog.getSaveFileName(self, "Save the project", start, "SpA2V project (*.spa2v)")
        if not path:
            return False
        path = Path(path) if path.endswith(".spa2v") else Path(path + ".spa2v")
        return self._write_project(path)

    def _write_project(self, path: Path) -> bool:
        from engine.project import save_project

        try:
            save_project(self._project_snapshot(), path)
        except (OSError, InputError) as exc:
            self.show_error(f"{path}: the project could not be saved ({exc}); the previous file is unchanged.")
            return False
        self.project_path = path
        self.recent.add(path)
        self.autosaver.set_project_path(path)
        self.autosaver.mark_saved()
        self._settings_unsaved = False
        self.editor.document.undo_stack.setClean()
        self.status_label.setText(f"Saved {path.name}")
        self._update_title()
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        if not paths:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in paths:
            self.recent_menu.addAction(str(path), lambda p=path: self.open_file(p))

    @Slot(bool)
    def _on_dirty(self, _dirty: bool) -> None:
        self._update_title()

    def has_unsaved_changes(self) -> bool:
        """Whether the layout or the analysis settings changed since the project was opened or saved."""
        return self.editor.document.is_dirty or self._settings_unsaved

    def _update_title(self) -> None:
        name = self.project_path.name if self.project_path else (self.loaded.path.name if self.loaded else "")
        dirty = "*" if self.has_unsaved_changes() else ""
        self.setWindowTitle(f"{dirty}{name} — SpA2V Studio" if name else "SpA2V Studio")

    # --- playback and the playhead -------------------------------------------------------------------

    @property
    def position_s(self) -> float:
        return self._position_s

    @Slot()
    def toggle_playback(self) -> None:
        if self.loaded is not None and self.player.available:
            self.player.toggle()

    @Slot(float)
    def seek(self, time_s: float) -> None:
        """Move the playhead (audio, cursor, meters) to ``time_s``."""
        if self.loaded is None:
            return
        time_s = min(max(0.0, float(time_s)), self.loaded.peaks.duration_s)
        if self.player.available and self.player.has_source:
            self.player.seek(time_s)  # emits positionChanged → _on_position
        self._set_position(time_s, smooth=not self.cursor.dragging)

    @Slot(float)
    def _on_position(self, time_s: float) -> None:
        if self.loaded is None:
            return
        self._set_position(time_s, smooth=True)
        if self.player.is_playing:
            self._follow(time_s)

    def _set_position(self, time_s: float, smooth: bool) -> None:
        self._position_s = time_s
        self.cursor.set_time(time_s)
        self.editor.set_time(time_s)
        self.transport.set_time(time_s)
        if self.loaded is None:
            return
        if smooth:
            self.meters.set_time(time_s)
        else:
            self.meters.show_time(self.loaded.analysis, time_s)

    def _follow(self, time_s: float) -> None:
        """Page the view along when the playhead leaves it while playing."""
        plot = self.waveform.plot_left
        t0, t1 = plot.viewRange()[0]
        if time_s > t1 or time_s < t0:
            width = t1 - t0
            plot.setXRange(time_s - 0.05 * width, time_s + 0.95 * width, padding=0.0)

    def _update_play_enabled(self) -> None:
        enabled = self.player.available and self.loaded is not None
        reason = self.player.unavailable_reason if not self.player.available else "Open a recording first"
        self.transport.set_play_enabled(enabled, reason)
        self.play_action.setEnabled(enabled)
        self.playback_label.setVisible(not self.player.available)
        self.playback_label.setText("🔇 Playback off")
        self.playback_label.setToolTip(self.player.unavailable_reason)

    # --- drag and drop, closing ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_file(urls[0].toLocalFile())

    def shutdown(self) -> None:
        """Stop the analysis, planning, rendering and playback threads (idempotent)."""
        self.runner.shutdown()
        self.audition.shutdown()
        self.editor.shutdown()
        self.player.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.has_unsaved_changes() and self.isVisible() and self.ask_to_save:
            answer = QMessageBox.question(
                self, "SpA2V Studio", "The project has unsaved changes. Save it before closing?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel or (
                answer == QMessageBox.StandardButton.Save and not self.save_project()
            ):
                event.ignore()
                return
        self.autosaver.close()
        self.shutdown()
        super().closeEvent(event)
