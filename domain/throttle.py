"""Login throttling (issue 14): how many wrong guesses a name or a client address gets, and how long
it then waits. Pure rules; the counts live in ``store.throttle``.

Per name (a customer's access key, a staff username), known or not, so that an unknown name
answers exactly like a real one: the first ``free`` failures in a row cost nothing; each further
failure locks the name for 15 minutes, doubling, at most an hour. A lock ends by itself and
never touches live sessions; a right password (once the lock is over), a supervisor's unlock or
a day without failures forgets the run.

Per client address (an IPv4 address, an IPv6 /64), for each family of endpoints: at most 20
failures in a 15-minute window, then 429 with ``Retry-After`` until the window ends.
"""

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

# Families of endpoints an address is counted for, separately.
LOGIN = "login"  # customer and staff password logins, JSON and forms
END_USER = "end_user"  # one-time password, secret answer, download password
RESET = "reset"  # password reset requests (every request counts)
FAMILIES = (LOGIN, END_USER, RESET)
CUSTOMER, STAFF = "customer", "staff"  # kinds of names


@dataclass(frozen=True)
class Count:
    """Failures counted for one key."""

    failures: int
    started_at: datetime  # the window's start (address) or the run's first failure (name)
    last_failure_at: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Backoff:
    """A name's failures in a row: free ones, then locks doubling from ``first_lock`` to ``cap``."""

    free: int = 5
    first_lock: timedelta = timedelta(minutes=15)
    cap: timedelta = timedelta(hours=1)
    forget_after: timedelta = timedelta(days=1)

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.free:
            return None
        doublings = min(failures - self.free, 20)  # 2**20 * 15 min is far past any cap
        return min(self.first_lock * 2 ** doublings, self.cap)

    def after_failure(self, count: Count | None, now: datetime) -> Count:
        if count is None or now - count.last_failure_at >= self.forget_after:
            count = Count(0, now, now)
        failures = count.failures + 1
        lock = self.lock_for(failures)
        return Count(failures, count.started_at, now, now + lock if lock else None)


@dataclass(frozen=True)
class Window:
    """An address's failures: at most ``limit`` in a fixed window of ``length``."""

    limit: int = 20
    length: timedelta = timedelta(minutes=15)

    def after_failure(self, count: Count | None, now: datetime) -> Count:
        if count is None or now >= count.started_at + self.length:
            count = Count(0, now, now)
        failures = count.failures + 1
        locked = count.started_at + self.length if failures >= self.limit else None
        return Count(failures, count.started_at, now, locked)


Policy = Backoff | Window
NAME_POLICY, ADDRESS_POLICY = Backoff(), Window()


def retry_after(count: Count | None, now: datetime) -> int:
    """Whole seconds until ``count``'s lock ends (at least 1 while locked), 0 when not locked."""
    if count is None or count.locked_until is None or count.locked_until <= now:
        return 0
    return max(1, math.ceil((count.locked_until - now).total_seconds()))


def name_key(kind: str, name: str) -> str:
    """The key a name is counted under: the same whether or not the account exists."""
    return f"name:{kind}:{name.strip()[:64]}"


def address_key(family: str, host: str) -> str:
    """The key an address is counted under, per family; IPv6 by its /64 (one machine usually has a whole /64)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"address:{family}:{host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # a dual-stack socket's IPv4 peer
            return f"address:{family}:{address.ipv4_mapped}"
        return f"address:{family}:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"address:{family}:{address}"


def name_of(key: str) -> tuple[str, str] | None:
    """(kind, name) of a name key, None for an address key."""
    prefix, _, rest = key.partition(":")
    kind, _, name = rest.partition(":")
    return (kind, name) if prefix == "name" and kind in (CUSTOMER, STAFF) else None
