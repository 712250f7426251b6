"""`python -m service` is the `depthal` command (used where the console script may not be on PATH)."""

import sys

from service.cli import main

sys.exit(main())
