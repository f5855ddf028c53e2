"""HL7 v2 ORU^R01 (IHE PCD-01) -> readings, and the ACK (pure: no I/O, no clock).

Parsed with the ``hl7`` library (python-hl7). PID-3 carries the MRN, PV1-3 the location
(unit^room^bed), OBX-3 the IEEE 11073 MDC code, OBX-5 the value, OBX-6 the unit (MDC
dimension code or UCUM), OBX-14 (else the OBR-7 of its OBR) the time, with a UTC offset.

ACK codes (MSA-1), original acknowledgment mode:

- **AR** (reject, nothing stored; resend after fixing or later): not valid UTF-8, not HL7
  (no MSH, unparseable), not ORU^R01, not HL7 v2.x, larger than the limit, broken MLLP
  framing, or the database could not take the readings right now.
- **AE** (error): a valid ORU^R01 whose contents are partly or fully unacceptable: unknown
  patient (MRN echoed), bed mismatch, unknown MDC code (named), non-numeric OBX-5, wrong
  unit, missing or future time, implausible value. **When some OBX are fine and some are not,
  the good ones ARE stored and the answer is AE** with one ERR segment per refused OBX
  (ERR-2 its location, ERR-3 the HL7 table 0357 code, ERR-8 the reason): the sender learns
  about every refusal, and good readings are never held back by a bad one. Patient-level
  errors (unknown MRN, bed mismatch) store nothing.
- **AA**: every OBX stored (or already stored: a resent message is idempotent).

Known codes that are not scored (NIBP mean 150303 / 150023) are acknowledged, not stored,
and named in MSA-3. When one message carries both the ECG heart rate (147842) and the pulse
rate from the oximeter (149530) for the same time, the ECG rate is stored as ``heart_rate``
and the oximeter's is named in MSA-3 as not stored.

Only ``Hl7Reject`` is raised, for any input whatsoever.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import hl7 as hl7lib

from healthguard.clinical.vitals import (
    FieldError,
    Parameter,
    Reading,
    check_observed_at,
    fahrenheit_to_celsius,
    validate_values,
)

AckCode = Literal["AA", "AE", "AR"]
ENCODING = "^~\\&"
RECEIVER = "HEALTHGUARD"

# IEEE 11073 MDC code -> parameter (None: known, not scored).
MDC_PARAMETERS: dict[str, Parameter | None] = {
    "147842": Parameter.HEART_RATE,  # MDC_ECG_HEART_RATE
    "149530": Parameter.HEART_RATE,  # MDC_PULS_OXIM_PULS_RATE
    "150456": Parameter.SPO2,  # MDC_PULS_OXIM_SAT_O2
    "151562": Parameter.RESP_RATE,  # MDC_RESP_RATE
    "150301": Parameter.SYSTOLIC_BP,  # MDC_PRESS_CUFF_SYS
    "150302": Parameter.DIASTOLIC_BP,  # MDC_PRESS_CUFF_DIA
    "150303": None,  # MDC_PRESS_CUFF_MEAN
    "150021": Parameter.SYSTOLIC_BP,  # MDC_PRESS_BLD_NONINV_SYS
    "150022": Parameter.DIASTOLIC_BP,  # MDC_PRESS_BLD_NONINV_DIA
    "150023": None,  # MDC_PRESS_BLD_NONINV_MEAN
    "150364": Parameter.TEMPERATURE_C,  # MDC_TEMP_BODY
    "150344": Parameter.TEMPERATURE_C,  # MDC_TEMP
}
ECG_HEART_RATE, OXIMETER_PULSE = "147842", "149530"
# Accepted units per parameter: MDC dimension codes and UCUM, -> the UCUM unit stored.
UNITS: dict[Parameter, dict[str, str]] = {
    Parameter.HEART_RATE: {"264864": "/min", "/min": "/min", "{beats}/min": "/min"},
    Parameter.RESP_RATE: {"264928": "/min", "/min": "/min", "{breaths}/min": "/min"},
    Parameter.SPO2: {"262688": "%", "%": "%"},
    Parameter.SYSTOLIC_BP: {"266016": "mm[Hg]", "mm[Hg]": "mm[Hg]"},
    Parameter.DIASTOLIC_BP: {"266016": "mm[Hg]", "mm[Hg]": "mm[Hg]"},
    Parameter.TEMPERATURE_C: {"268192": "Cel", "Cel": "Cel", "[degF]": "[degF]"},
}
_TS = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.(\d{1,4}))?([+-])(\d{2})(\d{2})$"
)
_PLACEHOLDER = uuid.UUID(int=0)

# HL7 table 0357 (message error condition codes) used in ERR-3.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
INTERNAL_ERROR = "207"
_CODE_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class Header:
    """The MSH fields an ACK needs, as encoded text (``^~\\&`` encoding characters)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.6"


@dataclass(frozen=True)
class Hl7Error:
    location: str  # ERL: segment^sequence^field, e.g. "OBX^3^5"
    code: str  # HL7 table 0357
    message: str


class Hl7Reject(Exception):
    """The message is refused as a whole (answered AR)."""

    def __init__(self, message: str, header: Header | None, code: str = INTERNAL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.header = header
        self.code = code


@dataclass
class OruMessage:
    header: Header
    mrn: str | None
    ward: str | None  # PV1-3.1 point of care (ward code)
    room: str | None
    bed: str | None
    source: str
    values: list[tuple[str, Reading]] = field(default_factory=list)  # (location, reading)
    errors: list[Hl7Error] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def readings(self, patient_id: uuid.UUID) -> list[Reading]:
        return [dataclasses.replace(r, patient_id=patient_id) for _, r in self.values]


# --- escaping and raw access ----------------------------------------------------------------


def escape(text: str) -> str:
    """Text made safe for one HL7 field (standard escapes; line breaks become spaces)."""
    out = (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("~", "\\R\\")
        .replace("&", "\\T\\")
    )
    return re.sub(r"[\x00-\x1f\x7f]", " ", out)[:1000]


def _unescape(text: str) -> str:
    return (
        text.replace("\\F\\", "|")
        .replace("\\S\\", "^")
        .replace("\\R\\", "~")
        .replace("\\T\\", "&")
        .replace("\\E\\", "\\")
    )


def _safe_encoded(raw: str, limit: int = 199) -> str:
    """An encoded field copied into our ACK: no separators of ours it could break."""
    return re.sub(r"[\x00-\x1f\x7f|~\\]", "", raw)[:limit]


def header_of_text(text: str) -> Header | None:
    """Best-effort MSH fields of a message that may not parse (for its AR)."""
    text = text.lstrip("\x0b\r\n \t")
    first = re.split(r"[\r\n]", text, maxsplit=1)[0]
    if not first.startswith("MSH") or len(first) < 8:
        return None
    fields = first.split(first[3])

    def msh(n: int) -> str:
        return _safe_encoded(fields[n - 1]) if len(fields) >= n else ""

    return Header(
        sending_application=msh(3),
        sending_facility=msh(4),
        receiving_application=msh(5),
        receiving_facility=msh(6),
        control_id=msh(10),
        processing_id=msh(11) or "P",
        version=msh(12) or "2.6",
    )


def _field(segment: Any, n: int) -> str:
    try:
        return str(segment(n)) if n < len(segment) else ""
    except Exception:
        return ""


def _components(segment: Any, n: int) -> list[str]:
    """Components of the first repetition of field n, unescaped."""
    first = _field(segment, n).split("~")[0]
    return [_unescape(c.split("&")[0]) for c in first.split("^")]


def _component(segment: Any, n: int, c: int = 1) -> str:
    parts = _components(segment, n)
    return parts[c - 1].strip() if len(parts) >= c else ""


def parse_ts(text: str) -> datetime | None:
    """An HL7 TS/DTM with at least minutes and a UTC offset (YYYYMMDDHHMM[SS[.S]]+ZZZZ)."""
    match = _TS.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, oh, om = match.groups()
    try:
        offset = timedelta(hours=int(oh), minutes=int(om))
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except (ValueError, OverflowError):
        return None


def format_ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S%z")


# --- parsing --------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The message as text; Hl7Reject (AR) when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        header = header_of_text(data.decode("utf-8", errors="replace"))
        raise Hl7Reject(
            f"the message is not valid UTF-8 (byte {exc.start}); send UTF-8 (MSH-18 UNICODE UTF-8)",
            header,
            DATA_TYPE_ERROR,
        ) from None


def parse_oru(data: bytes | str, now: datetime) -> OruMessage:
    """The readings and per-OBX errors of an ORU^R01. Hl7Reject when it is refused whole."""
    text = decode(data) if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\x0b\x1c\r \t")
    header = header_of_text(text)
    if header is None:
        raise Hl7Reject(
            "not an HL7 v2 message (it must start with an MSH segment)",
            None,
            SEGMENT_SEQUENCE_ERROR,
        )
    try:
        message = hl7lib.parse(text)
        msh = message.segment("MSH")
    except Exception as exc:
        raise Hl7Reject(
            f"the message cannot be parsed as HL7 v2 ({type(exc).__name__})", header
        ) from None
    kind = "^".join(_components(msh, 9)[:2])
    if kind != "ORU^R01":
        raise Hl7Reject(
            f"message type {kind or '(empty)'} is not accepted; send ORU^R01 (IHE PCD-01)",
            header,
            UNSUPPORTED_MESSAGE_TYPE,
        )
    version = _component(msh, 12)
    if not version.startswith("2."):
        raise Hl7Reject(
            f"HL7 version {version or '(empty)'} is not accepted; send 2.x (2.6)",
            header,
            UNSUPPORTED_VERSION,
        )
    try:
        return _oru(message, header, msh, now)
    except Hl7Reject:
        raise
    except Exception as exc:  # malformed in a way the checks above did not catch
        raise Hl7Reject(
            f"the message cannot be parsed as HL7 v2 ({type(exc).__name__})", header
        ) from None


def _segments(message: Any, name: str) -> list[Any]:
    return [s for s in message if str(s[0]).strip() == name]


def _oru(message: Any, header: Header, msh: Any, now: datetime) -> OruMessage:
    app = [c for c in _components(msh, 3) if c.strip()]
    source = "^".join(app) or _component(msh, 4) or "hl7"
    oru = OruMessage(header, None, None, None, None, source[:128])
    pids = _segments(message, "PID")
    if not pids:
        oru.errors.append(Hl7Error("PID^1^3", REQUIRED_FIELD_MISSING, "PID-3: the MRN is required"))
    elif len(pids) > 1:
        oru.errors.append(
            Hl7Error("PID^2", UNSUPPORTED_MESSAGE_TYPE, "one patient (PID) per message, please")
        )
    else:
        oru.mrn = _component(pids[0], 3) or None
        if oru.mrn is None:
            oru.errors.append(
                Hl7Error("PID^1^3", REQUIRED_FIELD_MISSING, "PID-3: the MRN is required")
            )
    pv1 = _segments(message, "PV1")
    if pv1:
        oru.ward = _component(pv1[0], 3, 1) or None
        oru.room = _component(pv1[0], 3, 2) or None
        oru.bed = _component(pv1[0], 3, 3) or None

    obr_time: datetime | None = None
    obr_time_text = ""
    seen_obx = 0
    kept: dict[tuple[Parameter, datetime], str] = {}  # -> MDC code stored
    for segment in message:
        name = str(segment[0]).strip()
        if name == "OBR":
            obr_time_text = _component(segment, 7)
            obr_time = parse_ts(obr_time_text)
        elif name == "OBX":
            seen_obx += 1
            _obx(oru, segment, seen_obx, obr_time, obr_time_text, now, kept)
    if seen_obx == 0:
        oru.errors.append(Hl7Error("OBX", REQUIRED_FIELD_MISSING, "the message holds no OBX"))
    return oru


def _obx(
    oru: OruMessage,
    segment: Any,
    position: int,
    obr_time: datetime | None,
    obr_time_text: str,
    now: datetime,
    kept: dict[tuple[Parameter, datetime], str],
) -> None:
    set_id = _component(segment, 1) or str(position)
    label = f"OBX {set_id}"

    def error(n: int, code: str, message: str) -> None:
        oru.errors.append(Hl7Error(f"OBX^{position}^{n}", code, f"{label}: {message}"))

    code = _component(segment, 3, 1)
    name = _component(segment, 3, 2)
    if code not in MDC_PARAMETERS:
        shown = f"{code} ({name})" if name else code or "(empty)"
        error(3, TABLE_VALUE_NOT_FOUND, f"OBX-3 MDC code {shown} is not supported")
        return
    parameter = MDC_PARAMETERS[code]
    if parameter is None:
        oru.notes.append(f"{label} {code} {name or ''} not scored, not stored".replace("  ", " "))
        return
    raw_value = _component(segment, 5)
    try:
        value = float(raw_value)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        shown = repr(raw_value[:40]) if raw_value else "empty"
        error(5, DATA_TYPE_ERROR, f"OBX-5 value {shown} is not a number")
        return
    unit_code = _component(segment, 6, 1)
    units = UNITS[parameter]
    if unit_code not in units:
        shown = unit_code or "(empty)"
        accepted = ", ".join(units)
        error(6, TABLE_VALUE_NOT_FOUND, f"OBX-6 unit {shown} is not accepted ({accepted})")
        return
    unit = units[unit_code]
    if unit == "[degF]":
        value, unit = fahrenheit_to_celsius(value), "Cel"
    time_text = _component(segment, 14)
    observed_at = parse_ts(time_text) if time_text else obr_time
    if observed_at is None:
        shown = time_text or obr_time_text
        reason = f"{shown!r} is not an HL7 time with offset" if shown else "is missing"
        error(
            14,
            REQUIRED_FIELD_MISSING if not shown else DATA_TYPE_ERROR,
            f"OBX-14 / OBR-7 observation time {reason} (YYYYMMDDHHMMSS+ZZZZ)",
        )
        return
    problem: FieldError | None = check_observed_at(observed_at, now)
    if problem is not None:
        error(14, DATA_TYPE_ERROR, f"observation time {problem.message}")
        return
    readings, errors = validate_values(
        {parameter.value: value},
        patient_id=_PLACEHOLDER,
        source=oru.source,
        observed_at=observed_at,
    )
    for e in errors:
        error(5, DATA_TYPE_ERROR, f"OBX-5 {e.message}")
    if not readings:
        return
    key = (parameter, observed_at)
    if key in kept:
        if not (code == ECG_HEART_RATE and kept[key] == OXIMETER_PULSE):
            oru.notes.append(f"{label} {code} same parameter and time already given, not stored")
            return
        # The ECG heart rate replaces the oximeter pulse given before it.
        oru.values = [(loc, r) for loc, r in oru.values if (r.parameter, r.observed_at) != key]
        oru.notes.append(f"pulse rate {OXIMETER_PULSE} not stored: ECG heart rate given")
    kept[key] = code
    oru.values.append((label, readings[0]))


# --- ACK ------------------------------------------------------------------------------------


def build_ack(
    header: Header | None,
    code: AckCode,
    now: datetime,
    text: str = "",
    errors: Iterable[Hl7Error] = (),
) -> str:
    """An ACK for `header` (MSH sender and receiver swapped, MSA-2 its control id, one ERR per
    error), segments separated by carriage returns (no MLLP framing)."""
    h = header or Header()
    msh = "|".join(
        [
            "MSH",
            ENCODING,
            h.receiving_application or RECEIVER,
            h.receiving_facility,
            h.sending_application,
            h.sending_facility,
            format_ts(now),
            "",
            "ACK^R01^ACK",
            uuid.uuid4().hex[:20],
            h.processing_id or "P",
            h.version or "2.6",
        ]
    )
    segments = [msh, f"MSA|{code}|{h.control_id}|{escape(text)}"]
    for e in errors:
        code_text = _CODE_TEXT.get(e.code, "")
        segments.append(
            f"ERR||{_safe_encoded(e.location)}|{e.code}^{code_text}^HL70357|E||||{escape(e.message)}"
        )
    return "\r".join(segments) + "\r"


def reject_ack(reject: Hl7Reject, now: datetime) -> str:
    return build_ack(
        reject.header,
        "AR",
        now,
        reject.message,
        [Hl7Error("MSH", reject.code, reject.message)],
    )
