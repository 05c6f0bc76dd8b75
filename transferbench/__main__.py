"""``python -m transferbench``: the same command as ``transferbench``."""

import sys

from transferbench.cli.main import main

sys.exit(main())
