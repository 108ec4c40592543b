"""``python -m gateway.health RUN_DIR HOST PORT PARENT_PID``: started by ``gateway serve``."""

import sys

from gateway.health.server import run
from gateway.logs import configure_logging

configure_logging("WARNING")
run(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
