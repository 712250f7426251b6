"""`python -m cli` is the `depthal` command (used where the console script may not be on PATH)."""

import sys

from cli.main import main

sys.exit(main())
