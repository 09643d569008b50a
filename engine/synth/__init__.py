"""Synthetic stereo scenes with ground truth: measured or modelled HRIRs, dry source signals, physically
rendered moving sources (binaural, spaced pair, pan-pot), a room, and the benchmark/demo writers."""
