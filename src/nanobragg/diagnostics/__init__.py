"""Tools on top of the library: the pixel trace, taps JSON, trace diff and nb-compare."""
