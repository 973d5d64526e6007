"""The message catalogue (``domain/locales/<lang>/*.json``): complete, and the languages agree.

How the keys the code uses are found ("extraction"):

* Literal keys in templates: each template under ``api/templates`` is parsed with Jinja2's own
  parser and every call ``t(...)`` is classified by its argument. A constant (also one inside an
  expression, as in ``t(title or "eu_service")``) is a literal key and must exist. Mail templates
  (``domain/mail_templates/<lang>/``) are written once per language and do not call ``t``.
* Keys built at run time: templates build keys as ``t("prefix_" ~ value)`` (or ``+``) and Python
  as ``f"prefix_{value}"``. Every such prefix is collected (templates by the Jinja parse, Python
  by a regex for ``f"word_…_{`` over the packages' sources, less the few in ``NOT_KEYS`` that
  are ids or codes) and must be one that ``DYNAMIC`` enumerates: the finite
  set each value comes from (task kinds, states and outcomes, profile fields and roles, error
  codes, ...), imported from ``domain`` where it is defined there, else read from the code that
  produces it or listed here. So a new dynamic key without an enumeration fails this file.
* Keys passed in a variable (``t(msg)``, ``t(done)``, ``t(title)``, ``t(message_key)``,
  ``t(info)``, ``REFUSALS``, ``DONE_MESSAGES``): the Python string literals shaped like a key of a
  prefixed area (``eu_…``, ``acct_…``, ``app_…``, ``profile_…``), plus the ``?msg=`` values of the
  desk and the portal (``VARIABLE_KEYS``). ``t(help_key)`` on the profile form is optional by
  design: the template shows help only when ``t(help_key) != help_key``.
"""

import inspect
import json
import re
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, nodes
from temporalio.client import WorkflowExecutionStatus

from domain import coupons as coupon_rules
from domain import devices as device_rules
from domain import enrollment as e
from domain import login_methods, messages, oidc
from domain import profile as profiles
from domain.catalog import CATALOG
from domain.pki.errors import CSR_CODES
from domain.revocation import REASONS
from domain.server_types import SERVER_TYPES
from domain.tasks import KINDS, LABELLED_FACTS, STAFF_ROLES, TASK_STATES
from domain.vetting import checks as vetting_checks
from domain.vetting.dcv import Method

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "api" / "templates"
PACKAGES = ("api", "domain", "activities", "workflows", "certdesk", "store", "processes")


def ja() -> Mapping[str, str]:
    return messages.catalogue("ja")


def en() -> Mapping[str, str]:
    return messages.catalogue("en")


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


# --- the catalogue itself --------------------------------------------------------------------------

def test_both_languages_have_the_same_keys() -> None:
    assert sorted(set(ja()) - set(en())) == [] and sorted(set(en()) - set(ja())) == []


def test_both_languages_have_the_same_placeholders() -> None:
    both = set(ja()) & set(en())
    differ = {k: (placeholders(ja()[k]), placeholders(en()[k])) for k in both
              if placeholders(ja()[k]) != placeholders(en()[k])}
    assert differ == {}


def test_no_text_is_empty() -> None:
    empty = [f"{lang}:{k}" for lang in messages.LANGUAGES for k, v in messages.catalogue(lang).items() if not v.strip()]
    assert empty == []


def test_locale_files_are_utf8_objects_split_the_same_way() -> None:
    folders = {lang: messages.LOCALES / lang for lang in messages.LANGUAGES}
    names = {lang: sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
             for lang, folder in folders.items()}
    assert names["ja"] == names["en"] and names["ja"]
    for name in names["ja"]:
        ja, en = (json.loads((folders[lang] / name).read_text(encoding="utf-8")) for lang in ("ja", "en"))
        assert list(ja) == list(en), f"{name}: keys in a different order or file"


def test_unknown_language_and_missing_key() -> None:
    assert messages.catalogue("fr") is messages.catalogue("ja")
    assert messages.translator("en")("app_name") == en()["app_name"]
    assert messages.translator("fr")("app_name") == ja()["app_name"]
    assert messages.translator("en")("no_such_key") == "no_such_key"


def test_the_api_keeps_its_names() -> None:
    from api import i18n

    assert i18n.LANGUAGES == ("ja", "en")
    assert dict(i18n.MESSAGES["en"]) == dict(en()) and i18n.MESSAGES["ja"].get("app_name") == ja()["app_name"]
    assert i18n.translator("ja")("back") == ja()["back"]


# --- the loader refuses what would shadow a text silently ---------------------------------------------

def _locales(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "ja").mkdir()
    for name, text in files.items():
        (tmp_path / "ja" / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_loader_merges_the_files_of_a_language(tmp_path: Path) -> None:
    folder = _locales(tmp_path, {"a.json": '{"x": "エックス"}', "b.json": '{"y": "ワイ"}', "notes.txt": "ignored"})
    assert messages.load("ja", folder) == {"x": "エックス", "y": "ワイ"}


def test_loader_refuses_a_key_in_two_files(tmp_path: Path) -> None:
    folder = _locales(tmp_path, {"a.json": '{"x": "one"}', "b.json": '{"x": "two"}'})
    with pytest.raises(messages.CatalogueError, match="'x' is already defined in ja/a.json"):
        messages.load("ja", folder)


def test_loader_refuses_a_key_twice_in_one_file(tmp_path: Path) -> None:
    with pytest.raises(messages.CatalogueError, match="appears twice"):
        messages.load("ja", _locales(tmp_path, {"a.json": '{"x": "one", "x": "two"}'}))


@pytest.mark.parametrize("text", ['["x"]', '{"x": 1}', "{not json"])
def test_loader_refuses_what_is_not_a_table_of_texts(tmp_path: Path, text: str) -> None:
    with pytest.raises(messages.CatalogueError):
        messages.load("ja", _locales(tmp_path, {"a.json": text}))


def test_loader_refuses_a_language_without_files(tmp_path: Path) -> None:
    with pytest.raises(messages.CatalogueError, match="no message files"):
        messages.load("en", tmp_path)


# --- extraction -------------------------------------------------------------------------------------

def _template_calls() -> Iterator[tuple[str, nodes.Call]]:
    env = Environment(autoescape=True)  # noqa: S701 (parsing only)
    for path in sorted(TEMPLATES.rglob("*.html")):
        for call in env.parse(path.read_text(encoding="utf-8")).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "t" and call.args:
                yield str(path.relative_to(TEMPLATES)), call


def _prefix_of(arg: nodes.Node) -> str | None:
    """``"state_" ~ x`` or ``"acct_status_" + x``: the constant prefix of a built key."""
    first = arg.nodes[0] if isinstance(arg, nodes.Concat) else arg.left if isinstance(arg, nodes.Add) else None
    return first.value if isinstance(first, nodes.Const) and isinstance(first.value, str) else None


def template_literal_keys() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for where, call in _template_calls():
        arg = call.args[0]
        if _prefix_of(arg) is None:
            consts = [arg] if isinstance(arg, nodes.Const) else list(arg.find_all(nodes.Const))
            for const in consts:
                if isinstance(const.value, str) and const.value:
                    found.setdefault(const.value, set()).add(where)
    return found


def template_prefixes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for where, call in _template_calls():
        prefix = _prefix_of(call.args[0])
        if prefix is not None:
            found.setdefault(prefix, set()).add(where)
    return found


def _python_sources() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else ():
            yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


# f-strings of that shape which are not message keys: ids, error codes, mail template names.
NOT_KEYS = {"enr_", "certificate_", "application_", "contract_",  # the last three: mail template names
            # reason codes of domain and CAA checks, kept as evidence (workflows/, activities/vetting.py)
            "primary_", "lookup_failed_",
            "cdc_",  # OpenID Connect client ids (store/oidc.py)
            "certdesk_ocsp_cache_", "certdesk_hashing_pool_"}  # Prometheus metric names (api/metrics.py)


def python_prefixes() -> dict[str, set[str]]:
    """``f"profile_err_{e.code}"``, ``f'profile_role_{role}'``: prefixes of keys built in Python."""
    found: dict[str, set[str]] = {}
    for where, source in _python_sources():
        for prefix in re.findall(r"""\bf["']([a-z][a-z0-9]*(?:_[a-z0-9]+)*_)\{""", source):
            if prefix not in NOT_KEYS:
                found.setdefault(prefix, set()).add(where)
    return found


def python_literal_keys() -> dict[str, set[str]]:
    """String literals shaped like a key of a prefixed area, anywhere in the web layer."""
    found: dict[str, set[str]] = {}
    for where, source in _python_sources():
        if where.startswith("api"):
            for key in re.findall(r"""(?<![\w{])["']((?:eu|acct|app|profile)_[a-z0-9_]*[a-z0-9])["']""", source):
                found.setdefault(key, set()).add(where)
    return found


def _codes(module: object, pattern: str) -> set[str]:
    return {code for args in re.findall(pattern, inspect.getsource(module)) for code in re.findall(r'"(\w+)"', args)}


def _error_keys() -> set[str]:
    """What follows ``err_``: the portal's login and reset pages show ``t("err_" ~ error)`` with a
    LoginRefused code (or the reset form's ``bad_input``); error answers (``api/errors.py``) read
    ``err_<key or code>`` for ``error(request, status, code, key=...)`` and ``ApiError(status, code,
    key=...)``. Literal codes and keys are read from the sources; a key computed at run time is not.
    """
    keys = {"bad_input"}
    call = re.compile(r'(?:\berror\(\s*request|\bApiError\()\s*,?\s*[\w.]+,\s*(?:"(\w+)"|[\w.]+)'
                      r'(?:,\s*key=("(\w+)"|[^,)]+))?')
    for _, source in _python_sources():
        keys |= set(re.findall(r'LoginRefused\(\s*"(\w+)"', source))
        for code, key_expression, key in call.findall(source):
            if key or (code and not key_expression):
                keys.add(key or code)
    return keys


def _client_certificate_reasons() -> set[str]:
    """``err_client_certificate_<reason>``: why a customer's second factor was refused
    (api/customer_auth.py), including a login certificate's own refusal (store/certificates.py)."""
    from api import customer_auth
    from store import certificates

    return (_codes(customer_auth, r"return\s+(\"\w+\")") - {"client_certificate"}) | \
        _codes(certificates, r"CertificateRefused\((.*)\)")


def _password_codes() -> set[str]:
    """``err_password_<code>``: the password rules' refusals (domain/passwords.py)."""
    from domain import passwords

    return _codes(passwords, r"return\s+(\"\w+\")")


def _profile_error_codes() -> set[str]:
    codes = _codes(profiles, r'_error\(\s*("\w+")') | _codes(profiles, r'_matching\([^,]+,\s*("\w+")')
    return codes | {"extra_forbidden"}  # pydantic's, for a field the profile does not know (extra="forbid")


def _login_refusal_reasons() -> set[str]:
    from api import login_account

    return _codes(login_account, r"CertificateRefused\(\d{3},\s*(.*)")


def _vetting_pages() -> Any:
    from api import domain_validations

    return domain_validations


# prefix -> the values it is completed with at run time (a callable: read when the test runs).
DYNAMIC = {
    # The desk's task facts shown by label, and the new person in charge form's fields (S-12)
    "fact_": lambda: set(LABELLED_FACTS),
    "fact_value_": lambda: {"yes", "no"},
    "handover_": lambda: {"access_key", "reseller_code", "name", "email"},
    "language_": lambda: {"ja", "en"},
    "role_": lambda: set(STAFF_ROLES),
    "workflow_status_": lambda: {s.name for s in WorkflowExecutionStatus} | {"UNKNOWN", "UNAVAILABLE"},
    # desk: inbox filter (the "active" pseudo-state = open or claimed), task rows and the task page
    "state_": lambda: {*TASK_STATES, "active"},
    "kind_": lambda: set(KINDS),
    # activities/applications.py closes the tasks of a cancelled application with outcome "cancelled"
    "outcome_": lambda: {o for k in KINDS.values() for o in k.outcomes} | {"cancelled"},
    # portal: the application list and detail (store/models.py Application.type / .status / .reason)
    "app_type_": lambda: {"new", "reissue", "renewal", "contact_change", "revocation"},
    "app_status_": lambda: {"received", "validating", "reviewing", "documents_pending", "issued", "completed",
                            "rejected", "cancelled", "returned"},
    "app_reason_": lambda: set(REASONS) | {"immediately", "after_two_weeks"},  # revocation | reissue
    "err_": _error_keys,
    # built as err_ keys (``key=f"client_certificate_{problem}"``, ``key=f"password_{code}"``)
    "client_certificate_": _client_certificate_reasons,
    "password_": _password_codes,
    # api/errors.py falls back to val_invalid for a validator error type without its own text
    "val_": lambda: {"invalid"},
    "profile_org_": lambda: {f.name for f in profiles.ORGANIZATION_FIELDS},
    "profile_contact_": lambda: {f.name for f in profiles.CONTACT_FIELDS},
    "profile_role_": lambda: set(profiles.ROLES),
    "profile_err_": _profile_error_codes,
    # the login certificate holders' account app
    "acct_refused_": _login_refusal_reasons,
    "acct_status_": lambda: {"issued", "revoked"},  # the certificate that logged in (CertificateRecord.state)
    # domain objects whose words are in the catalogue
    "question_": lambda: {q.id for q in e.QUESTIONS},
    "product_": lambda: set(CATALOG),
    # activities/applications.py: where to place a domain validation's value, by method
    "dcv_instruction_": lambda: {m.value for m in Method},
    # api/domain_validations.py: a validation's state and method, its last check's result, approval's refusals
    "dcv_state_": lambda: set(_vetting_pages().STATES),
    "dcv_method_": lambda: {m.value for m in Method},
    "dcv_result_": lambda: set(_vetting_pages().RESULT_CODES) | {"other"},
    "vet_refusal_": lambda: set(_vetting_pages().APPROVAL_REFUSALS) | {"other"},
    # api/templates/desk/task.html: the vetting desk's checks (domain.vetting.checks)
    "vet_check_": lambda: set(vetting_checks.CHECKS),
    "vet_source_": lambda: {src for sources in vetting_checks.SOURCES.values() for src in sources},
    "vet_outcome_": lambda: set(vetting_checks.OUTCOMES),
    "vet_corporate_number_": lambda: {"corporate_number_format", "corporate_number_check_digit"},
    # 新規申請 and クーポン管理: server types, a refused CSR's codes, coupons' states and refusals
    "server_type_": lambda: set(SERVER_TYPES),
    "csr_": lambda: set(CSR_CODES),
    "coupon_state_": lambda: set(coupon_rules.STATES),
    "coupon_refused_": lambda: set(coupon_rules.REFUSALS),
    # 端末情報 (L-4): a device's type and its state in the list (domain/devices.py)
    "device_type_": lambda: set(device_rules.DEVICE_TYPES),
    "device_state_": lambda: {device_rules.ACTIVE, device_rules.PENDING, device_rules.UNFINISHED, device_rules.REMOVED},
    # ログイン方法の変更 (L-5): each login method's name and description (domain/login_methods.py)
    "lm_method_": lambda: {login_methods.message_name(m) for m in login_methods.METHODS},
    "lm_about_": lambda: {login_methods.message_name(m) for m in login_methods.METHODS},
    # the OpenID Connect consent page: what each scope gives the website (domain/oidc.py)
    "oidc_scope_": lambda: set(oidc.SCOPES),
}

# Keys the desk and the portal pass in ``?msg=`` and show with ``t(msg)``.
VARIABLE_KEYS = {"claimed_ok", "released_ok", "assigned_ok", "done_ok", "no_such_customer", "reset_started",
                 "handover_opened", "password_changed", "check_recorded_ok"}


def _missing(keys: set[str]) -> list[str]:
    return sorted(f"{lang}:{k}" for lang in messages.LANGUAGES for k in keys if k not in messages.catalogue(lang))


def test_literal_template_keys_exist() -> None:
    keys = template_literal_keys()
    assert len(keys) > 100  # the parse found the templates' calls
    assert _missing(set(keys)) == []


def test_literal_help_keys_of_the_profile_form_exist() -> None:
    text = (TEMPLATES / "account" / "profile_form.html").read_text(encoding="utf-8")
    keys = set(re.findall(r"\bprofile_help_[a-z_]*[a-z]\b", text))
    assert keys and _missing(keys) == []


def test_key_shaped_literals_in_python_exist() -> None:
    keys = python_literal_keys()
    assert "eu_err_expired" in keys  # REFUSALS is seen
    assert _missing(set(keys)) == []


def test_every_built_prefix_is_enumerated() -> None:
    unknown = {p: where for p, where in {**template_prefixes(), **python_prefixes()}.items() if p not in DYNAMIC}
    assert unknown == {}


# Prefixes of the keys that name an error's message: the catalogue has them as ``err_<prefix><value>``.
ERROR_KEY_PREFIXES = {"client_certificate_", "password_"}


@pytest.mark.parametrize("prefix", sorted(DYNAMIC))
def test_every_built_key_exists(prefix: str) -> None:
    values = DYNAMIC[prefix]()
    assert values, f"nothing enumerated for {prefix}"
    full = f"err_{prefix}" if prefix in ERROR_KEY_PREFIXES else prefix
    assert _missing({full + v for v in values}) == []


def test_variable_keys_exist() -> None:
    in_urls = {k for _, source in _python_sources() for k in re.findall(r"[?&]msg=([a-z_]+)\b", source)}
    assert in_urls <= VARIABLE_KEYS
    assert _missing(VARIABLE_KEYS) == []


def test_every_refusal_reaches_a_message() -> None:
    from api.end_user_steps import REFUSALS

    states = {v for k, v in vars(e).items() if k.isupper() and isinstance(v, str)}
    keys = {REFUSALS.get(state, (409, "eu_err_state"))[1] for state in states | set(REFUSALS)}
    keys |= {"eu_err_state", "eu_err_otp_locked", "eu_err_answer_locked"}
    assert _missing(keys) == []


def test_questions_and_products_read_the_catalogue() -> None:
    for q in e.QUESTIONS:
        assert q.text("ja") == ja()[f"question_{q.id}"] and q.text("en") == en()[f"question_{q.id}"]
        assert q.text("fr") == q.text("ja")
    for code, product in CATALOG.items():
        assert product.name("ja") == ja()[f"product_{code}"] and product.name("en") == en()[f"product_{code}"]
        assert product.name("fr") == product.name("en")


# Japanese texts that are names, codes or formats, the same in any language.
ASCII_IN_JAPANESE = {"app_csr", "apply_error_summary_field", "app_contract_service_value", "dl_pkcs7",
                     "profile_contact_email", "vet_desk_caa"}
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_every_message_renders_in_its_language(lang: str) -> None:
    """Each text, its placeholders filled, reads whole (no brace left, no format error), and is
    in its language: Japanese texts are Japanese (server software names and codes apart), English
    texts hold Japanese only where they name the manual's term beside the English one."""
    table = messages.catalogue(lang)
    for key, text in table.items():
        names = {f[1] for f in string.Formatter().parse(text) if f[1]}
        rendered = text.format(**{n: "<x>" for n in names})
        assert "{" not in rendered and "}" not in rendered, (lang, key, rendered)
        if lang == "ja" and not key.startswith("server_type_") and key not in ASCII_IN_JAPANESE:
            assert CJK.search(text), (key, text)
        if lang == "en" and CJK.search(text):
            assert re.search(r"\((?:[^()]*[\u3040-\u30ff\u4e00-\u9fff][^()]*)\)", text), (key, text)
