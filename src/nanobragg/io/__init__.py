"""File readers and writers (HKL, Fdump, SMV, raw float, PGM, MOSFLM matrix, source list)."""
