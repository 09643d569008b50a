"""The start-up splash: the studio's name on a dark card, with a line saying what is loading."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

SIZE = (520, 260)


def _card() -> QPixmap:
    width, height = SIZE
    pixmap = QPixmap(width, height)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(0, 0, width, height)
    gradient.setColorAt(0.0, QColor("#1d2230"))
    gradient.setColorAt(1.0, QColor("#2b3446"))
    painter.fillRect(pixmap.rect(), gradient)
    # Two "ears" and a sound between them: the left channel in blue, the right in orange (the studio's colours).
    for x, colour in ((70, "#4c9be8"), (width - 70, "#f0a040")):
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        painter.drawEllipse(x - 9, 84, 18, 18)
    painter.setPen(QColor("#e6e6e6"))
    title = QFont()
    title.setPointSize(26)
    title.setBold(True)
    painter.setFont(title)
    painter.drawText(QRect(0, 60, width, 60), Qt.AlignmentFlag.AlignCenter, "SpA2V Studio")
    subtitle = QFont()
    subtitle.setPointSize(11)
    painter.setFont(subtitle)
    painter.setPen(QColor("#a9b1c2"))
    painter.drawText(QRect(0, 120, width, 30), Qt.AlignmentFlag.AlignCenter,
                     "stereo sound in, a video that agrees with it out")
    painter.end()
    return pixmap


class StudioSplash(QSplashScreen):
    """Shown while the studio starts; :meth:`say` puts a line at the bottom and paints it at once."""

    def __init__(self) -> None:
        super().__init__(_card())

    def say(self, words: str) -> None:
        self.showMessage(words, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter, QColor("#e6e6e6"))
        QApplication.processEvents()
