"""nanobragg.physics package."""
