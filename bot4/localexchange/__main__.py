"""``python -m bot4.localexchange``: run the local exchange (see :mod:`bot4.localexchange.server`)."""

import sys

from bot4.localexchange.server import main

sys.exit(main())
