"""Guard against a PySide6 release that drops references to None/True (6.12.0 on Python 3.11).

Such a release aborts the interpreter ("deallocating None") after a few thousand paints or signal
emits; pyproject.toml excludes it. This test fails if a broken release is installed again.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QRectF, Signal


class _Probe(QObject):
    ping = Signal(float)


def test_void_calls_and_emits_keep_reference_counts() -> None:
    probe, rect = _Probe(), QRectF()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        rect.setWidth(1.0)
        probe.ping.emit(1.0)
    # Other threads may touch None/True a little; a broken binding loses 200+ references here.
    assert none_before - sys.getrefcount(None) < 50
    assert true_before - sys.getrefcount(True) < 50
