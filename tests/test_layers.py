"""The engine runs headless: importing every engine module must not pull in Qt or the app layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "qtpy", "app", "ui")


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_engine_source_file_imports_qt_or_app() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & set(FORBIDDEN))
        for path in (ROOT / "engine").rglob("*.py")
    }
    offenders = {name: roots for name, roots in offenders.items() if roots}
    assert not offenders, f"engine/ must not import Qt or app/ui: {offenders}"


def test_importing_every_engine_module_loads_no_qt() -> None:
    script = (
        "import importlib, pkgutil, sys, engine\n"
        "for mod in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(mod.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"engine pulled in: {result.stdout.strip()}"
