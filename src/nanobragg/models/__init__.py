"""nanobragg.models package."""
