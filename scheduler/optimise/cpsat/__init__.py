"""The CP-SAT model: variables, the policies' constraints, the objective and the warm start."""
