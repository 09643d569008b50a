"""Logging for the studio: a rotating file in the user log folder, Qt's messages, one error dialog.

Call :func:`setup_logging` once at start-up, then :func:`install_qt_message_handler` and
:func:`install_excepthook` once a ``QApplication`` exists.
"""

from __future__ import annotations

import logging
import sys
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

log = logging.getLogger("spa2v")

_LOG_FILE: Path | None = None
_dialog_open = False


def log_dir() -> Path:
    from platformdirs import user_log_dir

    return Path(user_log_dir("spa2v-studio", appauthor=False))


def setup_logging(level: int = logging.INFO, directory: str | Path | None = None) -> Path | None:
    """Log to ``studio.log`` (1 MB × 3 rotating) in the user log folder; returns its path (None if unwritable)."""
    global _LOG_FILE
    folder = Path(directory) if directory else log_dir()
    root = logging.getLogger()
    root.setLevel(min(root.level or level, level))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "studio.log"
        if not any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path for h in root.handlers):
            handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            handler.setLevel(level)
            root.addHandler(handler)
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file in %s: %s", folder, exc)
        return None
    _LOG_FILE = path
    return path


def install_qt_message_handler() -> None:
    """Route qDebug/qWarning/qCritical into ``logging`` (logger ``qt``)."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(mode, context, message: str) -> None:
        where = f" ({context.file}:{context.line})" if context is not None and context.file else ""
        qt_log.log(levels.get(mode, logging.WARNING), "%s%s", message, where)

    qInstallMessageHandler(handler)


def install_excepthook() -> None:
    """Log uncaught exceptions and show one dialog at a time (further ones while it is open are only logged)."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        global _dialog_open
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        if _dialog_open:
            return
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is None:
            return
        _dialog_open = True
        try:
            where = f"\n\nDetails are in {_LOG_FILE}." if _LOG_FILE else ""
            QMessageBox.critical(
                QApplication.activeWindow(),
                "SpA2V Studio — internal error",
                f"Something went wrong inside SpA2V Studio ({exc_type.__name__}: {exc}). "
                f"Your work is unchanged; please report this.{where}",
            )
        finally:
            _dialog_open = False

    sys.excepthook = hook
