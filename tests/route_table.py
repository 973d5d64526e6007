"""The route table of both apps, walked rather than sampled, and who may call each route.

``walk`` reaches every route (FastAPI 0.165 keeps included routers as ``_IncludedRouter``
objects; ``iter_route_contexts`` descends into them). ``MAIN`` and ``ACCOUNT`` say, per method and
path, who may call it: tests/test_route_matrix.py fails for a route without an entry, an entry
without a route, and an entry that disagrees with the route's dependencies (api/deps.py).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute


def path_params(dependant: Dependant) -> Iterator[tuple[str, object]]:
    """Every path parameter the route or its dependencies declare: (name, type)."""
    for field in dependant.path_params:
        yield field.name, field.field_info.annotation
    for sub in dependant.dependencies:
        yield from path_params(sub)


@dataclass(frozen=True)
class RouteEntry:
    method: str
    path: str  # the path format: /api/v1/tasks/{task_id}
    route: BaseRoute

    @property
    def dependant(self) -> Dependant | None:
        return self.route.dependant if isinstance(self.route, APIRoute) else None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def dependencies(self) -> set[str]:
        """The names of every callable in the route's dependency tree."""
        found: set[str] = set()
        todo = [self.dependant] if self.dependant else []
        while todo:
            for sub in todo.pop().dependencies:
                found.add(getattr(sub.call, "__name__", ""))
                todo.append(sub)
        return found

    def body(self) -> str:
        """How the route takes its input: "json", "form" or "" (none declared)."""
        fields = list(self.dependant.body_params) if self.dependant else []
        if not fields:
            return ""
        return "form" if any(isinstance(f.field_info, Form) for f in fields) else "json"


def walk(app: FastAPI) -> list[RouteEntry]:
    """One entry per route and method, included routers' routes too."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        found.extend(RouteEntry(method, str(context.path_format), route) for method in sorted(context.methods or ()))
    return found


@dataclass(frozen=True)
class Access:
    """Who may call a route.

    ``who``: ``public`` (anyone), ``dev`` (anyone, mounted in development only), ``customer``,
    ``staff``, ``supervisor``, ``tenant`` (a website's API key), ``end_user_cert`` (the account
    app: the login certificate), ``link:<kind>`` (the token in the path is the credential:
    ``enroll``, ``reissue``, ``download``, ``dcv``).
    """

    who: str
    may_be_absent: bool = False  # the rightful caller may get 404: what it names does not exist yet
    last: bool = False  # changes what later calls see (cancels, revokes): runs after the others
    ends_session: bool = False  # a logout: the rightful caller spends a session of its own
    role_in_handler: bool = False  # supervisors only, checked by the handler rather than a dependency
    refuses_credentials: bool = False  # a login: 401 is its answer to the empty credentials sent
    probe: Any = None  # a valid JSON body, sent where the answer must refuse the ids or the token
    named: tuple[str, ...] = ()  # form fields given the caller's name: a per-name throttle counts each apart
    # A browser form on the account app with no session: sent without Origin (as here), the CSRF guard
    # refuses it with 403 (api/csrf.py: the certificate is ambient), which is then its answer.
    origin_only: bool = False


PUBLIC, DEV = Access("public"), Access("dev")
LOGIN = Access("public", refuses_credentials=True)
CUSTOMER, STAFF, SUPERVISOR, TENANT = Access("customer"), Access("staff"), Access("supervisor"), Access("tenant")
CUSTOMER_LOGOUT, STAFF_LOGOUT = Access("customer", ends_session=True), Access("staff", ends_session=True)
HOLDER = Access("end_user_cert")
APP = "/api/v1/applications/{application_id}"
PAGE = "/account/applications/{application_id}"


def link(kind: str, probe: dict[str, str] | None = None) -> Access:
    return Access(f"link:{kind}", probe=probe)


MAIN: dict[tuple[str, str], Access] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("HEAD", "/openapi.json"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/help/download"): PUBLIC,
    # Relying parties: CA certificates, CRLs, OCSP.
    ("GET", "/pki/{name}.crt"): PUBLIC,
    ("GET", "/pki/{name}.crl"): PUBLIC,
    ("POST", "/ocsp"): PUBLIC,
    ("GET", "/ocsp/{encoded}"): PUBLIC,
    # Logins and the customer's own reset request.
    ("POST", "/api/v1/staff/session"): LOGIN,
    ("GET", "/desk/login"): PUBLIC,
    ("POST", "/desk/login"): Access("public", refuses_credentials=True, named=("username",)),
    ("POST", "/api/v1/session"): LOGIN,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): LOGIN,
    ("GET", "/password-reset"): PUBLIC,
    ("POST", "/password-reset"): PUBLIC,
    ("POST", "/api/v1/password-resets"): PUBLIC,
    # The desk.
    ("DELETE", "/api/v1/staff/session"): STAFF_LOGOUT,
    ("POST", "/desk/logout"): STAFF_LOGOUT,
    ("GET", "/desk"): STAFF,
    ("GET", "/desk/locks"): SUPERVISOR,
    ("POST", "/desk/locks/unlock"): Access("supervisor", may_be_absent=True),  # no lock has an empty name
    ("GET", "/api/v1/tasks"): STAFF,
    ("GET", "/api/v1/tasks/{task_id}"): STAFF,
    ("POST", "/api/v1/tasks/{task_id}/claim"): STAFF,
    ("POST", "/api/v1/tasks/{task_id}/release"): STAFF,
    ("POST", "/api/v1/tasks/{task_id}/assign"): SUPERVISOR,
    ("POST", "/api/v1/tasks/{task_id}/complete"): STAFF,
    ("GET", "/api/v1/tasks/{task_id}/checks"): STAFF,
    ("POST", "/api/v1/tasks/{task_id}/checks"): STAFF,
    ("GET", "/desk/tasks/{task_id}"): STAFF,
    ("POST", "/desk/tasks/{task_id}/claim"): STAFF,
    ("POST", "/desk/tasks/{task_id}/release"): STAFF,
    ("POST", "/desk/tasks/{task_id}/assign"): Access("supervisor", role_in_handler=True),  # the page says why
    ("POST", "/desk/tasks/{task_id}/complete"): STAFF,
    ("POST", "/desk/tasks/{task_id}/checks"): STAFF,
    ("GET", "/api/v1/audit"): STAFF,
    ("GET", "/desk/audit"): STAFF,
    ("POST", "/api/v1/staff/password-resets"): STAFF,
    ("POST", "/desk/password-resets"): STAFF,
    ("POST", "/api/v1/staff/login-handovers"): STAFF,
    ("POST", "/desk/login-handovers"): STAFF,
    ("GET", "/api/v1/contracts"): STAFF,
    ("GET", "/desk/contracts"): STAFF,
    # The customer portal.
    ("DELETE", "/api/v1/session"): CUSTOMER_LOGOUT,
    ("POST", "/logout"): CUSTOMER_LOGOUT,
    ("GET", "/api/v1/account"): CUSTOMER,
    ("POST", "/api/v1/password"): CUSTOMER,
    ("GET", "/account"): CUSTOMER,
    ("GET", "/account/password"): CUSTOMER,
    ("POST", "/account/password"): CUSTOMER,
    ("GET", "/api/v1/account/profile"): CUSTOMER,
    ("PUT", "/api/v1/account/profile"): CUSTOMER,
    ("GET", "/account/profile"): CUSTOMER,
    ("POST", "/account/profile/confirm"): CUSTOMER,
    ("POST", "/account/profile"): CUSTOMER,
    ("GET", "/account/profile/saved"): CUSTOMER,
    ("GET", "/api/v1/account/renewal-notices"): CUSTOMER,
    ("PUT", "/api/v1/account/renewal-notices"): CUSTOMER,
    ("POST", "/api/v1/applications"): CUSTOMER,
    ("GET", "/api/v1/applications"): CUSTOMER,
    ("GET", APP): CUSTOMER,
    ("GET", f"{APP}/certificate"): CUSTOMER,
    ("POST", f"{APP}/cancel"): Access("customer", last=True),
    ("POST", f"{APP}/revoke"): Access("customer", probe={"reason": "cessation"}),
    ("POST", f"{APP}/reissue"): Access("customer", probe={"csr": "x", "revoke_previous": "immediately"}),
    ("POST", f"{APP}/replacement"): Access("customer", probe={"csr": "x"}),
    ("POST", f"{APP}/switch"): Access("customer",
                                      probe={"product": "ev", "csr": "x", "revoke_previous": "immediately"}),
    ("GET", "/account/applications"): CUSTOMER,
    ("GET", "/account/applications/search"): CUSTOMER,  # 申請情報検索 (api/application_list.py)
    ("GET", PAGE): CUSTOMER,
    ("POST", f"{PAGE}/cancel"): Access("customer", last=True),
    ("POST", f"{PAGE}/revoke"): CUSTOMER,
    ("POST", f"{PAGE}/reissue"): CUSTOMER,
    # 失効申請 and 再発行申請 as the manual orders their screens (api/application_requests.py).
    ("GET", f"{PAGE}/next"): CUSTOMER,
    ("GET", f"{PAGE}/revocation"): CUSTOMER,
    ("POST", f"{PAGE}/revocation/input"): CUSTOMER,
    ("POST", f"{PAGE}/revocation/confirm"): CUSTOMER,
    ("GET", f"{PAGE}/revocation/done"): Access("customer", may_be_absent=True),  # a revocation record only
    ("GET", f"{PAGE}/reissue"): CUSTOMER,
    ("POST", f"{PAGE}/reissue/input"): CUSTOMER,
    ("POST", f"{PAGE}/reissue/confirm"): CUSTOMER,
    ("GET", f"{PAGE}/reissue/done"): Access("customer", may_be_absent=True),  # a reissue record only
    ("POST", f"{PAGE}/replacement"): CUSTOMER,
    # 担当者変更申請 (S-5): the JSON twin and the screens (api/contact_changes.py).
    ("POST", f"{APP}/contact-change"): Access("customer", probe={"contacts": {}, "agree_terms": True}),
    ("GET", f"{PAGE}/contact-change"): CUSTOMER,
    ("POST", f"{PAGE}/contact-change/input"): CUSTOMER,
    ("POST", f"{PAGE}/contact-change/confirm"): CUSTOMER,
    ("POST", f"{PAGE}/contact-change"): CUSTOMER,
    ("GET", f"{PAGE}/contact-change/done"): Access("customer", may_be_absent=True),  # a contact change record only
    ("POST", f"{PAGE}/switch"): CUSTOMER,
    # 更新申請 (S-3): the JSON twin and the screens (api/renewals.py).
    ("POST", f"{APP}/renewal"): Access("customer", probe={"product": "ov", "csr": "x"}),
    ("GET", f"{PAGE}/renewal"): CUSTOMER,
    ("POST", f"{PAGE}/renewal/basic"): CUSTOMER,
    ("POST", f"{PAGE}/renewal/organization"): CUSTOMER,
    ("POST", f"{PAGE}/renewal/confirm"): CUSTOMER,
    ("POST", f"{PAGE}/renewal"): CUSTOMER,
    ("GET", f"{PAGE}/renewal/done"): Access("customer", may_be_absent=True),  # a renewal record only
    ("GET", "/account/apply"): CUSTOMER,
    ("POST", "/account/apply/confirm"): CUSTOMER,
    ("POST", "/account/apply"): CUSTOMER,
    ("GET", "/account/apply/terms"): CUSTOMER,
    ("GET", "/account/coupons"): CUSTOMER,
    ("GET", "/api/v1/account/coupons"): CUSTOMER,
    ("POST", "/api/v1/staff/coupons"): STAFF,
    ("GET", f"{APP}/domain-validations"): CUSTOMER,
    ("PUT", f"{APP}/domain-validations/{{validation_id}}/method"): Access("customer", probe={"method": "dns"}),
    ("POST", f"{APP}/domain-validations/recheck"): CUSTOMER,
    ("POST", f"{PAGE}/domain-validations/{{validation_id}}/method"): CUSTOMER,
    ("POST", f"{PAGE}/domain-validations/recheck"): CUSTOMER,
    # 解約 of the record's contract: a record without one answers 404.
    ("POST", f"{APP}/contract/cancellation"): Access("customer", may_be_absent=True, last=True,
                                                    probe={"at_once": False, "confirm": False}),
    ("DELETE", f"{APP}/contract/cancellation"): Access("customer", may_be_absent=True, last=True),
    ("POST", f"{PAGE}/contract/cancellation"): Access("customer", may_be_absent=True, last=True),
    ("POST", f"{PAGE}/contract/withdrawal"): Access("customer", may_be_absent=True, last=True),
    # 証明書/ステッカーダウンロード (S-8): the screen, its JSON twin and the files (api/downloads.py).
    ("GET", f"{PAGE}/downloads"): CUSTOMER,
    ("GET", f"{APP}/downloads"): CUSTOMER,
    ("GET", f"{APP}/downloads/certificate.pem"): CUSTOMER,
    ("GET", f"{APP}/downloads/chain.pem"): CUSTOMER,
    ("GET", f"{APP}/downloads/fullchain.pem"): CUSTOMER,
    ("GET", f"{APP}/downloads/certificate.p7b"): CUSTOMER,
    # The Web ステッカー, public (api/seal.py): an id that names no seal is 404 to everyone.
    ("GET", "/seal/{public_id}"): Access("public", may_be_absent=True),
    ("GET", "/seal/{public_id}/seal.svg"): Access("public", may_be_absent=True),
    ("GET", "/seal/{public_id}/seal.png"): Access("public", may_be_absent=True),
    ("GET", "/api/v1/seals/{public_id}"): Access("public", may_be_absent=True),
    # The tenant API of the login certificate service.
    ("POST", "/api/v1/enrollments"): TENANT,
    ("GET", "/api/v1/enrollments/{public_id}"): TENANT,
    ("GET", "/api/v1/login-users/{user_id}"): TENANT,
    ("POST", "/api/v1/login-certificates/{serial}/reissue"): TENANT,
    ("POST", "/api/v1/login-certificates/{serial}/revoke"): Access("tenant", last=True),
    # Devices and the contract (L-4, api/tenant_devices.py): a user or device not the tenant's is 404.
    ("GET", "/api/v1/contract"): TENANT,
    ("PUT", "/api/v1/contract"): Access("tenant", probe={"max_devices": 3}),
    ("GET", "/api/v1/users/{user_id}/devices"): Access("tenant", may_be_absent=True),
    ("DELETE", "/api/v1/users/{user_id}/devices/{device_id}"): Access("tenant", may_be_absent=True, last=True),
    # Links in mail: the token is the credential.
    ("POST", "/api/v1/dcv/{token}"): link("dcv", {"value": "x"}),
    ("GET", "/dcv/{token}"): link("dcv"),
    ("POST", "/dcv/{token}"): link("dcv"),
    ("POST", "/api/v1/enroll/{token}/otp"): link("enroll", {"one_time_password": "00000000"}),
    ("POST", "/api/v1/enroll/{token}/secret"): link("enroll", {"question_id": "first_pet", "answer": "x"}),
    ("GET", "/enroll/{token}"): link("enroll"),
    ("POST", "/enroll/{token}"): link("enroll"),
    ("GET", "/enroll/{token}/secret"): link("enroll"),
    ("POST", "/enroll/{token}/secret"): link("enroll"),
    ("POST", "/api/v1/reissue/{token}/answer"): link("reissue", {"answer": "x"}),
    ("GET", "/reissue/{token}"): link("reissue"),
    ("POST", "/reissue/{token}"): link("reissue"),
    ("POST", "/api/v1/downloads/{token}"): link("download", {"download_password": "x"}),
    ("GET", "/download/{token}"): link("download"),
    ("POST", "/download/{token}"): link("download"),
    ("POST", "/api/v1/downloads/{token}/password-reset"): link("download", {"answer": "x"}),
    ("GET", "/api/v1/downloads/{token}/question"): link("download"),
    ("GET", "/api/v1/reissue/{token}/question"): link("reissue"),
    ("GET", "/download/{token}/forgot"): link("download"),
    ("POST", "/download/{token}/forgot"): link("download"),
    # Development only: the embedded SMTP sink's mail and certdesk up's loopback DNS and website.
    ("GET", "/dev/mailbox"): DEV,
    ("GET", "/dev/mailbox/messages"): DEV,
    ("GET", "/dev/mailbox/{mail_id}"): DEV,
    ("GET", "/dev/dns"): DEV,
    ("POST", "/dev/dns/add"): DEV,
    ("POST", "/dev/dns/delete"): DEV,
    ("POST", "/dev/dns/files/add"): DEV,
    ("POST", "/dev/dns/files/delete"): DEV,
    ("GET", "/dev/dns/records"): DEV,
    ("POST", "/dev/dns/records"): DEV,
    ("DELETE", "/dev/dns/records"): DEV,
    ("GET", "/dev/dns/files"): DEV,
    # OpenID Connect provider (api/oidc.py): relying parties authenticate in the protocol itself
    # (client credentials, the access token), so the routes are public and refuse what is missing.
    ("GET", "/.well-known/openid-configuration"): PUBLIC,
    ("GET", "/oidc/jwks"): PUBLIC,
    ("POST", "/oidc/token"): LOGIN,
    ("POST", "/oidc/revoke"): LOGIN,
    ("GET", "/oidc/userinfo"): LOGIN,
    ("POST", "/oidc/userinfo"): LOGIN,
    ("GET", "/api/v1/clients"): TENANT,
    ("POST", "/api/v1/clients"): Access("tenant", probe={"redirect_uris": ["https://shop.example/cb"]}),
    ("POST", "/dev/dns/files"): DEV,
    ("DELETE", "/dev/dns/files"): DEV,
}

ACCOUNT: dict[tuple[str, str], Access] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/account"): HOLDER,
    ("GET", "/account/secret"): HOLDER,
    ("POST", "/account/secret"): HOLDER,
    ("GET", "/account/history"): HOLDER,
    ("POST", "/account/logout"): Access("end_user_cert", ends_session=True),
    ("GET", "/api/v1/me"): HOLDER,
    ("GET", "/api/v1/me/logins"): HOLDER,
    # ログイン方法の変更 (L-5, api/login_method.py)
    ("GET", "/account/login-method"): HOLDER,
    ("POST", "/account/login-method"): HOLDER,
    ("POST", "/account/login-method/execute"): HOLDER,
    # 端末情報の変更・追加・削除 (L-4, api/login_devices.py): another's or a deleted device is 404.
    ("GET", "/account/devices"): HOLDER,
    ("GET", "/account/devices/add"): HOLDER,
    ("POST", "/account/devices/add/confirm"): HOLDER,
    ("POST", "/account/devices/add"): HOLDER,
    ("GET", "/account/devices/{device_id}/edit"): Access("end_user_cert", may_be_absent=True),
    ("POST", "/account/devices/{device_id}/edit"): Access("end_user_cert", may_be_absent=True),
    ("GET", "/account/devices/{device_id}/delete"): Access("end_user_cert", may_be_absent=True),
    ("POST", "/account/devices/{device_id}/delete"): Access("end_user_cert", may_be_absent=True, last=True),
    ("GET", "/api/v1/me/devices"): HOLDER,
    # The OpenID Connect authorization endpoint (api/oidc_authorize.py): the certificate is optional
    # (an OTP-only user names themselves in the form); a request without a client is refused.
    ("GET", "/oidc/authorize"): PUBLIC,
    ("POST", "/oidc/authorize"): Access("public", origin_only=True),
}

# The dependency (api/deps.py, api/login_account.py) that admits each kind of caller.
GUARDS = {"require_customer": "customer", "require_customer_session": "customer", "require_staff": "staff",
          "require_supervisor": "supervisor", "require_tenant": "tenant", "require_holder": "end_user_cert"}


def guarded_by(entry: RouteEntry) -> str:
    """The kind of caller the route's dependencies admit, "" when none checks who calls."""
    kinds = {GUARDS[name] for name in entry.dependencies() if name in GUARDS}
    return "supervisor" if "supervisor" in kinds else (kinds.pop() if len(kinds) == 1 else ",".join(sorted(kinds)))


def disagreement(entry: RouteEntry, access: Access) -> str | None:
    """Why the table's entry does not fit the code, or None."""
    code = guarded_by(entry)
    declared = access.who.split(":")[0]
    if declared in ("public", "dev", "link"):
        wanted = ""
    elif access.role_in_handler:
        wanted = "staff"
    else:
        wanted = declared
    if code != wanted:
        return f"table says {access.who}, dependencies admit {code or 'anyone'}"
    if (declared == "link") != ("{token}" in entry.path):
        return "a link route is one with {token} in its path, and only those"
    if (declared == "dev") != entry.path.startswith("/dev/"):
        return "development routes are the ones under /dev/, and only those"
    return None
