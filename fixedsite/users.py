"""Users and roles for remote operation, with passwords stored hashed.

Roles, each including the ones before it:

* ``viewer``: reads values, alarms and history;
* ``operator``: commands equipment, acknowledges alarms;
* ``engineer``: changes modes and set-points, shelves alarms;
* ``admin``: manages users.

Passwords are hashed with scrypt (the standard library's, memory-hard) and a salt per
user; the file (JSON, mode 0600) holds no password in the clear. Every refused login is
the caller's to audit; this module only answers yes or no, and keeps the count of
failures (``LoginGuard``) that backs off and locks out a user name under password
guessing. Roles are read from the file on every question (``role_of``), so a user
removed or demoted while logged in loses the rights at the next call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator", "engineer", "admin")
_N, _R, _P = 2**14, 8, 1            # scrypt cost: ~50 ms and 16 MiB per check
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MIN_PASSWORD = 8


def rank(role: str) -> int:
    return ROLES.index(role)


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, role: str) -> bool:
        """True if this user's role includes ``role``."""
        return rank(self.role) >= rank(role)


class UserError(ValueError):
    pass


def _hash(password: str, salt: bytes) -> str:
    return hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


class UserStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._users: dict[str, dict[str, str]] = {}
        self._mtime = -1.0
        self._reload()

    def _reload(self) -> None:
        """Users added with ``fixedsite user`` while the controller runs count at once."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            try:
                users = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(users, dict) or not all(
                        isinstance(e, dict) and {"role", "salt", "hash"} <= e.keys()
                        for e in users.values()):
                    raise ValueError("expected {name: {role, salt, hash}}")
            except (OSError, ValueError) as e:     # UnicodeDecodeError, JSONDecodeError too
                raise UserError(f"{self.path}: not a readable user file: {e}") from e
            self._users = users
            self._mtime = mtime

    def _reload_or_nobody(self) -> bool:
        """For the questions a running server asks: a user file that cannot be read
        lets nobody in (it is not rewritten: the CLI refuses to touch it)."""
        try:
            self._reload()
        except UserError as e:
            log.error("%s; every login and session refused until it is fixed", e)
            return False
        return True

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._users, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def add(self, name: str, role: str, password: str) -> None:
        if not _NAME.match(name):
            raise UserError(f"user name {name!r}: 1-32 letters, digits, '_', '.', '-'")
        if name in self._users:
            raise UserError(f"user {name!r} exists; use passwd to change the password")
        self._set(name, role, password)

    def passwd(self, name: str, password: str) -> None:
        if name not in self._users:
            raise UserError(f"no user {name!r}")
        self._set(name, self._users[name]["role"], password)

    def remove(self, name: str) -> None:
        if self._users.pop(name, None) is None:
            raise UserError(f"no user {name!r}")
        self._save()

    def _set(self, name: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password shorter than {MIN_PASSWORD} characters")
        salt = secrets.token_bytes(16)
        self._users[name] = {"role": role, "salt": salt.hex(), "hash": _hash(password, salt)}
        self._save()

    def check(self, name: str, password: str) -> User | None:
        """The user if the password is right, else None (unknown users cost the same)."""
        entry = self._users.get(name) if self._reload_or_nobody() else None
        salt = bytes.fromhex(entry["salt"]) if entry else b"\0" * 16
        good = _hash(password, salt)
        if entry is None or not hmac.compare_digest(good, entry["hash"]):
            return None
        return User(name, entry["role"])

    def role_of(self, name: str) -> str | None:
        """The user's role now (the file re-read if it changed), None once removed."""
        if not self._reload_or_nobody():
            return None
        entry = self._users.get(name)
        return entry["role"] if entry is not None and entry.get("role") in ROLES else None

    def set_role(self, name: str, role: str) -> None:
        self._reload()
        if name not in self._users:
            raise UserError(f"no user {name!r}")
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
        self._users[name]["role"] = role
        self._save()

    def list(self) -> list[User]:
        self._reload()
        return [User(n, e["role"]) for n, e in sorted(self._users.items())]


class LoginGuard:
    """Failed logins in a row per user name: a growing back-off, then a lockout.

    Known and unknown names are counted alike, so the guard does not tell which names
    exist. Times are the caller's clock (simulated seconds in tests). The table is
    bounded: an attacker cycling through made-up names cannot grow it without limit.
    """

    KEEP = 10_000

    def __init__(self, max_failures: int, lockout_s: float, backoff_max_s: float = 30.0
                 ) -> None:
        self.max_failures, self.lockout_s = max_failures, lockout_s
        self.backoff_max_s = backoff_max_s
        self._fails: dict[str, tuple[int, float, float]] = {}  # n, last failure, locked until

    def locked_until(self, name: str, now: float) -> float | None:
        """When the lockout of ``name`` ends, if it is locked out now."""
        n, _, until = self._fails.get(name, (0, 0.0, 0.0))
        return until if n >= self.max_failures and now < until else None

    def failures(self, name: str) -> int:
        return self._fails.get(name, (0, 0.0, 0.0))[0]

    def failed(self, name: str, now: float) -> tuple[int, float]:
        """Count a failure; the failures in a row and the back-off before answering (the
        lockout, once the count reaches the limit, starts now and is counted afresh)."""
        n, _, until = self._fails.get(name, (0, 0.0, 0.0))
        if n >= self.max_failures and now >= until:
            n = 0                                    # an ended lockout starts a new count
        n += 1
        until = now + self.lockout_s if n >= self.max_failures else 0.0
        self._fails[name] = (n, now, until)
        if len(self._fails) > self.KEEP:
            self._prune(now)
        return n, min(self.backoff_max_s, 2.0 ** (n - 1))

    def succeeded(self, name: str) -> None:
        self._fails.pop(name, None)

    def _prune(self, now: float) -> None:
        """Forget counts older than a lockout, then the oldest, down to ``KEEP``."""
        for name, (_, last, until) in list(self._fails.items()):
            if now - last > self.lockout_s and now >= until:
                del self._fails[name]
        excess = len(self._fails) - self.KEEP
        for name in sorted(self._fails, key=lambda k: self._fails[k][1])[:max(0, excess)]:
            del self._fails[name]
