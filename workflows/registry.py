"""Every workflow the worker runs; the replay test checks each has a recorded history."""

from workflows.contact_change import ContactChange
from workflows.contract import Contract
from workflows.crl_publication import CrlPublication
from workflows.domain_validation import DomainValidation
from workflows.initial_password import InitialPasswordExpiry
from workflows.login_handover import PortalLoginHandover
from workflows.login_method_notice import LoginMethodNotice
from workflows.login_registration import LoginCertRegistration
from workflows.login_reissue import LoginCertReissue
from workflows.login_revocation import LoginCertRevocation
from workflows.oidc_keys import OidcKeyRotation
from workflows.password_reset import PasswordReset
from workflows.reissue import Reissue
from workflows.revocation import Revocation
from workflows.server_cert_application import ServerCertApplication

WORKFLOWS: list[type] = [InitialPasswordExpiry, CrlPublication, PasswordReset, ServerCertApplication, Revocation,
                         Reissue, LoginCertRegistration, LoginCertReissue, LoginCertRevocation, DomainValidation,
                         Contract, ContactChange, PortalLoginHandover, LoginMethodNotice,
                         OidcKeyRotation]
