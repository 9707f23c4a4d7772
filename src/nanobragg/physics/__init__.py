"""Pure tensor physics, importing nothing else of the package: lattice shapes,
structure-factor lookups, polarization, vector helpers."""
