"""Who is calling: the account behind a token, as services need it (plain values, no database row).

accounts/ builds it from a User row and caches it; media/ and ops/ take it as the actor of
what they do, so they need not import accounts/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLE_ADMIN = "admin"
ROLE_USER = "user"
# Game servers and bots: no per-account rate limits or pending cap unless an admin sets one, no admin rights.
ROLE_SERVICE = "service"
ROLES = (ROLE_ADMIN, ROLE_USER, ROLE_SERVICE)
# The limits an admin may set per account (users table, migration 4); None: the role's default, 0: unlimited.
ACCOUNT_LIMITS = ("queue_per_minute", "lookups_per_minute", "max_pending")


@dataclass(frozen=True)
class Principal:
    """The account behind a token, as the routes need it."""

    id: int
    username: str
    email: str | None
    role: str
    active: bool
    token_version: int
    token_key: str
    queue_per_minute: int | None = None
    lookups_per_minute: int | None = None
    max_pending: int | None = None

    @property
    def is_admin(self) -> bool:
        """Whether this account may use the admin routes."""
        return self.role == ROLE_ADMIN

    def limit(self, name: str, default: Any) -> Any:
        """Limit ``name``: the account's own if set (0: none), else none for a service account, else the default."""
        own = getattr(self, name)
        if own is not None:
            return own
        return 0 if self.role == ROLE_SERVICE else default
