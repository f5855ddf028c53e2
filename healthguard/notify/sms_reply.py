"""Inbound SMS replies: "1 4821", "ACK 4821", "ack", "2", "esc 4821", "3 4821 decline".

Pure: no I/O. The SMS webhook finds the person by the sender's phone number (the number is
the authentication; the code is not a secret), loads their open notifications, calls
``resolve_reply(text, open_notifications)`` and either calls the one service function for
the action (the same one the API and the UI call) and texts back ``match.answer_text``, or
texts back ``refusal.answer_text``. Every refusal ends with "Nothing was changed."

Grammar (case-insensitive; words are runs of letters or of digits, everything else such as
spaces, "#", "-", "." separates them; order is free)::

    acknowledge  1  ack  acknowledge  acknowledged  ok  yes  y
    escalate     2  esc  escalate  escalated
    decline      3  dec  decline  declined  no  n  busy
    code         4 to 6 digits (the incident's short code, e.g. 4821)
    ignored      please  pls  thanks  thank  you  thx  incident  inc  code

Exactly one action (repeating the same one is fine) and at most one code. Anything else, an
unknown word, two different actions or two codes, is refused: a misread answer is worse
than a question back, since "acknowledged" stops the escalation.

Resolution against the person's open notifications: a code picks the one with that code
(unknown code: a refusal listing the open codes); no code and exactly one open: that one;
no code and several: "ambiguous", listing the codes; none open: a refusal.

Incident codes (``incident_code``): deterministic candidates, the HMAC-SHA256 of the
incident id with a server secret, reduced to 4 digits (1000-9999, no leading zero to lose),
so codes do not reveal incident numbers. ``taken`` makes it step to the next candidate on a
clash. ``healthguard.notify.reply_codes`` stores each person's code for each incident,
passing the person's other live codes as ``taken`` under a per-person lock, so two alarms a
person can still answer never share a code (a shared code would still be refused below as
ambiguous). Every answer text fits one SMS (160 characters).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ACTION_WORDS",
    "CODE_DIGITS",
    "IGNORED_WORDS",
    "SMS_LIMIT",
    "OpenNotification",
    "ParsedReply",
    "ReplyAction",
    "ReplyMatch",
    "ReplyProblem",
    "ReplyRefusal",
    "incident_code",
    "parse_reply",
    "reply_instructions",
    "resolve_reply",
]

SMS_LIMIT = 160
CODE_DIGITS = 4
MIN_CODE_DIGITS = 4
MAX_CODE_DIGITS = 6
_NOTHING_CHANGED = "Nothing was changed."


class ReplyAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    DECLINE = "decline"


ACTION_WORDS: dict[str, ReplyAction] = {
    **dict.fromkeys(
        ("1", "ack", "acknowledge", "acknowledged", "ok", "yes", "y"), ReplyAction.ACKNOWLEDGE
    ),
    **dict.fromkeys(("2", "esc", "escalate", "escalated"), ReplyAction.ESCALATE),
    **dict.fromkeys(("3", "dec", "decline", "declined", "no", "n", "busy"), ReplyAction.DECLINE),
}
IGNORED_WORDS = frozenset(
    {"please", "pls", "thanks", "thank", "you", "thx", "incident", "inc", "code"}
)
_SHORT: dict[ReplyAction, str] = {
    ReplyAction.ACKNOWLEDGE: "ACK",
    ReplyAction.ESCALATE: "ESC",
    ReplyAction.DECLINE: "DECLINE",
}
_WORD = re.compile(r"[a-z]+|[0-9]+")


def reply_instructions(code: str) -> str:
    """The reply line of every SMS and pager message: "Reply 1 ACK, 2 ESC, 3 DECLINE + 4821"."""
    return f"Reply 1 ACK, 2 ESC, 3 DECLINE + {code}"


class ReplyProblem(StrEnum):
    EMPTY = "empty"
    NOT_UNDERSTOOD = "not_understood"  # an unknown word
    NO_ACTION = "no_action"  # a code but no answer
    CONFLICTING_ACTIONS = "conflicting_actions"
    SEVERAL_CODES = "several_codes"
    NOTHING_OPEN = "nothing_open"
    AMBIGUOUS = "ambiguous"  # no code and several open, or a code shared by several
    UNKNOWN_CODE = "unknown_code"


@dataclass(frozen=True)
class ParsedReply:
    action: ReplyAction
    code: str | None


@dataclass(frozen=True)
class ReplyRefusal:
    problem: ReplyProblem
    answer_text: str  # the SMS to send back (<= 160 characters)


@dataclass(frozen=True)
class OpenNotification:
    """One of the person's open notifications. ``summary``: what the nurse recognises the
    alarm by, without names ("P1 7B bed 12")."""

    incident_id: str
    code: str
    summary: str = ""


@dataclass(frozen=True)
class ReplyMatch:
    action: ReplyAction
    incident_id: str
    code: str
    answer_text: str  # the confirmation to text back once the service accepted the action


def _fit(text: str, limit: int = SMS_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _example(code: str | None) -> str:
    return f'e.g. "1 {code or 4821}"'


def _refusal(problem: ReplyProblem, text: str) -> ReplyRefusal:
    # The closing sentence always survives: shorten what comes before it.
    body = _fit(text.rstrip(), SMS_LIMIT - len(_NOTHING_CHANGED) - 2)
    if not body.endswith((".", "?", "!")):
        body += "."
    return ReplyRefusal(problem, f"{body} {_NOTHING_CHANGED}")


def _how(example_code: str | None) -> str:
    return f"Reply 1 ACK, 2 ESC or 3 DECLINE + code, {_example(example_code)}."


def parse_reply(text: str, *, example_code: str | None = None) -> ParsedReply | ReplyRefusal:
    """Parse one SMS; ``example_code`` personalises the example in a refusal."""
    words = _WORD.findall((text or "").lower())
    if not words:
        return _refusal(ReplyProblem.EMPTY, f"Empty reply. {_how(example_code)}")
    actions: list[ReplyAction] = []
    codes: list[str] = []
    unknown = False
    for word in words:
        if word in ACTION_WORDS:
            actions.append(ACTION_WORDS[word])
        elif word.isdigit() and MIN_CODE_DIGITS <= len(word) <= MAX_CODE_DIGITS:
            codes.append(word)
        elif word not in IGNORED_WORDS:
            unknown = True
    if unknown:
        return _refusal(ReplyProblem.NOT_UNDERSTOOD, f"Not understood. {_how(example_code)}")
    distinct_actions = list(dict.fromkeys(actions))
    distinct_codes = list(dict.fromkeys(codes))
    if len(distinct_actions) > 1:
        names = " and ".join(_SHORT[a] for a in distinct_actions)
        return _refusal(
            ReplyProblem.CONFLICTING_ACTIONS,
            f"Two different answers ({names}). Send one: {_how(example_code)}",
        )
    if len(distinct_codes) > 1:
        return _refusal(
            ReplyProblem.SEVERAL_CODES,
            f"One alarm per reply, please. {_how(distinct_codes[0])}",
        )
    code = distinct_codes[0] if distinct_codes else None
    if not distinct_actions:
        if code is None:
            return _refusal(ReplyProblem.NOT_UNDERSTOOD, f"Not understood. {_how(example_code)}")
        return _refusal(
            ReplyProblem.NO_ACTION,
            f"Which answer for {code}? {reply_instructions(code)}.",
        )
    return ParsedReply(distinct_actions[0], code)


def _listing(lead: str, items: Sequence[OpenNotification]) -> str:
    """``lead`` then "4821 P1 7B bed 12; 5530 P2 4A bed 3; +2 more", within one SMS."""
    budget = SMS_LIMIT - len(_NOTHING_CHANGED) - 2
    text = lead
    for index, item in enumerate(items):
        entry = f"{item.code} {_fit(item.summary, 24)}".strip()
        more = len(items) - index - 1
        sep = " " if index == 0 else "; "
        candidate = text + sep + entry
        tail = f"; +{more} more" if more else ""
        if len(candidate + tail) > budget:
            return text + f"{'' if index == 0 else ';'} +{len(items) - index} more"
        text = candidate
    return text


_CONFIRMATIONS: dict[ReplyAction, str] = {
    ReplyAction.ACKNOWLEDGE: "Acknowledged",
    ReplyAction.ESCALATE: "Escalated",
    ReplyAction.DECLINE: "Declined",
}
_NEXT: dict[ReplyAction, str] = {
    ReplyAction.ACKNOWLEDGE: "Alarm texts for it stop. Check the bedside monitor.",
    ReplyAction.ESCALATE: "The next responder is being notified.",
    ReplyAction.DECLINE: "The next person is being notified.",
}


def resolve_reply(
    text: str, open_notifications: Sequence[OpenNotification]
) -> ReplyMatch | ReplyRefusal:
    """Parse ``text`` and pick the notification it answers (see the module docstring)."""
    items = list(open_notifications)
    example = items[0].code if items else None
    parsed = parse_reply(text, example_code=example)
    if isinstance(parsed, ReplyRefusal):
        return parsed
    if not items:
        return _refusal(ReplyProblem.NOTHING_OPEN, "You have no open alarms.")
    if parsed.code is None:
        if len(items) > 1:
            return _refusal(
                ReplyProblem.AMBIGUOUS,
                _listing(
                    f"{len(items)} open alarms: add the code, {_example(items[0].code)}.",
                    items,
                ),
            )
        chosen = items[0]
    else:
        matching = [n for n in items if n.code == parsed.code]
        if not matching:
            return _refusal(
                ReplyProblem.UNKNOWN_CODE,
                _listing(f"Code {parsed.code} is not one of your open alarms. Open:", items),
            )
        if len(matching) > 1:
            return _refusal(
                ReplyProblem.AMBIGUOUS,
                f"Code {parsed.code} matches {len(matching)} alarms. Answer in the app.",
            )
        chosen = matching[0]
    summary = f" ({_fit(chosen.summary, 30)})" if chosen.summary.strip() else ""
    answer = _fit(
        f"{_CONFIRMATIONS[parsed.action]}: {chosen.code}{summary}. {_NEXT[parsed.action]}"
    )
    return ReplyMatch(parsed.action, chosen.incident_id, chosen.code, answer)


def incident_code(
    secret: bytes,
    incident_id: object,
    *,
    digits: int = CODE_DIGITS,
    taken: Collection[str] = (),
) -> str:
    """The short code of an incident: deterministic from ``secret`` and ``incident_id``,
    ``digits`` long (4-6) with no leading zero, and not one of ``taken``."""
    if not MIN_CODE_DIGITS <= digits <= MAX_CODE_DIGITS:
        raise ValueError(f"digits must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS}")
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ValueError("the code secret must be at least 16 bytes")
    low = 10 ** (digits - 1)
    span = 9 * low
    taken_set = set(taken)
    if len({c for c in taken_set if len(c) == digits and c.isdigit()}) >= span:
        raise ValueError("every code is taken: use more digits")
    counter = 0
    while True:
        message = f"sms-code:v1:{incident_id}:{counter}".encode()
        value = int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")
        code = str(low + value % span)
        if code not in taken_set:
            return code
        counter += 1
