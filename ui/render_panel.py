"""The Render stage's panel: generator and sampler settings, Render / Cancel, progress, live previews, the result.

The panel collects a :class:`RenderSettingsForm` and sends it with ``renderRequested``; the render runs in
``app.tasks`` on a background thread, and what it reports comes back through :meth:`RenderPanel.set_progress`,
:meth:`RenderPanel.show_preview` (the predicted frames of each denoising step, as they form) and
:meth:`RenderPanel.set_finished`. When a video is done, "Open video" and "Export…" appear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.forms import TaskStatus, compact_combo, rgb_image, select_data, steady_label

#: The generators, as ``RenderSettingsForm.generator`` names them, with what the combo box shows.
GENERATORS: dict[str, str] = {
    "auto": "Auto — diffusion on a GPU, else the animatic",
    "diffusion": "Diffusion — SD 1.5 + AnimateDiff",
    "animatic": "Animatic — labelled boxes, anywhere",
}
#: The samplers of ``engine.generator.schedulers.SCHEDULERS`` (not imported here: that pulls in torch;
#: a test keeps the two in step).
SCHEDULER_NAMES: tuple[str, ...] = ("ddim", "euler", "lcm", "lightning")
GROUNDING_MODES: dict[str, str] = {
    "hard": "Hard — each object's words attend only inside its box",
    "soft": "Soft — boosted inside the box, damped outside",
    "off": "Off — the prompt alone",
}
DEVICES: dict[str, str] = {"auto": "Auto (the GPU if there is one)", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)",
                           "cpu": "CPU (very slow)"}
#: Render sizes offered (width, height), the paper's first; any multiple of 8 can be typed.
SIZE_PRESETS: tuple[tuple[int, int], ...] = ((512, 320), (448, 256), (384, 240), (256, 160), (768, 480))
#: Thumbnails in the preview strip, and their height in pixels.
PREVIEW_THUMBNAILS = 6
PREVIEW_HEIGHT_PX = 72


@dataclass
class RenderSettingsForm:
    """What the render panel asks for: the generator and the sampler's settings (plain values, JSON-ready).

    ``generator`` is ``auto``, ``diffusion`` or ``animatic``; ``model`` and ``motion_adapter`` are hub ids or
    folders ("" = the generator's defaults); ``frames`` 0 means duration × fps; ``device`` ``auto`` picks the
    GPU if there is one. ``grounding_strength`` acts in ``soft`` grounding only.
    """

    generator: str = "auto"
    model: str = ""
    motion_adapter: str = ""
    steps: int = 25
    guidance: float = 7.5
    seed: int = 0
    fps: float = 8.0
    frames: int = 0
    width: int = 512
    height: int = 320
    grounding: str = "hard"
    grounding_strength: float = 1.0
    scheduler: str = "ddim"
    device: str = "auto"

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return (int(self.width), int(self.height))

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (for a project file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RenderSettingsForm:
        """Settings from :meth:`to_dict` data; unknown keys are ignored, missing ones take the defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def frames_to_pixmap(frame: np.ndarray, height_px: int = PREVIEW_HEIGHT_PX) -> QPixmap:
    """One ``(h, w, 3)`` uint8 RGB frame as a pixmap ``height_px`` high (aspect kept)."""
    pixmap = QPixmap.fromImage(rgb_image(frame))
    return pixmap.scaledToHeight(max(1, int(height_px)), Qt.TransformationMode.SmoothTransformation)


class RenderPanel(TaskStatus, QWidget):
    """Generator, model, sampler and size settings; Render / Cancel; progress; a strip of live previews.

    Signals: ``renderRequested(RenderSettingsForm)``, ``loadRequested(RenderSettingsForm)`` (make the diffusion
    models ready ahead of the render), ``cancelRequested()``, ``openVideoRequested(str)`` (the
    rendered video) and ``exportRequested(str)`` (where the user wants a copy of it; the panel asks with a
    save dialog, replaceable through :attr:`choose_export_path` and :attr:`choose_folder`).
    """

    renderRequested = Signal(object)
    loadRequested = Signal(object)
    cancelRequested = Signal()
    openVideoRequested = Signal(str)
    exportRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy = False
        self._video_path: str | None = None
        #: ``(suggested path) -> chosen path or None``: asks where to export the video.
        self.choose_export_path: Callable[[str], str | None] = self._ask_export_path
        #: ``(title, start folder) -> chosen folder or None``: the Browse… buttons.
        self.choose_folder: Callable[[str, str], str | None] = self._ask_folder

        # --- generator and models -------------------------------------------------------------------
        self.generator_combo = compact_combo(QComboBox())
        for key, text in GENERATORS.items():
            self.generator_combo.addItem(text, key)
        self.generator_combo.setToolTip("Auto renders with the diffusion model where a GPU and its weights are, "
                                        "else the animatic (the boxes and labels over a plain scene, with the "
                                        "sound), which renders anywhere in seconds")
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("default: stable-diffusion-v1-5/stable-diffusion-v1-5")
        self.model_edit.setToolTip("Stable Diffusion 1.5: a Hugging Face id or a diffusers folder")
        self.model_browse = QPushButton("Browse…")
        self.model_browse.setToolTip("Choose a diffusers model folder")
        self.adapter_edit = QLineEdit()
        self.adapter_edit.setPlaceholderText("default: guoyww/animatediff-motion-adapter-v1-5-2")
        self.adapter_edit.setToolTip("AnimateDiff motion adapter: a Hugging Face id or a folder")
        self.adapter_browse = QPushButton("Browse…")
        self.adapter_browse.setToolTip("Choose a motion adapter folder")
        self.device_combo = compact_combo(QComboBox())
        for key, text in DEVICES.items():
            self.device_combo.addItem(text, key)
        self.device_combo.setToolTip("Where the diffusion model runs")
        models = QFormLayout()
        models.addRow("Generator", self.generator_combo)
        models.addRow("Model", self._with_button(self.model_edit, self.model_browse))
        models.addRow("Motion adapter", self._with_button(self.adapter_edit, self.adapter_browse))
        models.addRow("Device", self.device_combo)

        # --- the sampler ----------------------------------------------------------------------------
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 200)
        self.steps_spin.setToolTip("Denoising steps (a preview after each)")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 30.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setDecimals(1)
        self.guidance_spin.setToolTip("Classifier-free guidance scale (1 turns it off)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Random seed: the same seed and settings give the same video")
        self.scheduler_combo = QComboBox()
        for name in SCHEDULER_NAMES:
            self.scheduler_combo.addItem(name, name)
        self.scheduler_combo.setToolTip("Sampler: ddim (default), euler, lcm for AnimateLCM, lightning for "
                                        "AnimateDiff-Lightning")
        self.grounding_combo = compact_combo(QComboBox())
        for key, text in GROUNDING_MODES.items():
            self.grounding_combo.addItem(text, key)
        self.grounding_combo.setToolTip("How the boxes hold each object's words in place")
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 100.0)
        self.strength_spin.setSingleStep(0.25)
        self.strength_spin.setDecimals(2)
        self.strength_spin.setToolTip("Soft grounding: boost inside the box / damping outside")
        self.sampler_group = QGroupBox("Diffusion")
        sampler = QFormLayout(self.sampler_group)
        sampler.addRow("Steps", self.steps_spin)
        sampler.addRow("Guidance", self.guidance_spin)
        sampler.addRow("Seed", self.seed_spin)
        sampler.addRow("Scheduler", self.scheduler_combo)
        sampler.addRow("Grounding", self.grounding_combo)
        sampler.addRow("Strength", self.strength_spin)

        # --- the video ------------------------------------------------------------------------------
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(1.0, 60.0)
        self.fps_spin.setDecimals(1)
        self.fps_spin.setToolTip("Frames per second")
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(0, 1024)
        self.frames_spin.setSpecialValueText("from duration")
        self.frames_spin.setToolTip("Number of frames; 0: the clip's duration × fps")
        self.size_combo = QComboBox()
        for width, height in SIZE_PRESETS:
            suffix = " (default)" if (width, height) == SIZE_PRESETS[0] else ""
            self.size_combo.addItem(f"{width} × {height}{suffix}", f"{width}x{height}")
        self.size_combo.addItem("Custom", "custom")
        self.size_combo.setToolTip("Render size; the diffusion model was trained near 512 × 320")
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, what in ((self.width_spin, "Width"), (self.height_spin, "Height")):
            spin.setRange(64, 2048)
            spin.setSingleStep(8)
            spin.setSuffix(" px")
            spin.setToolTip(f"{what} in pixels, a multiple of 8")
        size_row = QHBoxLayout()
        size_row.setContentsMargins(0, 0, 0, 0)
        size_row.addWidget(self.size_combo, 1)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        size_box = QWidget()
        size_box.setLayout(size_row)
        video = QFormLayout()
        video.addRow("Frame rate", self.fps_spin)
        video.addRow("Frames", self.frames_spin)
        video.addRow("Size", size_box)

        # --- actions, progress, previews, result ----------------------------------------------------
        self.render_button = QPushButton("Render")
        self.render_button.setToolTip("Render the layout to an MP4 with the recording's sound")
        self.render_button.setDefault(True)
        self.load_button = QPushButton("Load models")
        self.load_button.setToolTip("Make the diffusion models ready now (the first time they download from the "
                                    "Hugging Face hub, which can take minutes), so that Render starts at once")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop rendering; nothing half-written is left")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.status_label = steady_label("Ready", lines=2)
        actions = QHBoxLayout()
        actions.addWidget(self.render_button)
        actions.addWidget(self.load_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress_bar, 1)

        self.preview_caption = steady_label("Previews of each step appear here while rendering")
        self.preview_caption.setStyleSheet("color: palette(mid);")
        # A row of thumbnails that scrolls sideways, so the strip never makes the panel wider.
        strip_row = QWidget()
        strip_row.setObjectName("previewRow")
        strip_row.setStyleSheet("#previewRow { background: #15181d; }")
        self.preview_strip = QScrollArea()
        self.preview_strip.setWidget(strip_row)
        self.preview_strip.setWidgetResizable(True)
        self.preview_strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.preview_strip.setFixedHeight(PREVIEW_HEIGHT_PX + 12 + self.preview_strip.horizontalScrollBar()
                                          .sizeHint().height())
        self.preview_strip.setToolTip("The predicted frames of the latest step, evenly picked over the clip")
        strip = QHBoxLayout(strip_row)
        strip.setContentsMargins(4, 4, 4, 4)
        strip.setSpacing(4)
        self.preview_labels: list[QLabel] = []
        for _ in range(PREVIEW_THUMBNAILS):
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.hide()
            strip.addWidget(label)
            self.preview_labels.append(label)
        strip.addStretch(1)

        self.open_button = QPushButton("Open video")
        self.open_button.setToolTip("Play the rendered video in the system's player")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save a copy of the rendered video")
        result = QHBoxLayout()
        result.addStretch(1)
        result.addWidget(self.open_button)
        result.addWidget(self.export_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(models)
        layout.addWidget(self.sampler_group)
        layout.addLayout(video)
        layout.addLayout(actions)
        layout.addWidget(self.status_label)
        layout.addWidget(self.preview_caption)
        layout.addWidget(self.preview_strip)
        layout.addLayout(result)
        layout.addStretch(1)

        # --- wiring ---------------------------------------------------------------------------------
        self.generator_combo.currentIndexChanged.connect(self._update_enabled)
        self.grounding_combo.currentIndexChanged.connect(self._update_enabled)
        self.size_combo.currentIndexChanged.connect(self._on_size_preset)
        self.width_spin.valueChanged.connect(self._on_size_typed)
        self.height_spin.valueChanged.connect(self._on_size_typed)
        self.model_browse.clicked.connect(lambda: self._browse(self.model_edit, "Choose a Stable Diffusion folder"))
        self.adapter_browse.clicked.connect(lambda: self._browse(self.adapter_edit, "Choose a motion adapter folder"))
        self.render_button.clicked.connect(self._on_render)
        self.load_button.clicked.connect(lambda: self.loadRequested.emit(self.settings()))
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.open_button.clicked.connect(self._on_open)
        self.export_button.clicked.connect(self._on_export)
        self.set_settings(RenderSettingsForm())
        self.set_finished(None)
        self.set_busy(False)

    # --- the form ---------------------------------------------------------------------------------

    def settings(self) -> RenderSettingsForm:
        """The form's values."""
        return RenderSettingsForm(
            generator=str(self.generator_combo.currentData()),
            model=self.model_edit.text().strip(),
            motion_adapter=self.adapter_edit.text().strip(),
            steps=self.steps_spin.value(),
            guidance=round(self.guidance_spin.value(), 1),
            seed=self.seed_spin.value(),
            fps=round(self.fps_spin.value(), 1),
            frames=self.frames_spin.value(),
            width=self.width_spin.value(),
            height=self.height_spin.value(),
            grounding=str(self.grounding_combo.currentData()),
            grounding_strength=round(self.strength_spin.value(), 2),
            scheduler=str(self.scheduler_combo.currentData()),
            device=str(self.device_combo.currentData()),
        )

    def set_settings(self, form: RenderSettingsForm) -> None:
        """Show ``form`` in the fields (values out of range are clamped by the fields)."""
        select_data(self.generator_combo, form.generator)
        self.model_edit.setText(form.model)
        self.adapter_edit.setText(form.motion_adapter)
        select_data(self.device_combo, form.device)
        self.steps_spin.setValue(int(form.steps))
        self.guidance_spin.setValue(float(form.guidance))
        self.seed_spin.setValue(int(form.seed))
        select_data(self.scheduler_combo, form.scheduler)
        select_data(self.grounding_combo, form.grounding)
        self.strength_spin.setValue(float(form.grounding_strength))
        self.fps_spin.setValue(float(form.fps))
        self.frames_spin.setValue(int(form.frames))
        self.width_spin.setValue(int(form.width))
        self.height_spin.setValue(int(form.height))
        self._on_size_typed()
        self._update_enabled()

    # --- what the application tells the panel ----------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """While rendering: Render is off, Cancel on; a new render hides the last result and its previews."""
        self._busy = bool(busy)
        if busy:
            self.progress_bar.setValue(0)
            self.set_finished(None)
            self.clear_previews()
        self.render_button.setEnabled(not self._busy)
        self.cancel_button.setEnabled(self._busy)
        self._update_enabled()

    def show_preview(self, step: int, frames: np.ndarray, caption: str | None = None) -> None:
        """Show up to :data:`PREVIEW_THUMBNAILS` frames, evenly picked, of ``frames`` ``(T, h, w, 3)`` uint8.

        ``caption`` defaults to "Step <step + 1>" (the diffusion generator's denoising step).
        """
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[0] == 0 or frames.shape[-1] < 3:
            return
        count = min(len(frames), PREVIEW_THUMBNAILS)
        picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
        for label, index in zip(self.preview_labels, picks, strict=False):
            pixmap = frames_to_pixmap(frames[index])
            label.setPixmap(pixmap)
            label.setFixedSize(pixmap.size())  # thumbnails keep their size; the strip scrolls instead
            label.setToolTip(f"frame {index + 1} of {len(frames)}")
            label.show()
        for label in self.preview_labels[count:]:
            label.clear()
            label.hide()
        self.preview_caption.setText(caption if caption is not None else f"Step {int(step) + 1}")

    def clear_previews(self) -> None:
        """Empty the preview strip."""
        for label in self.preview_labels:
            label.clear()
            label.hide()
        self.preview_caption.setText("Previews of each step appear here while rendering")

    def set_finished(self, path: str | Path | None) -> None:
        """Offer "Open video" / "Export…" for the video at ``path``; None hides them."""
        self._video_path = None if path is None else str(path)
        done = self._video_path is not None
        self.open_button.setVisible(done)
        self.export_button.setVisible(done)
        if done:
            self.progress_bar.setValue(100)
            self.status_label.setText(f"Rendered {Path(self._video_path).name}")

    @property
    def video_path(self) -> str | None:
        """The last rendered video, or None."""
        return self._video_path

    # --- internals --------------------------------------------------------------------------------

    @staticmethod
    def _with_button(edit: QLineEdit, button: QPushButton) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(button)
        return box

    def _on_render(self) -> None:
        if not self._busy:
            self.renderRequested.emit(self.settings())

    def _on_open(self) -> None:
        if self._video_path:
            self.openVideoRequested.emit(self._video_path)

    def _on_export(self) -> None:
        if not self._video_path:
            return
        chosen = self.choose_export_path(self._video_path)
        if chosen:
            self.exportRequested.emit(str(chosen))

    def _ask_export_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the video", suggested, "MP4 video (*.mp4)")
        return path or None

    def _ask_folder(self, title: str, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(self, title, start) or None

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = edit.text().strip()
        chosen = self.choose_folder(title, start if start and Path(start).expanduser().is_dir() else "")
        if chosen:
            edit.setText(chosen)

    def _update_enabled(self) -> None:
        diffusion = self.generator_combo.currentData() != "animatic"
        self.sampler_group.setEnabled(diffusion)
        for widget in (self.model_edit, self.model_browse, self.adapter_edit, self.adapter_browse,
                       self.device_combo):
            widget.setEnabled(diffusion)
        self.strength_spin.setEnabled(diffusion and self.grounding_combo.currentData() == "soft")
        self.load_button.setEnabled(diffusion and not self._busy)

    def _on_size_preset(self) -> None:
        size = str(self.size_combo.currentData())
        if size == "custom":
            return
        width, height = (int(part) for part in size.split("x"))
        for spin, value in ((self.width_spin, width), (self.height_spin, height)):
            spin.blockSignals(True)
            spin.setValue(int(value))
            spin.blockSignals(False)

    def _on_size_typed(self) -> None:
        index = self.size_combo.findData(f"{self.width_spin.value()}x{self.height_spin.value()}")
        self.size_combo.blockSignals(True)
        self.size_combo.setCurrentIndex(index if index >= 0 else self.size_combo.count() - 1)
        self.size_combo.blockSignals(False)
