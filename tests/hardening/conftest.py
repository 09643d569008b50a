"""The hardening tests share the GUI tests' set-up: offscreen Qt, the leaked-thread guard, an in-memory
keyring and a private QSettings folder (tests/gui/conftest.py)."""

from tests.gui.conftest import *  # noqa: F403
