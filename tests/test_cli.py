"""The operator commands, as scripts call them."""

import json
from pathlib import Path

import pytest

from tests.stack import run_cli, stack_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # No stack runs: Temporal's port is closed, which the customer command must survive.
    return stack_env(tmp_path / "var")


def test_json_outputs_have_the_documented_shapes(env: dict[str, str]) -> None:
    tenant = run_cli(env, "tenant", "create", "example-shop", "--json")
    assert tenant.returncode == 0, tenant.stderr
    assert set(json.loads(tenant.stdout)) == {"api_key"}
    assert json.loads(tenant.stdout)["api_key"].startswith("cdk_")

    customer = run_cli(env, "customer", "create", "--org", "サンプル株式会社", "--email", "it@example.co.jp", "--json")
    assert customer.returncode == 0, customer.stderr
    data = json.loads(customer.stdout)
    assert set(data) == {"access_key", "initial_password"}
    assert len(data["access_key"]) == 8 and data["access_key"].isdigit() and len(data["initial_password"]) >= 12
    assert "next `certdesk up`" in customer.stderr and data["initial_password"] not in customer.stderr

    staff = run_cli(env, "staff", "create", "sato", "--role", "support", "--json")
    assert staff.returncode == 0, staff.stderr
    data = json.loads(staff.stdout)
    assert data["username"] == "sato" and len(data["password"]) >= 12

    given = run_cli(env, "staff", "create", "suzuki", "--role", "supervisor", "--password", "correct horse battery")
    assert given.returncode == 0 and "correct horse battery" not in given.stdout


def test_text_output_shows_the_secret_once(env: dict[str, str]) -> None:
    out = run_cli(env, "customer", "create", "--org", "A", "--email", "a@example.com")
    assert out.returncode == 0
    assert "access key:" in out.stdout and "must be changed at first login" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["customer", "create", "--org", "A", "--email", "nobody"], "is not an email address"),
        (["customer", "create", "--org", " ", "--email", "a@example.com"], "organization"),
        (["staff", "create", "x", "--role", "support", "--password", "short"], "12 to 128"),
        (["staff", "create", "bad name!", "--role", "support"], "username"),
        (["tenant", "create", ""], "tenant name"),
    ],
)
def test_bad_input_is_refused_with_a_message(env: dict[str, str], args: list[str], message: str) -> None:
    out = run_cli(env, *args)
    assert out.returncode == 1 and message in out.stderr and out.stdout == ""


def test_duplicates_are_refused(env: dict[str, str]) -> None:
    assert run_cli(env, "staff", "create", "sato", "--role", "support").returncode == 0
    again = run_cli(env, "staff", "create", "sato", "--role", "supervisor")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_unparseable_configuration_stops_with_the_variable_named(env: dict[str, str]) -> None:
    out = run_cli({**env, "CERTDESK_DELAYED_REVOCATION": "two weeks"}, "up")
    assert out.returncode == 2 and "CERTDESK_DELAYED_REVOCATION" in out.stderr
    assert not (Path(env["CERTDESK_DATA_DIR"]) / "temporal.db").exists()
