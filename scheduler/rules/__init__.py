"""One module per rule, each with its three faces side by side so that they cannot drift:

- ``check(problem, plan) -> list[Violation]``: the validator's, pure Python;
- ``encode(ctx) -> None``: its CP-SAT constraints;
- ``Face(problem)``: the incremental face (``admits`` / ``take`` / ``release`` a placement) that
  :class:`~scheduler.rules.state.RuleState` combines for the greedy pass, the baselines, reasons and quotes.

``RULES`` is the order the validator, the model builder and the rule state apply them in: adding a rule is a
module with those three faces, named here.
"""

from scheduler.rules import capacity, max_cost, placement, sme_reserve, vouchers

RULES = (placement, capacity, sme_reserve, vouchers, max_cost)
