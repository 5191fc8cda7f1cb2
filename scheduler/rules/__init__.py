"""One module per rule. Each has ``check(problem, plan) -> list[Violation]`` (pure Python, used by
the validator) and ``encode(ctx) -> None`` (its CP-SAT constraints) side by side, so they cannot drift.

``RULES`` is the order both the validator and the model builder apply them in.
"""

from scheduler.rules import capacity, max_cost, placement, sme_reserve, vouchers

RULES = (placement, capacity, sme_reserve, vouchers, max_cost)
