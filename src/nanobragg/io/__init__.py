"""File readers and writers, one per kind: structure factors (HKL, Fdump, MTZ, atomic
models), images (SMV, raw float, PGM, NeXus, CBF, PNG), MOSFLM matrices, source lists,
DIALS experiment lists; and the output set that writes a run's files all or none."""
