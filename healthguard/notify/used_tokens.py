"""The single-use store of answer links, on Postgres (``used_answer_tokens``).

``healthguard.notify.tokens.redeem`` spends a token by calling ``mark_used(jti, until)``;
here that is one ``INSERT ... ON CONFLICT (jti) DO NOTHING`` in the caller's transaction:

- a row inserted: the link was not used before (True);
- no row inserted: it was (False, "already used").

Two requests with the same link at the same moment: the second insert waits on the primary
key until the first transaction ends, then inserts nothing. Because the insert belongs to the
caller's transaction, a request that fails before it commits (the database went away, a bug)
leaves the link unused, so the person can try again; a request that commits spends it, even
when the answer itself no longer applied (someone else acknowledged first).

Rows are needed only until the link expires (a later use is refused as expired anyway):
``delete_expired`` removes the rows of links that expired more than ``grace`` ago (a margin
for clocks that differ between web workers); run it now and then (a periodic sweep).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from healthguard.models.oncall import UsedAnswerToken

__all__ = ["CLEANUP_GRACE", "PostgresUsedTokens", "delete_expired", "is_used"]

#: Rows stay this long after their link expired.
CLEANUP_GRACE = timedelta(minutes=5)

_TABLE: sa.Table = UsedAnswerToken.__table__  # type: ignore[attr-defined]


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


class PostgresUsedTokens:
    """``UsedTokens`` (healthguard.notify.tokens) in ``session``'s transaction."""

    def __init__(self, session: Session, now: datetime) -> None:
        _aware("now", now)
        self._session = session
        self._now = now

    def mark_used(self, jti: str, until: datetime) -> bool:
        """Record ``jti`` as used until ``until``; False when it was recorded already."""
        _aware("until", until)
        if not jti or len(jti) > 64:
            raise ValueError("jti must be 1 to 64 characters")
        inserted = self._session.execute(
            insert(_TABLE)
            .values(jti=jti, used_at=self._now, expires_at=until)
            .on_conflict_do_nothing(index_elements=[_TABLE.c.jti])
            .returning(_TABLE.c.jti)
        ).first()
        return inserted is not None


def is_used(session: Session, jti: str) -> bool:
    """Whether the link was spent (read only: the answer page's GET never spends one)."""
    found = session.execute(sa.select(_TABLE.c.jti).where(_TABLE.c.jti == jti)).first()
    return found is not None


def delete_expired(session: Session, now: datetime, grace: timedelta = CLEANUP_GRACE) -> int:
    """Delete the rows of links that expired before ``now - grace``; how many. The caller
    commits."""
    _aware("now", now)
    if grace < timedelta(0):
        raise ValueError("grace must not be negative")
    deleted = session.execute(sa.delete(_TABLE).where(_TABLE.c.expires_at < now - grace))
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]
