"""nanobragg.cli package."""
