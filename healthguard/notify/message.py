"""The words of a notification, per channel, from plain incident facts.

Pure: no I/O, no clock (``now`` is passed in, for the incident's age). ``compose(facts, now)``
gives a ``MessageContent``:

- ``title``: push title and email subject, "P1 Emergency: Ward 7B, bed 12";
- ``body``: email, push and in-app; the answer links when ``facts.links`` is given (pass
  them for email: signed single-use links, ``healthguard.notify.tokens``);
- ``short_text``: SMS and pager, at most 160 characters of plain ASCII (one GSM-7 segment;
  accents are dropped: "Sud" for "Süd"), ending with the reply codes
  "Reply 1 ACK, 2 ESC, 3 DECLINE + 4821" (parsed by ``healthguard.notify.sms_reply``). No
  link: an 84-character answer token does not fit beside the reply codes, so SMS answers by
  reply code; the ward, bed and trigger are shortened (with "...") to make room;
- ``spoken_text``: voice, with abbreviations spelled out ("oxygen saturation") and the keys
  to press (1 acknowledge, 2 escalate, 3 decline, as in the SMS).

Every one of them says it is a secondary alarm (``SECONDARY_ALARM``): the bedside monitor
stays the primary alarm.

PHI minimisation (lock screens, SMS and pagers are not private): the patient appears by
initials only, and optionally an age in years; there is no field for a name or an MRN.
Whatever is passed as initials is reduced to initials ("John Smith" -> "J.S."), and any run
of 6 or more digits in free text (ward, bed, trigger) is masked ("######"), so an MRN or a
phone number pasted into a trigger does not leave the hospital.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from healthguard.incidents.priority import PRIORITY_STYLES, validate_priority
from healthguard.models.notifications import Channel
from healthguard.notify.sms_reply import MAX_CODE_DIGITS, MIN_CODE_DIGITS, reply_instructions

__all__ = [
    "SECONDARY_ALARM",
    "SHORT_TEXT_LIMIT",
    "SPOKEN_SECONDARY_ALARM",
    "AnswerLinks",
    "IncidentFacts",
    "MessageContent",
    "compose",
    "mask_identifiers",
    "to_initials",
]

SHORT_TEXT_LIMIT = 160
SECONDARY_ALARM = "Secondary alarm: check the bedside monitor."
SPOKEN_SECONDARY_ALARM = "This is a secondary alarm. Check the bedside monitor."

_LONG_NUMBER = re.compile(r"\d{6,}")
_SPACES = re.compile(r"\s+")
_ASCII_MAP = str.maketrans(
    {
        "\u2265": ">=",
        "\u2264": "<=",
        "\u2192": "->",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "ß": "ss",
        "[": "(",
        "]": ")",
        "{": "(",
        "}": ")",
        "\\": "/",
        "^": "",
        "~": "-",
        "|": "/",
        "`": "'",
    }
)
_SPOKEN = (
    (re.compile(r"\bNEWS2\b", re.IGNORECASE), "news score"),
    (re.compile(r"\bSpO2\b", re.IGNORECASE), "oxygen saturation"),
    (re.compile(r"\bRR\b"), "respiratory rate"),
    (re.compile(r"\bHR\b"), "heart rate"),
    (re.compile(r"\bSBP\b"), "systolic blood pressure"),
    (re.compile(r"\bBP\b"), "blood pressure"),
    (re.compile(r"\bTemp\b", re.IGNORECASE), "temperature"),
    (re.compile(r"\bACVPU\b"), "consciousness"),
)


@dataclass(frozen=True)
class AnswerLinks:
    acknowledge: str
    escalate: str
    decline: str


@dataclass(frozen=True)
class IncidentFacts:
    """What a notification may say about an incident (nothing else is accepted)."""

    priority: str
    ward: str  # "Ward 7B"
    trigger: str  # "NEWS2 8: RR 26, SpO2 90"
    code: str  # the incident's SMS short code, 4-6 digits
    opened_at: datetime
    bed: str | None = None
    patient_initials: str | None = None  # reduced to initials whatever is given
    patient_age: int | None = None  # years
    number: int | None = None  # the incident number, "#123"
    links: AnswerLinks | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "priority", validate_priority(self.priority))
        if not (
            self.code.isascii()
            and self.code.isdigit()
            and MIN_CODE_DIGITS <= len(self.code) <= MAX_CODE_DIGITS
        ):
            raise ValueError(f"code must be {MIN_CODE_DIGITS} to {MAX_CODE_DIGITS} digits")
        if self.opened_at.tzinfo is None or self.opened_at.utcoffset() is None:
            raise ValueError("opened_at must be timezone-aware")
        if self.patient_age is not None and not 0 <= self.patient_age <= 130:
            raise ValueError("patient_age must be 0 to 130 years")


@dataclass(frozen=True)
class MessageContent:
    title: str
    body: str
    short_text: str
    spoken_text: str

    def for_channel(self, channel: Channel | str) -> str:
        """The text a channel sends (push and email also use ``title``)."""
        channel = Channel(channel)
        if channel in (Channel.SMS, Channel.PAGER):
            return self.short_text
        if channel is Channel.VOICE:
            return self.spoken_text
        return self.body


def to_initials(value: str | None) -> str:
    """ "J.D.", "John Doe", "jean-luc picard" -> "J.D.", "J.D.", "J.L.P." (at most 3)."""
    if not value:
        return ""
    parts = [p for p in re.split(r"[\s.\-_,']+", value) if p]
    letters = [p[0].upper() for p in parts if p[0].isalpha()][:3]
    return "".join(f"{letter}." for letter in letters)


def mask_identifiers(text: str) -> str:
    """Mask runs of 6 or more digits (MRNs, phone numbers) and collapse whitespace."""
    return _SPACES.sub(" ", _LONG_NUMBER.sub("######", text)).strip()


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_MAP))
    kept = "".join(c for c in decomposed if c.isascii() and (c.isprintable() or c == " "))
    return _SPACES.sub(" ", kept).strip()


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    return text[: limit - 3].rstrip() + "..."


def _bed_text(bed: str | None) -> str:
    if not bed:
        return ""
    return bed if bed.lower().startswith("bed") else f"bed {bed}"


def _age(opened_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - opened_at).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _spoken_age(opened_at: datetime, now: datetime) -> str:
    minutes = max(0, int((now - opened_at).total_seconds() // 60))
    if minutes < 1:
        return "Opened just now."
    hours, rest = divmod(minutes, 60)
    words = [f"{n} {unit}{'s' if n > 1 else ''}" for n, unit in ((hours, "hour"), (rest, "minute"))]
    return f"Open for {' '.join(w for w in words if not w.startswith('0 '))}."


def _spoken(text: str) -> str:
    for pattern, words in _SPOKEN:
        text = pattern.sub(words, text)
    return text


def _short_text(facts: IncidentFacts, ward: str, bed: str, who: str, age: str) -> str:
    tail = f" {SECONDARY_ALARM} {reply_instructions(facts.code)}"
    ward_s = _fit(_ascii(ward), 24)
    bed_s = _fit(_ascii(_bed_text(bed)), 12)
    lead = " ".join(p for p in (facts.priority, ward_s, bed_s, _ascii(who)) if p)
    age_s = f" ({age})"
    trigger_s = _ascii(mask_identifiers(facts.trigger))
    budget = SHORT_TEXT_LIMIT - len(lead) - len(": ") - len(age_s) - len(".") - len(tail)
    if trigger_s and budget >= 12:
        middle = f"{lead}: {_fit(trigger_s, budget)}{age_s}."
    else:
        middle = f"{lead}{age_s}."
    # Masked again after the ASCII folding (superscript digits become plain digits).
    middle = _fit(_LONG_NUMBER.sub("######", middle), SHORT_TEXT_LIMIT - len(tail))
    return middle + tail


def compose(facts: IncidentFacts, now: datetime) -> MessageContent:
    """The title, body, short text and spoken text of a notification about ``facts``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    label = PRIORITY_STYLES[facts.priority].label  # "P1 Emergency"
    ward = _fit(mask_identifiers(facts.ward), 200) or "Unknown ward"
    bed = _fit(mask_identifiers(facts.bed or ""), 50)
    trigger = _fit(mask_identifiers(facts.trigger), 500)
    initials = to_initials(facts.patient_initials)
    years = f"{facts.patient_age}y" if facts.patient_age is not None else ""
    who = " ".join(p for p in (initials, years) if p)
    age = _age(facts.opened_at, now)
    where = ", ".join(p for p in (ward, _bed_text(bed)) if p)
    number = f" #{facts.number}" if facts.number is not None else ""

    title = _fit(f"{label}: {where}", 100)

    lines = [f"{label}{number}: {where}"]
    if initials or years:
        lines.append("Patient: " + ", ".join(p for p in (initials, years) if p))
    if trigger:
        lines.append(f"Trigger: {trigger}")
    lines.append(f"Open: {age}")
    lines.append(f"Code: {facts.code}")
    lines.append(SECONDARY_ALARM)
    if facts.links is not None:
        lines.append(f"Acknowledge: {facts.links.acknowledge}")
        lines.append(f"Escalate: {facts.links.escalate}")
        lines.append(f"Decline: {facts.links.decline}")
    body = "\n".join(lines)

    short_text = _short_text(facts, ward, bed, who, age)

    priority_words = label.split(" ", 1)[1] if " " in label else label
    spoken_parts = [
        f"HealthGuard. {SPOKEN_SECONDARY_ALARM}",
        f"Priority {facts.priority[1]}, {priority_words.lower()}.",
        f"{where}.",
    ]
    if initials:
        spoken_initials = " ".join(initials.replace(".", " ").split())
        spoken_parts.append(f"Patient {spoken_initials}.")
    if facts.patient_age is not None:
        spoken_parts.append(f"{facts.patient_age} years old.")
    if trigger:
        spoken_parts.append(f"{_spoken(trigger)}.")
    spoken_parts.append(_spoken_age(facts.opened_at, now))
    spoken_parts.append(f"Incident code {' '.join(facts.code)}.")
    spoken_parts.append("Press 1 to acknowledge, 2 to escalate, 3 to decline.")
    spoken_text = " ".join(spoken_parts)

    return MessageContent(title=title, body=body, short_text=short_text, spoken_text=spoken_text)
