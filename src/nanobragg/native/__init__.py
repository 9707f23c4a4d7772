"""Compiled libraries loaded with ctypes: the fused CPU kernel, the image statistics and the
noise sampler, with their builder and cache."""
