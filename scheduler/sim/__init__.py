"""Online allocation: the rolling simulator and the baselines a programme would run instead."""
