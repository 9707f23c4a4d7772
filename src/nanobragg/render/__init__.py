"""Rendering: simulate an image, the eager reference kernel, sub-step blocks, threads, limits,
progress, multi-panel passes and rotation series."""
