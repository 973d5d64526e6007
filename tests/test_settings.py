from datetime import timedelta

import pytest

from domain.durations import format_duration, parse_duration
from domain.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", timedelta(seconds=30)),
        (45, timedelta(seconds=45)),
        ("1.5", timedelta(seconds=1.5)),
        ("P14D", timedelta(days=14)),
        ("PT30S", timedelta(seconds=30)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("P2W", timedelta(weeks=2)),
        ("pt10m", timedelta(minutes=10)),
    ],
)
def test_durations_parse(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "two weeks", "P1Y", "P1M2D", "-5", "14 days", True])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("td", [timedelta(days=14), timedelta(seconds=30), timedelta(days=1, minutes=5), timedelta(0)])
def test_format_round_trips(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


def test_defaults_are_the_seeds_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CERTDESK_OTP_TTL", "CERTDESK_DELAYED_REVOCATION", "CERTDESK_REISSUE_WINDOW"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.otp_ttl == timedelta(days=3)
    assert s.download_ttl == timedelta(days=14)
    assert s.delayed_revocation == timedelta(days=14)
    assert s.reissue_window == timedelta(days=25)
    assert s.initial_password_ttl == timedelta(days=30)
    assert (s.otp_max_attempts, s.secret_answer_max_attempts, s.password_reset_business_days,
            s.login_max_failures) == (5, 5, 3, 5)
    assert (s.temporal_port, s.temporal_ui_port, s.api_port, s.tls_port) == (7233, 8233, 8000, 8443)
    assert s.language == "ja"


def test_environment_shrinks_two_weeks_to_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTDESK_DELAYED_REVOCATION", "PT20S")
    monkeypatch.setenv("CERTDESK_OTP_TTL", "90")
    s = load_settings()
    assert s.delayed_revocation == timedelta(seconds=20)
    assert s.otp_ttl == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("var", "value"),
    [("CERTDESK_OTP_TTL", "soon"), ("CERTDESK_API_PORT", "eighty"), ("CERTDESK_LOGIN_MAX_FAILURES", "0"),
     ("CERTDESK_LANGUAGE", "fr"), ("CERTDESK_DELAYED_REVOCATION", "P1M")],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert var in str(err.value)


def test_embedded_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTDESK_TEMPORAL_ADDRESS", raising=False)
    s = load_settings(temporal_port=9000)
    assert s.embedded_temporal and s.resolved_temporal_address == "127.0.0.1:9000" and s.temporal_ui_port == 10000
    monkeypatch.setenv("CERTDESK_TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("CERTDESK_SMTP_HOST", "mail.internal")
    s = load_settings()
    assert not s.embedded_temporal and s.resolved_temporal_address == "temporal.internal:7233"
    assert not s.embedded_smtp
