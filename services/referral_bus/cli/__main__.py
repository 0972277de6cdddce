"""``python -m referral_bus.cli``: how ``up`` and the tests start the services as processes."""

import sys

from referral_bus.cli import main

sys.exit(main())
