"""``python -m virtsnap``: the virtsnap command line."""

import sys

from virtsnap.cli import main

sys.exit(main())
