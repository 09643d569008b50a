# SpA2V Studio — set-up and everyday commands.
#   make run    create .venv if needed, install, open the studio on the demo project
#   make test   create .venv if needed, install, run the whole suite (lint, layer contracts, tests)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# CI and tests pin the CPU build of torch that lies on this machine (no multi-GB CUDA download).
CONSTRAINTS := constraints/ci.txt

# Debian packages the studio and its tests use: PortAudio (playback), Qt's xcb/EGL libraries and
# fonts (the window), Xvfb (a real-window screenshot test), espeak-ng (speech in synthetic scenes),
# libmysofa1 (its measured MIT KEMAR HRIR set for binaural scenes), sox (measuring audio by hand).
DEB_PACKAGES := libportaudio2 xvfb xauth espeak-ng sox libmysofa1 fonts-dejavu-core \
	libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
	libxcb-render-util0 libxcb-image0 libxcb-randr0 libxcb-xkb1

.PHONY: run test lint sysdeps venv bench demo clean

run: sysdeps $(VENV)/.installed
	$(PY) main.py

test: sysdeps $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# Installs missing Debian packages when run as root (CI, containers); otherwise says what to install.
sysdeps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		elif command -v dpkg-query >/dev/null; then \
			echo "please install these Debian packages: sudo apt-get install$$missing"; \
		fi; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS) | $(VENV)/bin/python
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[test]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_hear.py

demo: $(VENV)/.installed
	$(PY) -m engine.synth.bench --demo resources/demo/demo_scene.flac

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
