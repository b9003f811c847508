"""Who is calling: the account behind a token, as services need it (plain values, no database row).

accounts/ builds it from a User row and caches it; media/ and ops/ take it as the actor of
what they do, so they need not import accounts/.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLE_ADMIN = "admin"
ROLE_USER = "user"
ROLES = (ROLE_ADMIN, ROLE_USER)


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

    @property
    def is_admin(self) -> bool:
        """Whether this account may use the admin routes."""
        return self.role == ROLE_ADMIN
