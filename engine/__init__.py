"""SpA2V Studio engine: audio, cues, planners, layouts, generation, metrics.

Pure Python / numpy / scipy (torch where the generator needs it). Never imports Qt.
"""
