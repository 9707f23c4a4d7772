"""The ``nanoBragg`` program: parse (in :mod:`nanobragg.commandline`), simulate, print, write."""
