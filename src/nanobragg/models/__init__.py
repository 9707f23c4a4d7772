"""Configuration -> tensors: the detector (a convention's rectangle or panels), crystal, beam,
conventions, the C's random generator and the orientations drawn with it, the static
choices of a render (``Sampling``) and the kernel's inputs (``Setup``)."""
