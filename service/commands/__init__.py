"""Service sub-commands of `depthal` (torch-free): db, serve, worker, up, users."""
