"""The ``nanoBragg`` program: parse (in :mod:`nanobragg.commandline`), simulate, print, write.

``nanobragg.cli.args`` and ``nanobragg.cli.to_config`` remain importable names of the
library modules that moved to :mod:`nanobragg.commandline`.
"""

import sys

from ..commandline import args, to_config

sys.modules[f"{__name__}.args"] = args
sys.modules[f"{__name__}.to_config"] = to_config
