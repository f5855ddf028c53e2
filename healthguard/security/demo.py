"""Demo sign-ins: only in demo mode, every demo account gets the same known password."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from healthguard.models import User
from healthguard.security.passwords import hash_password

DEMO_PASSWORD = "healthguard-demo"


def set_demo_passwords(session: Session, usernames: list[str], *, now: datetime) -> int:
    """Give demo accounts without a password the demo password (idempotent; a password
    someone changed is kept). Returns how many changed."""
    users = session.exec(
        select(User).where(col(User.username).in_(usernames), col(User.password_hash).is_(None))
    ).all()
    if not users:
        return 0
    hashed = hash_password(DEMO_PASSWORD)  # one Argon2 run; each hash carries its salt
    for user in users:
        user.password_hash = hashed
        user.password_changed_at = now
        session.add(user)
    return len(users)
