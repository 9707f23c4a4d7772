"""nanobragg.diagnostics package."""
