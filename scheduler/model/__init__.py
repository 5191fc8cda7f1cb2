"""The domain model: frozen dataclasses of the problem, the horizon (slots and datetimes) and the formulas
of a placement with their units."""
