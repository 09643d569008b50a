"""Audio in, spatial cues and source tracks (the "Hear" stage)."""
