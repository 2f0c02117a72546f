"""`python -m finegrain ...`: the `finegrain` command (finegrain.command) without the installed entry point."""

import sys

from finegrain.command import main

sys.exit(main())
