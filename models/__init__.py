"""Pure PyTorch parts of depthal: data, networks, geometry, losses, training loops, selection, metrics.

Nothing here reads settings, touches the database or knows about Celery: every input is an argument.
Sub-modules import torch; this package's __init__ deliberately does not, so that torch-free helpers such as
`models.data.cityscapes` can be used by the service.
"""
