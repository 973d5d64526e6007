import pytest

from domain import credentials


def test_password_hash_is_argon2id_and_verifies() -> None:
    h = credentials.hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert "correct horse" not in h
    assert credentials.verify_password(h, "correct horse battery")
    assert not credentials.verify_password(h, "correct horse batterY")
    assert not credentials.verify_password("not a hash", "x")


def test_generated_secrets_have_their_shapes() -> None:
    keys = {credentials.new_access_key() for _ in range(200)}
    assert all(len(k) == 8 and k.isdigit() and k[0] != "0" for k in keys)
    assert len(keys) > 190
    pw = credentials.new_initial_password()
    assert len(pw) == 16 and not set(pw) & set("0O1lI")


def test_api_keys_split_and_match() -> None:
    key, key_id, digest = credentials.new_api_key()
    parsed = credentials.split_api_key(key)
    assert parsed is not None and parsed[0] == key_id
    assert credentials.api_key_matches(digest, parsed[1])
    assert not credentials.api_key_matches(digest, parsed[1] + "x")
    assert parsed[1] not in digest


@pytest.mark.parametrize("bad", ["", "cdk", "cdk__x", "xyz_a_b", "cdk_abc_"])
def test_malformed_api_keys_are_refused(bad: str) -> None:
    assert credentials.split_api_key(bad) is None


def test_download_passwords_carry_at_least_112_bits() -> None:
    pw = credentials.new_download_password()
    groups = pw.split("-")
    assert len(groups) == 4 and all(len(g) == 5 for g in groups)
    assert credentials.secret_bits(20) >= 112
    assert len({credentials.new_download_password() for _ in range(100)}) == 100
