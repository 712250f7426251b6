"""Torch-free formats and contracts that the service, the worker, the models and the command line all import: the
project settings schema (`settings`), the selection strategies' names (`strategies`), the Cityscapes label table and
layout reader (`cityscapes`). Nothing here imports torch, the database, Celery or the other packages
(import-linter checks it: pyproject.toml, `[tool.importlinter]`)."""
