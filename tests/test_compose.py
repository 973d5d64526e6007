"""Structure of the production compose file (X-1), checked by parsing it.

No Docker engine is needed: these tests read docker-compose.yml, the Dockerfile and the
scripts under deploy/ and check the wiring that `docker compose up` depends on.
"""

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"

APP_SERVICES = ("migrate", "api", "worker", "account")
SEARCH_ATTRIBUTES = ("CertdeskSubject", "CertdeskCustomer", "CertdeskStatus")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def resolve_defaults(value: str) -> str:
    """Interpolate like compose would with an empty environment (defaults only)."""

    def replace(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        return ""

    return _VARIABLE.sub(replace, value)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published_ports(service: dict) -> set[tuple[int, int]]:
    """(host, container) pairs from the short syntax, e.g. "8233:8080"."""
    pairs = set()
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        host, container = (parts[-1], parts[-1]) if len(parts) == 1 else (parts[-2], parts[-1])
        pairs.add((int(host), int(container)))
    return pairs


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def mounted_scripts(service: dict) -> str:
    """The text of the host directories a service mounts (its setup scripts)."""
    texts = []
    for volume in service.get("volumes", []):
        source = str(volume).split(":")[0]
        if source.startswith("./"):
            path = ROOT / source
            files = sorted(path.rglob("*")) if path.is_dir() else [path]
            texts += [f.read_text(encoding="utf-8") for f in files if f.is_file()]
    return "\n".join(texts)


def test_valid_against_the_compose_specification() -> None:
    # The closest thing to `docker compose config` without Docker: check-jsonschema ships the
    # compose-spec schema (a test dependency).
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run(
        [*command, str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_present(services: dict) -> None:
    expected = {
        "postgresql",
        "temporal-admin-tools",
        "temporal",
        "temporal-search-attributes",
        "temporal-ui",
        "mailpit",
        "migrate",
        "api",
        "worker",
        "account",
    }
    assert expected <= set(services)


@pytest.mark.parametrize(
    ("service", "host", "container"),
    [
        ("temporal", 7233, 7233),
        ("temporal-ui", 8233, 8080),
        ("mailpit", 1025, 1025),
        ("mailpit", 8025, 8025),
        ("nginx", 80, 80),
        ("nginx", 443, 443),
        ("nginx", 8443, 8443),
    ],
)
def test_ports(services: dict, service: str, host: int, container: int) -> None:
    assert (host, container) in published_ports(services[service])


@pytest.mark.parametrize("service", ["temporal", "temporal-ui", "mailpit"])
def test_admin_ports_listen_on_this_host_only(services: dict, service: str) -> None:
    # The workflow API and the Temporal UI have no login of their own; mail holds one-time passwords.
    for entry in services[service]["ports"]:
        assert str(entry).startswith("127.0.0.1:"), entry


def test_database_is_not_published(services: dict) -> None:
    # Only the containers talk to PostgreSQL; it holds the CA's customer records.
    assert not services["postgresql"].get("ports")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_are_built_from_this_repository(services: dict, name: str) -> None:
    build = services[name]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert context == "."


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("api", ["uvicorn", "--factory", "api.app:create_app", "--host", "0.0.0.0", "--port", "8000",
                 "--no-proxy-headers"]),
        ("worker", ["python", "-m", "certdesk.worker"]),
        ("migrate", ["certdesk", "migrate"]),
        ("account", ["uvicorn", "--factory", "api.login_account:create_account_app", "--host", "0.0.0.0",
                     "--port", "8001", "--no-proxy-headers"]),
    ],
)
def test_app_commands(services: dict, name: str, command: list[str]) -> None:
    actual = services[name]["command"]
    assert (actual.split() if isinstance(actual, str) else actual) == command


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_points_at_temporal_service(services: dict, name: str) -> None:
    address = env_of(services[name])["CERTDESK_TEMPORAL_ADDRESS"]
    host, _, port = address.rpartition(":")
    assert host == "temporal" and host in services
    assert port == "7233"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_points_at_postgresql_service(services: dict, name: str) -> None:
    url = urlsplit(env_of(services[name])["CERTDESK_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgresql" and url.hostname in services
    assert url.port == 5432
    assert url.path == "/certdesk"
    assert (url.username, url.password) == ("certdesk", "certdesk")
    pg_env = env_of(services["postgresql"])
    assert (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"]) == (
        "certdesk",
        "certdesk",
        "certdesk",
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_configuration(services: dict, name: str) -> None:
    env = env_of(services[name])
    assert env["CERTDESK_SMTP_HOST"] == "mailpit" and "mailpit" in services
    assert env["CERTDESK_SMTP_PORT"] == "1025"
    assert env["CERTDESK_DATA_DIR"] == "/data"
    assert env["CERTDESK_PUBLIC_URL"]
    # The CA key passphrase comes from the host and compose refuses to start without it.
    assert re.fullmatch(r"\$\{CERTDESK_CA_PASSPHRASE:\?[^}]+\}", env["CERTDESK_CA_PASSPHRASE"])
    mounts = [str(v).split(":") for v in services[name]["volumes"]]
    assert any(target == "/data" for _, target, *_ in mounts)


@pytest.mark.parametrize("name", ["api", "worker"])
def test_app_waits_for_migrations_and_temporal_setup(services: dict, name: str) -> None:
    deps = depends_on(services[name])
    assert deps["migrate"] == "service_completed_successfully"
    assert deps["temporal-search-attributes"] == "service_completed_successfully"


def test_one_shot_services_do_not_restart_forever(services: dict) -> None:
    # service_completed_successfully needs the container to exit, not to be restarted.
    assert services["migrate"]["restart"] == "no"
    for name in ("temporal-admin-tools", "temporal-search-attributes"):
        assert services[name]["restart"].startswith("on-failure")


def test_api_healthcheck_uses_healthz(services: dict) -> None:
    test = services["api"]["healthcheck"]["test"]
    assert "/healthz" in (test if isinstance(test, str) else " ".join(test))


def test_postgresql_is_persistent_and_checked(compose: dict, services: dict) -> None:
    pg = services["postgresql"]
    assert resolve_defaults(pg["image"]) == "postgres:16"
    assert "postgres-data:/var/lib/postgresql/data" in pg["volumes"]
    assert "postgres-data" in compose["volumes"]
    assert "pg_isready" in str(pg["healthcheck"]["test"])


def test_temporal_server_uses_postgres_and_waits_for_schema(services: dict) -> None:
    temporal = services["temporal"]
    assert resolve_defaults(temporal["image"]).startswith("temporalio/server:")
    env = env_of(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert depends_on(temporal)["temporal-admin-tools"] == "service_completed_successfully"
    assert "healthcheck" in temporal


def test_schema_setup_covers_both_databases(services: dict) -> None:
    tools = services["temporal-admin-tools"]
    assert resolve_defaults(tools["image"]).startswith("temporalio/admin-tools:")
    assert depends_on(tools)["postgresql"] == "service_healthy"
    script = mounted_scripts(tools)
    assert "temporal-sql-tool --plugin postgres12" in script
    assert "setup-schema -v 0.0" in script and "update-schema" in script
    assert "setup_database temporal " in script
    assert "setup_database temporal_visibility " in script
    assert "/etc/temporal/schema/postgresql/v12" in script
    assert '"$SCHEMA_ROOT/temporal/versioned"' in script
    assert '"$SCHEMA_ROOT/visibility/versioned"' in script


def test_server_and_admin_tools_versions_match(services: dict) -> None:
    # The schema tool must apply exactly the schema version the server expects.
    def tag(name: str) -> str:
        return resolve_defaults(services[name]["image"]).rsplit(":", 1)[1]

    assert tag("temporal") == tag("temporal-admin-tools") == tag("temporal-search-attributes")


def test_search_attributes_registered_after_server_is_healthy(services: dict) -> None:
    step = services["temporal-search-attributes"]
    assert resolve_defaults(step["image"]).startswith("temporalio/admin-tools:")
    assert depends_on(step)["temporal"] == "service_healthy"
    script = mounted_scripts(step)
    assert "temporal operator search-attribute create" in script
    for name in SEARCH_ATTRIBUTES:
        assert f"{name}=Keyword" in script
    # The namespace the app uses is the one that gets the attributes.
    app_ns = env_of(services["worker"])["CERTDESK_TEMPORAL_NAMESPACE"]
    assert env_of(step)["TEMPORAL_NAMESPACE"] == app_ns


def test_search_attributes_match_the_application() -> None:
    from domain import settings

    assert set(SEARCH_ATTRIBUTES) == set(settings.SEARCH_ATTRIBUTES)


def test_temporal_ui_points_at_server(services: dict) -> None:
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert resolve_defaults(services["temporal-ui"]["image"]).startswith("temporalio/ui:")


def test_mailpit_image(services: dict) -> None:
    assert resolve_defaults(services["mailpit"]["image"]).startswith("axllent/mailpit:")


def test_no_auto_setup_image_anywhere() -> None:
    files = [COMPOSE_FILE, DOCKERFILE, *(p for p in DEPLOY.rglob("*") if p.is_file())]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "temporalio/auto-setup" not in text, path
        assert not re.search(r"^\s*image:.*auto-setup", text, re.MULTILINE), path


def test_every_image_is_pinned_to_a_tag(services: dict) -> None:
    for name, service in services.items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        image = resolve_defaults(service["image"])
        repository, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag, f"{name}: {image!r} has no tag"
        assert repository and tag, f"{name}: {image!r}"
        assert tag != "latest", f"{name}: {image!r} uses latest"


def test_depends_on_targets_exist(services: dict) -> None:
    for name, service in services.items():
        for target in depends_on(service):
            assert target in services, f"{name} depends on unknown service {target}"


def test_named_volumes_are_declared_and_host_paths_exist(compose: dict, services: dict) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith(("./", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: volume {source} undeclared"


def test_deploy_scripts_are_valid_posix_shell() -> None:
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert scripts
    sh = shutil.which("sh")
    assert sh is not None
    for script in scripts:
        assert script.read_text(encoding="utf-8").startswith("#!/bin/sh"), script
        result = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_dockerfile_installs_the_project_as_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"\bpip install (?:[^\n]* )?\.(?:\s|$)", text), "the project itself is installed"
    assert re.search(r"^COPY \. ", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image runs as a non-root user"


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    entries = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".env"} <= entries


def test_every_configured_remote_perspective_has_its_worker(services: dict) -> None:
    """BR 3.2.2.9: the names the worker fans checks out to are each polled by a perspective service."""
    names = env_of(services["worker"])["CERTDESK_REMOTE_PERSPECTIVES"].split(",")
    assert len(names) >= 5  # the BR's minimum from 2026-12-15
    for name in names:
        service = services[f"perspective-{name}"]
        assert service["command"] == ["python", "-m", "certdesk.perspective", name]
        assert "/ca-keys" not in str(service.get("volumes", []))  # a perspective only looks: no keys


def _unbound_settings(service: dict) -> dict[str, list[str]]:
    """The ``server:`` options of the resolver's mounted unbound.conf, each with its values."""
    mounted = [str(v).split(":") for v in service["volumes"]]
    config = next(ROOT / source for source, target, *_ in mounted if target.endswith("/unbound.conf"))
    options: dict[str, list[str]] = {}
    section = ""
    for line in config.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            section = line.strip().rstrip(":")
            continue
        if section == "server":
            key, _, value = line.strip().partition(":")
            options.setdefault(key, []).append(value.strip().strip('"'))
    return options


def test_the_lookups_go_through_a_dnssec_validating_resolver(compose: dict, services: dict) -> None:
    """BR 3.2.2.8 / issue 13: DCV and CAA look-ups use a DNSSEC-validating resolver (Unbound)."""
    resolver = services["resolver"]
    assert resolve_defaults(resolver["image"]).startswith("mvance/unbound:")
    options = _unbound_settings(resolver)
    assert options["module-config"] == ["validator iterator"]
    assert options["auto-trust-anchor-file"] and options["val-permissive-mode"] == ["no"]
    assert options["harden-dnssec-stripped"] == ["yes"] and options.get("serve-expired", ["no"]) == ["no"]
    assert any(value.endswith("@53") for value in options["interface"])
    # The resolver's fixed address in the compose network is what the CA's processes ask.
    address = resolver["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert any(ipaddress.ip_address(address) in ipaddress.ip_network(rule.split()[0])
               for rule in options["access-control"] if rule.endswith("allow"))
    lookers = ["worker", *(name for name in services if name.startswith("perspective-"))]
    assert len(lookers) >= 6
    for name in lookers:
        assert env_of(services[name])["CERTDESK_DNS_RESOLVER"] == f"{address}:53", name
        assert "resolver" in depends_on(services[name]), name


# --- the TLS terminator in front of the web apps (issue 14, finding 1) ---------------------------

WEB_APPS = {"api": 8000, "account": 8001}  # service -> the port its uvicorn command listens on


def _nginx_blocks(text: str) -> list:
    """nginx.conf as nested lists: a directive is ``[name, *args]``, a block ``[name, *args, [children]]``."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};"\']+', re.sub(r"#[^\n]*", "", text))
    stack: list[list] = [[]]
    current: list[str] = []
    for token in tokens:
        if token == "{":
            block: list = [*current, []]
            stack[-1].append(block)
            stack.append(block[-1])
            current = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            stack[-1].append(current)
            current = []
        else:
            current.append(token.strip("\"'") if token[0] in "\"'" else token)
    assert len(stack) == 1 and not current, "unbalanced nginx configuration"
    return stack[0]


def _directives(block: list, name: str) -> list[list[str]]:
    return [d[1:] for d in block if d and d[0] == name and not isinstance(d[-1], list)]


@pytest.fixture(scope="module")
def nginx_conf(services: dict) -> list:
    mounts = [str(v).split(":") for v in services["nginx"]["volumes"]]
    source = next(src for src, target, *_ in mounts if target == "/etc/nginx/conf.d/default.conf")
    return _nginx_blocks((ROOT / source).read_text(encoding="utf-8"))


def _servers(conf: list) -> list[list]:
    return [block[-1] for block in conf if block[0] == "server"]


def _upstreams(server: list) -> set[str]:
    return {d[0] for loc in server if loc[0] == "location" for d in _directives(loc[-1], "proxy_pass")}


def test_nginx_is_the_only_way_in_to_the_web_apps(compose: dict, services: dict) -> None:
    nginx = services["nginx"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", resolve_defaults(nginx["image"]))
    address = nginx["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert address != services["resolver"]["networks"]["default"]["ipv4_address"]
    for name in WEB_APPS:
        assert not services[name].get("ports"), f"{name} is published: it must be reached through nginx only"
        assert not services[name].get("expose") and "network_mode" not in services[name]
        assert env_of(services[name])["CERTDESK_TRUSTED_PROXIES"] == address, name
        assert name in depends_on(nginx)
    # No other service believes a client-certificate header, and none is trusted from elsewhere.
    for name, service in services.items():
        if name not in WEB_APPS:
            assert "CERTDESK_TRUSTED_PROXIES" not in env_of(service), name


def test_nginx_verifies_client_certificates_and_alone_sets_the_header(services: dict, nginx_conf: list) -> None:
    from domain.settings import Settings

    header = Settings().client_cert_header.lower()
    maps = {block[2]: block[-1] for block in nginx_conf if block[0] == "map" and block[1] == "$ssl_client_verify"}
    assert len(maps) == 1, "one map from $ssl_client_verify to the header's value"
    (variable, entries), = maps.items()
    assert {e[0]: e[1] for e in entries} == {"SUCCESS": "$ssl_client_escaped_cert", "default": ""}
    assert ["off"] in _directives(nginx_conf, "underscores_in_headers")  # X_SSL_Client_Cert is dropped

    reached: dict[str, set[str]] = {}
    for server in _servers(nginx_conf):
        upstreams = _upstreams(server)
        sets = {d[0].lower(): d[1] for d in _directives(server, "proxy_set_header")}
        # Set at the server level and nowhere overridden (a location's own proxy_set_header would drop them).
        assert not any(_directives(loc[-1], "proxy_set_header") for loc in server if loc[0] == "location")
        assert header in sets, f"a server that does not set {header} passes on the client's"
        assert sets["x-forwarded-for"] == "$remote_addr"  # replaced, not appended to the client's
        listens = _directives(server, "listen")
        if any("ssl" in d for d in listens):
            assert sets[header] == variable
            assert _directives(server, "ssl_verify_client")[0][0] in ("on", "optional")
            assert _directives(server, "ssl_client_certificate")[0][0].endswith("/login-ca-chain.pem")
            for upstream in upstreams:
                reached.setdefault(upstream, set()).add("tls")
        else:
            assert sets[header] == ""  # plain http: never a certificate
            locations = {loc[1] for loc in server if loc[0] == "location"}
            assert locations == {"/pki/", "/ocsp", "/"}
            assert _upstreams([loc for loc in server if loc[0] == "location" and loc[1] == "/"]) == set()
    assert reached == {f"http://{name}:{port}": {"tls"} for name, port in WEB_APPS.items()}


def test_nginx_reads_what_tls_setup_writes(services: dict, nginx_conf: list) -> None:
    from certdesk.client_cert_port import CLIENT_CA_BUNDLE_NAME, DEV_CERT_NAME, DEV_KEY_NAME

    setup = services["tls-setup"]
    assert setup["restart"] == "no" and depends_on(services["nginx"])["tls-setup"] == "service_completed_successfully"
    assert setup["command"][:3] == ["python", "-m", "certdesk.client_cert_port"]
    written = setup["command"][3]
    volume = next(str(v).split(":")[0] for v in setup["volumes"] if str(v).split(":")[1] == written)
    mounted = next(str(v).split(":")[1] for v in services["nginx"]["volumes"] if str(v).split(":")[0] == volume)
    expected = {f"{mounted}/tls/{name}" for name in (CLIENT_CA_BUNDLE_NAME, DEV_CERT_NAME, DEV_KEY_NAME)}
    used = {d[0] for server in _servers(nginx_conf)
            for name in ("ssl_certificate", "ssl_certificate_key", "ssl_client_certificate")
            for d in _directives(server, name)}
    assert used == expected
    assert "/ca-keys" not in str(setup["volumes"])  # it writes public certificates and a listener key only


# --- metrics (issue #18 target 7) -----------------------------------------------------------

def _metrics_port(service: dict, variable: str) -> int:
    from domain.settings import load_settings

    address = resolve_defaults(env_of(service)[variable])
    parsed = load_settings(**{variable.removeprefix("CERTDESK_").lower(): address})  # the app accepts it
    return int(str(getattr(parsed, variable.removeprefix("CERTDESK_").lower())).rpartition(":")[2])


def test_prometheus_scrapes_the_web_app_and_every_worker(services: dict) -> None:
    prometheus = services["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", resolve_defaults(prometheus["image"]))
    assert published_ports(prometheus) == {(9090, 9090)}
    assert all(str(p).startswith("127.0.0.1:") for p in prometheus["ports"])  # no login of its own
    config_file = next(str(v).split(":")[0] for v in prometheus["volumes"] if "prometheus.yml" in str(v))
    config = yaml.safe_load((ROOT / config_file).read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {"api": _metrics_port(services["api"], "CERTDESK_API_METRICS_ADDRESS"),
                "worker": _metrics_port(services["worker"], "CERTDESK_WORKER_METRICS_ADDRESS")}
    scraped = {}
    for job in jobs.values():
        for sd in job.get("dns_sd_configs", []):  # every replica of a scaled service
            for name in sd["names"]:
                scraped[name] = sd["port"]
    assert scraped == expected
    for name in expected:
        assert name in depends_on(prometheus)


def test_metrics_ports_stay_inside_the_network(services: dict, nginx_conf: list) -> None:
    ports = {_metrics_port(services["api"], "CERTDESK_API_METRICS_ADDRESS"),
             _metrics_port(services["worker"], "CERTDESK_WORKER_METRICS_ADDRESS")}
    assert 8000 not in ports and 8001 not in ports  # never the public app's port
    for server in _servers(nginx_conf):
        for upstream in _upstreams(server):
            assert urlsplit(upstream).port not in ports, upstream
    for name in ("api", "worker"):
        assert not services[name].get("ports"), name


def test_app_services_log_json(services: dict) -> None:
    for name in APP_SERVICES:
        assert resolve_defaults(env_of(services[name])["CERTDESK_LOG_FORMAT"]) == "json", name
