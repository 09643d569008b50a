"""The Plan stage's panel: which planner, its settings, Plan / Cancel, progress, the plan's reasoning, Revise.

The panel only collects what the user wants and shows what it is told: ``planRequested(PlanSettings)``,
``reviseRequested(str)`` and ``cancelRequested()`` go out; ``set_busy``, ``set_progress`` and
``set_reasoning`` come in. The planning itself runs in ``app.tasks`` on a background thread.

The API key typed here is held by the widget, in memory only: it is not part of :class:`PlanSettings` (which
a project may save), is read with :meth:`PlannerPanel.api_key` when a plan starts and is never written
anywhere by the panel. "Remember in the OS keyring" is a preference the application acts on; it is
disabled, with a tooltip saying why, when the ``keyring`` package is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.forms import TaskStatus, compact_combo, select_data, steady_label

#: The planners, as ``PlanSettings.planner`` names them, with what the combo box shows.
PLANNERS: dict[str, str] = {
    "offline": "Offline — from the measured cues (no network)",
    "llm": "LLM — an audio language model",
}
#: The LLM endpoint presets (the names of ``engine.planner.llm.PROVIDERS``; a test keeps them in step).
PROVIDERS: dict[str, str] = {
    "openai": "OpenAI",
    "gemini": "Gemini (OpenAI-compatible endpoint)",
    "vllm": "vLLM (a local server)",
}
#: Environment variables that hold each provider's key, first match wins (as ``LLMSettings.key_envs``).
PROVIDER_KEY_ENVS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "OPENAI_API_KEY"),
    "vllm": ("OPENAI_API_KEY",),
}
MAX_KEYFRAMES = 32
MAX_EXAMPLES = 8

KEYRING_MISSING_TIP = (
    "Install the 'keyring' package to keep the key in the operating system's keyring. Without it the key "
    "is held in memory until the studio closes; it is never written to a project, a log or a file."
)


@dataclass
class PlanSettings:
    """What the planner panel asks for. Holds no API key, so it can be saved with a project.

    ``planner`` is ``"offline"`` or ``"llm"``; ``labels`` as ``plan --labels`` (``"car@left, piano"``);
    ``keyframes`` is N. The rest is the LLM planner's: ``provider`` (``openai``, ``gemini``, ``vllm``),
    ``model`` and ``base_url`` ("" = the provider's default), ``k_examples`` in-context examples,
    ``temperature``, ``include_cues`` (send the measured cues with the audio) and ``remember_key`` (the user
    wants the key kept in the OS keyring).
    """

    planner: str = "offline"
    labels: str = ""
    keyframes: int = 5
    provider: str = "openai"
    model: str = ""
    base_url: str = ""
    k_examples: int = 3
    temperature: float = 0.5
    include_cues: bool = True
    remember_key: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (for a project file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanSettings:
        """Settings from :meth:`to_dict` data; unknown keys are ignored, missing ones take the defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def keyring_installed() -> bool:
    """Whether the ``keyring`` package can be imported here (without importing it)."""
    return importlib.util.find_spec("keyring") is not None


class PlannerPanel(TaskStatus, QWidget):
    """Planner settings, Plan / Cancel, progress, the last plan's reasoning and a Revise request.

    ``provider_defaults`` maps a provider name to its ``(base_url, model)``, shown as placeholders of the
    empty fields (the application passes the engine's presets). ``keyring_available`` None asks whether the
    ``keyring`` package is installed.

    Signals: ``planRequested(PlanSettings)``, ``reviseRequested(str)`` (the change request, never empty),
    ``cancelRequested()``.
    """

    planRequested = Signal(object)
    reviseRequested = Signal(str)
    cancelRequested = Signal()
    #: The user ticked (True) or unticked (False) "Remember in the OS keyring" (not sent by set_settings).
    rememberKeyChanged = Signal(bool)

    def __init__(
        self,
        provider_defaults: Mapping[str, tuple[str, str]] | None = None,
        keyring_available: bool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._provider_defaults = dict(provider_defaults or {})
        self._keyring_available = keyring_installed() if keyring_available is None else bool(keyring_available)
        self._busy = False
        self._revise_allowed = True

        # --- the planner ----------------------------------------------------------------------------
        self.planner_combo = compact_combo(QComboBox())
        for key, text in PLANNERS.items():
            self.planner_combo.addItem(text, key)
        self.planner_combo.setToolTip("Offline plans from the measured source tracks and needs no network; "
                                      "the LLM listens to the recording and plans with in-context examples")
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("e.g. car, or car@left, piano@right")
        self.labels_edit.setToolTip("Names for the sounding objects, comma separated; name@left / @center / "
                                    "@right ties a name to the source heard on that side. Empty: guessed")
        self.keyframes_spin = QSpinBox()
        self.keyframes_spin.setRange(2, MAX_KEYFRAMES)
        self.keyframes_spin.setToolTip("Number of keyframes N, spread evenly over the clip")
        general = QFormLayout()
        general.addRow("Planner", self.planner_combo)
        general.addRow("Label hints", self.labels_edit)
        general.addRow("Keyframes", self.keyframes_spin)

        # --- the LLM --------------------------------------------------------------------------------
        self.provider_combo = compact_combo(QComboBox())
        for key, text in PROVIDERS.items():
            self.provider_combo.addItem(text, key)
        self.provider_combo.setToolTip("Endpoint preset: its base URL, an audio model and where its key is read")
        self.model_edit = QLineEdit()
        self.model_edit.setToolTip("Model name; empty: the provider's audio model")
        self.base_url_edit = QLineEdit()
        self.base_url_edit.setToolTip("Any OpenAI-compatible endpoint, e.g. http://localhost:8000/v1; "
                                      "empty: the provider's")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(0, MAX_EXAMPLES)
        self.k_spin.setToolTip("In-context examples retrieved by audio similarity (0: zero-shot)")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, 2.0)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self.temperature_spin.setToolTip("Sampling temperature (the paper uses 0.5)")
        self.cues_check = QCheckBox("Include measured cues")
        self.cues_check.setToolTip("Send the measured ILD / ITD / azimuth tracks with the audio")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setToolTip("Held in memory only; never written to a project, a log or an exported file")
        self.remember_check = QCheckBox("Remember in the OS keyring")
        if self._keyring_available:
            self.remember_check.setToolTip("Keep the key in the operating system's keyring for the next session; "
                                           "untick to remove it from there")
        else:
            self.remember_check.setEnabled(False)
            self.remember_check.setToolTip(KEYRING_MISSING_TIP)
        self.llm_group = QGroupBox("LLM planner")
        llm_form = QFormLayout(self.llm_group)
        llm_form.addRow("Provider", self.provider_combo)
        llm_form.addRow("Model", self.model_edit)
        llm_form.addRow("Base URL", self.base_url_edit)
        llm_form.addRow("Examples (k)", self.k_spin)
        llm_form.addRow("Temperature", self.temperature_spin)
        llm_form.addRow("", self.cues_check)
        llm_form.addRow("API key", self.key_edit)
        llm_form.addRow("", self.remember_check)

        # --- actions and progress -------------------------------------------------------------------
        self.plan_button = QPushButton("Plan")
        self.plan_button.setToolTip("Plan a video scene layout for the recording")
        self.plan_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop planning")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.status_label = steady_label("Ready", lines=2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.plan_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress_bar, 1)

        # --- the last plan --------------------------------------------------------------------------
        self.reasoning_view = QPlainTextEdit()
        self.reasoning_view.setReadOnly(True)
        self.reasoning_view.setPlaceholderText("The planner's reasoning appears here after a plan")
        self.reasoning_view.setToolTip("Why the planner put each object where it did")
        self.revise_edit = QLineEdit()
        self.revise_edit.setPlaceholderText("e.g. make the car start further left")
        self.revise_button = QPushButton("Revise")
        revise_row = QHBoxLayout()
        revise_row.addWidget(self.revise_edit, 1)
        revise_row.addWidget(self.revise_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(general)
        layout.addWidget(self.llm_group)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        reasoning_title = QLabel("Reasoning")
        reasoning_title.setStyleSheet("font-weight: bold;")
        layout.addWidget(reasoning_title)
        layout.addWidget(self.reasoning_view, 1)
        layout.addLayout(revise_row)

        # --- wiring ---------------------------------------------------------------------------------
        self.planner_combo.currentIndexChanged.connect(self._update_enabled)
        self.provider_combo.currentIndexChanged.connect(self._update_placeholders)
        self.plan_button.clicked.connect(self._on_plan)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.revise_button.clicked.connect(self._on_revise)
        self.remember_check.clicked.connect(self.rememberKeyChanged)
        self.revise_edit.returnPressed.connect(self._on_revise)
        self.revise_edit.textChanged.connect(self._update_enabled)
        self.set_settings(PlanSettings())
        self.set_busy(False)

    # --- the form ---------------------------------------------------------------------------------

    def settings(self) -> PlanSettings:
        """The form's values (without the API key: see :meth:`api_key`)."""
        return PlanSettings(
            planner=str(self.planner_combo.currentData()),
            labels=self.labels_edit.text().strip(),
            keyframes=self.keyframes_spin.value(),
            provider=str(self.provider_combo.currentData()),
            model=self.model_edit.text().strip(),
            base_url=self.base_url_edit.text().strip(),
            k_examples=self.k_spin.value(),
            temperature=round(self.temperature_spin.value(), 2),
            include_cues=self.cues_check.isChecked(),
            remember_key=self.remember_check.isChecked(),
        )

    def set_settings(self, settings: PlanSettings) -> None:
        """Show ``settings`` in the form (values out of range are clamped by the fields)."""
        select_data(self.planner_combo, settings.planner)
        self.labels_edit.setText(settings.labels)
        self.keyframes_spin.setValue(int(settings.keyframes))
        select_data(self.provider_combo, settings.provider)
        self.model_edit.setText(settings.model)
        self.base_url_edit.setText(settings.base_url)
        self.k_spin.setValue(int(settings.k_examples))
        self.temperature_spin.setValue(float(settings.temperature))
        self.cues_check.setChecked(bool(settings.include_cues))
        self.remember_check.setChecked(bool(settings.remember_key) and self._keyring_available)
        self._update_placeholders()
        self._update_enabled()

    @property
    def keyring_available(self) -> bool:
        """Whether "Remember in the OS keyring" can be offered (the ``keyring`` package is installed)."""
        return self._keyring_available

    def api_key(self) -> str | None:
        """The key typed into the panel, or None (then the environment's key is used)."""
        return self.key_edit.text().strip() or None

    def set_api_key(self, key: str | None) -> None:
        """Put a key into the field (e.g. one read from the OS keyring); it stays in memory only."""
        self.key_edit.setText(key or "")

    # --- what the application tells the panel ----------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        """While planning: Plan and Revise are off, Cancel is on."""
        self._busy = bool(busy)
        if busy:
            self.progress_bar.setValue(0)
        self._update_enabled()

    def set_reasoning(self, text: str, notes: Sequence[str] = ()) -> None:
        """Show the last plan's reasoning, and under it ``notes`` (e.g. the repairs made to an LLM answer)."""
        parts = [text.strip()] if text and text.strip() else []
        if notes:
            parts.append("Repairs made to the answer:\n" + "\n".join(f"• {note}" for note in notes))
        self.reasoning_view.setPlainText("\n\n".join(parts))

    def set_revise_enabled(self, enabled: bool) -> None:
        """Whether there is a plan to revise (the application knows; the panel starts with True)."""
        self._revise_allowed = bool(enabled)
        self._update_enabled()

    # --- internals --------------------------------------------------------------------------------

    def _on_plan(self) -> None:
        if not self._busy:
            self.planRequested.emit(self.settings())

    def _on_revise(self) -> None:
        text = self.revise_edit.text().strip()
        if text and not self._busy and self.revise_button.isEnabled():
            self.reviseRequested.emit(text)

    def _update_enabled(self) -> None:
        llm = self.planner_combo.currentData() == "llm"
        self.llm_group.setEnabled(llm)
        self.plan_button.setEnabled(not self._busy)
        self.cancel_button.setEnabled(self._busy)
        can_revise = llm and self._revise_allowed and not self._busy
        self.revise_edit.setEnabled(llm and self._revise_allowed)
        self.revise_button.setEnabled(can_revise and bool(self.revise_edit.text().strip()))
        if not llm:
            tip = "Revising by a change request needs the LLM planner"
        elif not self._revise_allowed:
            tip = "Plan a layout first"
        else:
            tip = "Ask the LLM to change the current layout (Enter)"
        self.revise_button.setToolTip(tip)
        self.revise_edit.setToolTip(tip)

    def _update_placeholders(self) -> None:
        provider = str(self.provider_combo.currentData())
        base_url, model = self._provider_defaults.get(provider, ("", ""))
        self.model_edit.setPlaceholderText(model or "the provider's audio model")
        env_base = os.environ.get("OPENAI_BASE_URL", "").strip()
        if provider == "openai" and env_base:
            self.base_url_edit.setPlaceholderText(f"{env_base} (from OPENAI_BASE_URL)")
        else:
            self.base_url_edit.setPlaceholderText(base_url or "the provider's endpoint")
        envs = PROVIDER_KEY_ENVS.get(provider, ("OPENAI_API_KEY",))
        found = next((name for name in envs if os.environ.get(name, "").strip()), None)
        if found:
            self.key_edit.setPlaceholderText(f"from {found} in the environment")
        elif provider == "vllm":
            self.key_edit.setPlaceholderText("not needed for a server on this machine")
        else:
            self.key_edit.setPlaceholderText(f"type a key, or set {' or '.join(envs)}")
