"""The `depthal` command line (`cli.main`), one module per sub-command in `cli.commands`.

It sits above the other packages: it may import the service, the worker and the models, and nothing imports it.
Command modules import torch and the worker only inside the functions that need them, so `depthal --help`,
`depthal serve` and `depthal db upgrade` run without the `models` extra (a test installs depthal without it)."""
