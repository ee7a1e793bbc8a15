"""MediaPipe holistic extraction (the ``mediapipe`` stream) in its own venv.

See ``mediapipe_extract.py``; CLI: ``python -m data_pipelines.extract``.
"""
