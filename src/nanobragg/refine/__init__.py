"""Refinement: the nn.Module around the simulator, losses, the L-BFGS fit and its figures."""
