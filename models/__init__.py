"""The model library: pure PyTorch (networks, geometry, losses, DepthMix, mean teacher, training, selection, metrics).

Nothing here reads settings, touches the database or knows about Celery: every input is an argument
(import-linter checks it: pyproject.toml). Torch-free formats it shares with the service live in `contracts`.
"""
