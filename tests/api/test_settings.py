"""Settings come from ``PCS_*`` variables, typed and checked; a bad value names its variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_variables_are_read_typed_and_keywords_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCS_ROUND_WORKERS", "4")
    monkeypatch.setenv("PCS_ROUND_MINUTES", "0.5")
    monkeypatch.setenv("PCS_METRICS_PUBLIC", "yes")
    monkeypatch.setenv("PCS_RUN_ROUNDS", "off")
    monkeypatch.setenv("PCS_SEED_SCENARIO", "")  # empty: the default
    settings = Settings.from_env()
    assert (settings.round_workers, settings.round_minutes) == (4, 0.5)
    assert settings.metrics_public and not settings.run_rounds and settings.seed_scenario == ""
    assert Settings(round_workers=1).round_workers == 1
    assert Settings().max_body_bytes == 1 << 20


@pytest.mark.parametrize(
    ("name", "value"), [("PCS_ROUND_WORKERS", "two"), ("PCS_METRICS_PUBLIC", "maybe"), ("PCS_LOCK_STALE_S", "1m")]
)
def test_a_bad_value_is_an_error_that_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=rf"^{name}='{value}': Input should be a valid"):
        Settings.from_env()


def test_secrets_stay_out_of_the_repr_and_settings_are_frozen() -> None:
    settings = Settings(database_url="postgresql+psycopg://pcs:s3cret@db/pcs", admin_token="pcs_secret")
    assert "s3cret" not in repr(settings) and "pcs_secret" not in repr(settings)
    with pytest.raises(ValidationError):
        settings.round_workers = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Settings(round_wokers=3)  # type: ignore[call-arg]
