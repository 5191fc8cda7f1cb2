"""The core's one error type for bad input: it names the field and the rule it broke."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input. ``field`` says where (``requests.csv row 12: deadline``), ``rule`` what is wrong."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule

    def within(self, where: str) -> InputError:
        """The same error, located inside ``where`` (a file, a row)."""
        return InputError(f"{where}: {self.field}", self.rule)
