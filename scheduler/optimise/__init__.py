"""Solving a round: the greedy warm start, the upper bound, the CP-SAT model and large-neighbourhood search,
behind :func:`scheduler.optimise.solve.solve`."""
