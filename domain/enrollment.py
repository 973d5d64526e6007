"""Login certificate enrollment (L-1, L-3): the rules, without Temporal or a database.

One-time passwords, the secret questions, how answers are compared, the links mailed to
end users, and the states an enrollment or a reissue passes through.
"""

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass

from domain import server_keys
from domain.messages import translator
from domain.text import line_problem

OTP_DIGITS = 8
ANSWER_MAX = 64
NAME_MAX = 64  # the certificate name (CN), as the invitation gives it

# States shared by the registration and reissue processes (mirrored on the enrollment row).
OTP, QUESTION, ANSWER = "otp", "question", "answer"  # waiting for the person
REGISTERING, ISSUING, DOWNLOAD, DELIVERING = "registering", "issuing", "download", "delivering"
DOWNLOADED = "downloaded"
EXPIRED, LOCKED, REPLACED, REJECTED = "expired", "locked", "replaced", "rejected"
DOWNLOAD_EXPIRED, DOWNLOAD_LOCKED = "download_expired", "download_locked"
# Not a state of the process: 「ダウンロードパスワードを忘れた」 locked after wrong secret answers, until
# support unlocks it; the download itself stays open.
ANSWER_LOCKED = "answer_locked"
RESETTING = "resetting"  # nor this: a new download password is being set
ENDED = (DOWNLOADED, EXPIRED, LOCKED, REPLACED, REJECTED, DOWNLOAD_EXPIRED, DOWNLOAD_LOCKED)
# A reissue lock waits for support; a registration lock ends it (the website invites again).
REISSUE_ENDED = tuple(s for s in ENDED if s != LOCKED)

REVOKE_OLD = ("on_download", "immediately")

# How far along an enrollment is. The row mirrors the workflow through activities that may finish
# out of order (a step's mirror delayed by a crash, then the next step's): a mirror never moves the
# row back. Equal ranks may follow each other (a reissue's lock and its unlock).
_PROGRESS = {OTP: 0, QUESTION: 1, ANSWER: 1, REGISTERING: 2, ISSUING: 3, DOWNLOAD: 4, DELIVERING: 5}
_FINAL = 9


def ended(kind: str, state: str) -> bool:
    """Whether the process has ended in ``state`` (a reissue's lock waits for support)."""
    return state in (REISSUE_ENDED if kind == "reissue" else ENDED)


def progress(kind: str, state: str) -> int:
    if state == LOCKED and kind == "reissue":
        return _PROGRESS[ANSWER]
    return _FINAL if state in ENDED else _PROGRESS.get(state, 0)


@dataclass(frozen=True)
class SecretQuestion:
    """A secret question; its wording is in the message catalogue as ``question_<id>``."""

    id: str

    def text(self, language: str) -> str:
        """The question in English for ``en``, in Japanese otherwise."""
        return translator("en" if language == "en" else "ja")(f"question_{self.id}")


QUESTIONS: tuple[SecretQuestion, ...] = tuple(SecretQuestion(q) for q in (
    "mother_maiden_name", "first_pet", "birth_town", "elementary_school", "childhood_nickname", "favourite_food",
))
QUESTION_IDS = {q.id: q for q in QUESTIONS}


def normalise_certificate_name(value: str) -> str:
    """NFC and stripped: one name is one sequence of code points in the certificate."""
    return unicodedata.normalize("NFC", value).strip()


def certificate_name_problem(name: str) -> tuple[str, dict[str, object]] | None:
    """The profile's character rules for a normalised certificate name: (code, context) or None.
    No controls, bidi overrides, zero-width characters or BOM reach a certificate's CN."""
    return line_problem(name, NAME_MAX, required=True)


def new_otp() -> str:
    """Eight random digits from the CSPRNG (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** OTP_DIGITS):0{OTP_DIGITS}d}"


def normalise_otp(value: str) -> str:
    """What a person types: full-width digits, spaces and hyphens are forgiven."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value))


def normalise_answer(answer: str) -> str:
    """NFKC, case-folded, whitespace collapsed: ＴＡＲＯ  yamada and taro Yamada are one answer."""
    return " ".join(unicodedata.normalize("NFKC", answer).casefold().split())


def answer_problem(answer: str) -> str | None:
    normalised = normalise_answer(answer)
    if not normalised:
        return "the answer must not be empty"
    if len(normalised) > ANSWER_MAX:
        return f"the answer may be at most {ANSWER_MAX} characters"
    return None


# --- links mailed to end users ------------------------------------------------------------
# The token in /enroll/{token}, /download/{token} and /reissue/{token} is the enrollment's
# public id and a MAC over it, so no token is stored, and activities rebuild the link from
# ids alone (nothing secret passes through workflow histories).

def _mac(key: bytes, public_id: str) -> str:
    digest = hmac.new(key, f"certdesk-link:{public_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def link_key(passphrase: str) -> bytes:
    """A key of its own for links, derived from the CA passphrase (never the passphrase itself)."""
    return server_keys.derive(passphrase, b"certdesk link tokens v1")


def link_token(key: bytes, public_id: str) -> str:
    return f"{public_id}.{_mac(key, public_id)}"


def public_id_of(key: bytes, token: str) -> str | None:
    """The enrollment a token names, or None for a token this service did not make."""
    public_id, _, mac = token.partition(".")
    if not public_id or not mac or len(token) > 200:
        return None
    return public_id if hmac.compare_digest(mac, _mac(key, public_id)) else None


def new_public_id() -> str:
    return f"enr_{secrets.token_hex(10)}"


@dataclass
class Attempts:
    """A counter of wrong tries that locks at ``limit``."""

    limit: int
    failures: int = 0

    @property
    def left(self) -> int:
        return max(self.limit - self.failures, 0)

    @property
    def locked(self) -> bool:
        return self.failures >= self.limit

    def fail(self) -> int:
        self.failures += 1
        return self.left

    def reset(self) -> None:
        self.failures = 0
