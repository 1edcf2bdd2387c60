"""The console both command lines share (``vis.py`` and ``python -m lifter``): plain log
messages on stderr, and errors users read as one ``error:`` line with an exit code."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .errors import UserError


def setup_logging(verbose: int, quiet: bool) -> None:
    """Plain messages on stderr: INFO by default, DEBUG with -v, warnings only with -q."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def report_errors(command: Callable[[], int]) -> int:
    """Run a command; a :class:`UserError` becomes one ``error:`` line and exit code 1,
    Ctrl-C exit code 130. Anything else is a bug and keeps its traceback."""
    try:
        return command()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
