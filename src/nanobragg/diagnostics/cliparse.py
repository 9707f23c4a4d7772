"""argparse for the diagnostic tools: a usage error is one line and exit status 2."""

from __future__ import annotations

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are ``PROG: error: MESSAGE`` without the usage."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)
