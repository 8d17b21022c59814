"""``python -m crmwh.cli``: the same as the ``crmwh`` command."""

import sys

from crmwh.cli import main

sys.exit(main())
