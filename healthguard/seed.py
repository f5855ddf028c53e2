"""Demo data: three wards, beds, patients with recent vitals, staff on shift, logins and the
default escalation policies. No incidents: those come from the simulators and triage.

``seed_demo_data`` is idempotent: every row is looked up by its natural key (ward code, room
name, bed label, MRN (through its blind index: patient identities are encrypted), staff
display name, (staff, skill), (staff, shift start), username,
policy name, (policy, position)) and only created when missing, so running it twice on the
same day changes nothing. Run on a later day, it adds that day's shifts so someone is always
on duty. Vitals are only added for patients with no demo vitals yet.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from healthguard.models import (
    Admission,
    Bed,
    EscalationPolicy,
    Observation,
    Room,
    Shift,
    Staff,
    StaffRole,
    StaffSkill,
    StaffWardCover,
    User,
    UserRole,
    VitalParameter,
    Ward,
)
from healthguard.oncall.default_policies import DEFAULT_POLICIES
from healthguard.patients.phi import (
    PatientIdentity,
    find_by_mrn,
    index_key_from_settings,
    keyring_from_settings,
    new_patient,
)
from healthguard.security.crypto import Keyring

T = TypeVar("T", bound=SQLModel)

DEMO_SOURCE_PREFIX = "demo-monitor-"
DAY_SHIFT_START = time(7, 0)
NIGHT_SHIFT_START = time(19, 0)
SHIFT_HOURS = 12

# ---------------------------------------------------------------------------------------
# Hospital layout: ward code -> (name, [(room name, [bed labels])])

WARDS: list[tuple[str, str, list[tuple[str, list[str]]]]] = [
    (
        "CARD",
        "Cardiology",
        [
            ("Bay A", ["B1", "B2", "B3", "B4"]),
            ("Bay B", ["B5", "B6", "B7", "B8"]),
        ],
    ),
    (
        "MED",
        "General Medicine",
        [
            ("Bay A", ["B1", "B2", "B3", "B4"]),
            ("Bay B", ["B5", "B6", "B7", "B8"]),
            ("Side room 1", ["B9"]),
            ("Side room 2", ["B10"]),
        ],
    ),
    (
        "ICU",
        "Intensive Care Unit",
        [(f"ICU room {n}", [f"B{n}"]) for n in range(1, 7)],
    ),
]


# ---------------------------------------------------------------------------------------
# Patients and their vitals


@dataclass(frozen=True)
class Vitals:
    """One set of vital signs (NEWS2 inputs)."""

    hr: float
    spo2: float
    rr: float
    sbp: float
    dbp: float
    temp: float
    avpu: str = "A"
    on_oxygen: bool = False


@dataclass(frozen=True)
class DemoPatient:
    mrn: str
    family_name: str
    given_name: str
    date_of_birth: date
    sex: str
    allergies: str
    notes: str
    ward: str
    bed: str
    admitted_days_ago: int
    first: Vitals  # two hours ago
    last: Vitals  # a few minutes ago (equal to `first` for a stable patient)
    spo2_scale: int = 1


def _stable(v: Vitals) -> tuple[Vitals, Vitals]:
    return v, v


PATIENTS: list[DemoPatient] = [
    DemoPatient(
        "HG100001", "Whitfield", "Harold", date(1948, 3, 14), "male",
        "Penicillin (rash)",
        "NSTEMI day 2; dual antiplatelet therapy; continuous telemetry.",
        "CARD", "B1", 2, *_stable(Vitals(78, 96, 16, 128, 76, 36.8)),
    ),
    DemoPatient(
        "HG100002", "Rahman", "Aisha", date(1962, 9, 2), "female",
        "None known",
        "Decompensated heart failure (HFrEF, EF 30 %); IV furosemide, daily weights, "
        "fluid restriction 1.5 L.",
        "CARD", "B2", 3, *_stable(Vitals(88, 95, 19, 112, 68, 36.6)),
    ),
    DemoPatient(
        "HG100003", "Papadopoulos", "George", date(1955, 11, 21), "male",
        "Aspirin (bronchospasm)",
        "New atrial fibrillation with fast ventricular response; rate control with "
        "bisoprolol, anticoagulated.",
        "CARD", "B3", 1, *_stable(Vitals(104, 97, 18, 134, 82, 36.9)),
    ),
    DemoPatient(
        "HG100004", "Kowalski", "Linda", date(1971, 5, 30), "female",
        "Latex",
        "Elective PCI to LAD via right radial yesterday; chest-pain free, radial site clean.",
        "CARD", "B5", 1, *_stable(Vitals(72, 98, 14, 124, 78, 36.7)),
    ),
    DemoPatient(
        "HG100005", "Mensah", "Samuel", date(1940, 1, 8), "male",
        "None known",
        "Syncope under investigation; complete heart block excluded, awaiting echo.",
        "CARD", "B6", 2, *_stable(Vitals(58, 96, 15, 142, 84, 36.4)),
    ),
    DemoPatient(
        "HG100006", "Doyle", "Patricia", date(1950, 7, 19), "female",
        "Clarithromycin (QT prolongation)",
        "COPD with confirmed hypercapnic (type 2) respiratory failure. Prescribed SpO2 "
        "target 88-92 %: NEWS2 SpO2 Scale 2 (set by Dr. Ingrid Larsen). Nasal oxygen 1 L/min.",
        "MED", "B1", 4, *_stable(Vitals(86, 89, 20, 132, 80, 36.8, on_oxygen=True)),
        spo2_scale=2,
    ),
    DemoPatient(
        "HG100007", "Iyer", "Rajesh", date(1967, 2, 11), "male",
        "Sulfonamides",
        "Type 2 diabetes; cellulitis of the left leg on IV flucloxacillin; capillary glucose "
        "four times a day.",
        "MED", "B2", 2, *_stable(Vitals(84, 97, 16, 138, 86, 37.6)),
    ),
    DemoPatient(
        "HG100008", "Hughes", "Eleanor", date(1936, 12, 3), "female",
        "None known",
        "Urinary tract infection; confusion on admission now resolved. High falls risk, "
        "bed rails assessment done.",
        "MED", "B3", 3, *_stable(Vitals(82, 95, 17, 118, 70, 37.1)),
    ),
    DemoPatient(
        "HG100009", "Nowak", "Tomasz", date(1958, 8, 27), "male",
        "Penicillin (anaphylaxis)",
        "Community-acquired pneumonia, day 1 of IV antibiotics (levofloxacin). "
        "DETERIORATING over the last two hours: sepsis screen positive.",
        "MED", "B5", 1,
        Vitals(92, 96, 19, 124, 78, 38.1),
        Vitals(116, 94, 24, 102, 62, 38.7, on_oxygen=True),
    ),
    DemoPatient(
        "HG100010", "Adeyemi", "Grace", date(1989, 4, 15), "female",
        "Ibuprofen (angioedema)",
        "Pyelonephritis, improving on IV co-amoxiclav; eating and drinking.",
        "MED", "B6", 2, *_stable(Vitals(80, 99, 14, 116, 72, 37.3)),
    ),
    DemoPatient(
        "HG100011", "O'Brien", "Michael", date(1944, 10, 9), "male",
        "None known",
        "Upper GI bleed; endoscopy done (duodenal ulcer, clipped). Haemoglobin 6-hourly, "
        "two units cross-matched.",
        "MED", "B9", 1, *_stable(Vitals(96, 97, 17, 112, 66, 36.5)),
    ),
    DemoPatient(
        "HG100012", "Marquez", "Sofia", date(1976, 6, 22), "female",
        "Morphine (severe nausea)",
        "Septic shock from perforated diverticulitis, post laparotomy; noradrenaline "
        "infusion, arterial line.",
        "ICU", "B1", 2, *_stable(Vitals(108, 95, 22, 98, 54, 38.3, on_oxygen=True)),
    ),
    DemoPatient(
        "HG100013", "Chen", "David", date(1963, 3, 5), "male",
        "None known",
        "Out-of-hospital cardiac arrest three days ago; extubated yesterday, neurologically "
        "intact. ICD planned.",
        "ICU", "B2", 3, *_stable(Vitals(64, 97, 16, 118, 70, 36.9)),
    ),
    DemoPatient(
        "HG100014", "Al-Sayed", "Fatima", date(1982, 12, 12), "female",
        "Iodinated contrast media",
        "Diabetic ketoacidosis, fixed-rate insulin infusion; ketones falling.",
        "ICU", "B3", 1, *_stable(Vitals(98, 98, 20, 114, 72, 37.0)),
    ),
    DemoPatient(
        "HG100015", "Lindqvist", "Peter", date(1952, 9, 30), "male",
        "None known",
        "Coronary artery bypass graft day 1; extubated this morning, chest drains in situ.",
        "ICU", "B4", 1, *_stable(Vitals(88, 95, 18, 108, 64, 37.4, on_oxygen=True)),
    ),
]  # fmt: skip

# Minutes before `now` at which demo vitals were taken (last two hours).
VITALS_MINUTES_AGO: tuple[int, ...] = (120, 90, 60, 30, 5)
# Small deterministic wobble so charts are not flat lines.
_WOBBLE: tuple[float, ...] = (0.0, 1.0, -1.0, 0.5, 0.0)


# ---------------------------------------------------------------------------------------
# Staff: (display name, role, home ward code or None, team "day"/"night"/"oncall")

STAFF: list[tuple[str, StaffRole, str | None, str]] = [
    # Cardiology
    ("Maria Santos", StaffRole.CHARGE_NURSE, "CARD", "day"),
    ("James Carter", StaffRole.NURSE, "CARD", "day"),
    ("Priya Nair", StaffRole.NURSE, "CARD", "day"),
    ("Dr. Tom Becker", StaffRole.RESIDENT, "CARD", "day"),
    ("Dr. Helen Park", StaffRole.ATTENDING, "CARD", "day"),
    ("Olivia Grant", StaffRole.CHARGE_NURSE, "CARD", "night"),
    ("Ben Okoro", StaffRole.NURSE, "CARD", "night"),
    ("Dr. Lucy Adams", StaffRole.RESIDENT, "CARD", "night"),
    ("Dr. Rafael Ortiz", StaffRole.ATTENDING, "CARD", "night"),
    # General Medicine
    ("Hannah Moore", StaffRole.CHARGE_NURSE, "MED", "day"),
    ("Daniel Kim", StaffRole.NURSE, "MED", "day"),
    ("Chloe Evans", StaffRole.NURSE, "MED", "day"),
    ("Dr. Sam Patel", StaffRole.RESIDENT, "MED", "day"),
    ("Dr. Ingrid Larsen", StaffRole.ATTENDING, "MED", "day"),
    ("Kwame Asante", StaffRole.CHARGE_NURSE, "MED", "night"),
    ("Emily Walsh", StaffRole.NURSE, "MED", "night"),
    ("Dr. Noah Fischer", StaffRole.RESIDENT, "MED", "night"),
    ("Dr. Amara Obi", StaffRole.ATTENDING, "MED", "night"),
    # Intensive Care
    ("Rachel Stein", StaffRole.CHARGE_NURSE, "ICU", "day"),
    ("Marco Rossi", StaffRole.NURSE, "ICU", "day"),
    ("Zoe Taylor", StaffRole.NURSE, "ICU", "day"),
    ("Dr. Leo Martins", StaffRole.RESIDENT, "ICU", "day"),
    ("Dr. Catherine Byrne", StaffRole.ATTENDING, "ICU", "day"),
    ("Victor Hale", StaffRole.CHARGE_NURSE, "ICU", "night"),
    ("Nadia Petrova", StaffRole.NURSE, "ICU", "night"),
    ("Dr. Isaac Cohen", StaffRole.RESIDENT, "ICU", "night"),
    ("Dr. Yuki Tanaka", StaffRole.ATTENDING, "ICU", "night"),
    # Hospital-wide: rapid response team and the switchboard operator (24 h on call)
    ("Alex Morgan", StaffRole.RAPID_RESPONSE, None, "oncall"),
    ("Jordan Lee", StaffRole.RAPID_RESPONSE, None, "oncall"),
    ("Sara Haddad", StaffRole.RAPID_RESPONSE, None, "oncall"),
    ("Pat Quinn", StaffRole.OPERATOR, None, "oncall"),
]

# Extra wards covered (besides the home ward).
WARD_COVERS: list[tuple[str, str]] = [
    ("Alex Morgan", "CARD"),
    ("Alex Morgan", "MED"),
    ("Alex Morgan", "ICU"),
    ("Jordan Lee", "CARD"),
    ("Jordan Lee", "MED"),
    ("Jordan Lee", "ICU"),
    ("Sara Haddad", "CARD"),
    ("Sara Haddad", "MED"),
    ("Sara Haddad", "ICU"),
    ("Dr. Amara Obi", "CARD"),  # the medical night attending cross-covers cardiology
]

# ACLS certifications that expire soon (days from `now`): shown as warnings in the roster.
ACLS_EXPIRING_SOON: dict[str, int] = {
    "Dr. Lucy Adams": 9,
    "Kwame Asante": 21,
    "Victor Hale": 27,
}

# Demo logins: (username, user role, staff display name or None). Passwords arrive with the
# security work; until then password_hash is null.
DEMO_USERS: list[tuple[str, str, str | None]] = [
    ("nurse.card", UserRole.NURSE.value, "James Carter"),
    ("nurse.med", UserRole.NURSE.value, "Daniel Kim"),
    ("nurse.icu", UserRole.NURSE.value, "Marco Rossi"),
    ("charge.card", UserRole.CHARGE_NURSE.value, "Maria Santos"),
    ("charge.med", UserRole.CHARGE_NURSE.value, "Hannah Moore"),
    ("charge.icu", UserRole.CHARGE_NURSE.value, "Rachel Stein"),
    ("dr.resident", UserRole.PHYSICIAN.value, "Dr. Tom Becker"),
    ("dr.attending", UserRole.PHYSICIAN.value, "Dr. Helen Park"),
    ("rrt.lead", UserRole.RAPID_RESPONSE.value, "Alex Morgan"),
    ("admin", UserRole.ADMIN.value, None),
    ("auditor", UserRole.AUDITOR.value, None),
]

# Default escalation policies (hospital-wide, one per priority).
# (priority, name, repeat_count, [(delay_seconds, target_kind, target_ref, repeat_every)])

COUNT_KEYS: tuple[str, ...] = (
    "wards",
    "rooms",
    "beds",
    "patients",
    "admissions",
    "observations",
    "staff",
    "staff_skills",
    "staff_ward_covers",
    "shifts",
    "users",
    "escalation_policies",
)


def _get_or_create(
    session: Session,
    counts: Counter[str],
    model: type[T],
    key: dict[str, Any],
    **values: Any,
) -> T:
    """The row of ``model`` matching ``key`` (its natural key), created when missing."""
    stmt = select(model)
    for name, value in key.items():
        stmt = stmt.where(getattr(model, name) == value)
    row = session.exec(stmt).first()
    if row is not None:
        return row
    row = model(**key, **values)
    session.add(row)
    session.flush()
    counts[str(model.__tablename__)] += 1
    return row


def _contact(name: str, n: int) -> dict[str, str]:
    slug = re.sub(r"[^a-z]+", ".", name.lower().removeprefix("dr. ")).strip(".")
    return {
        "phone": f"+44 7700 900{n:03d}",  # Ofcom drama range: never a real number
        "email": f"{slug}@healthguard.example",
        "pager_id": f"PG{4100 + n}",
    }


def _shift_windows(now: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """Day (07-19 UTC), night (19-07 UTC) and 24 h on-call (07-07 UTC) shifts from
    yesterday to tomorrow: together they always cover ``now``."""
    today = now.astimezone(UTC).date()
    windows: dict[str, list[tuple[datetime, datetime]]] = {"day": [], "night": [], "oncall": []}
    for offset in (-1, 0, 1):
        d = today + timedelta(days=offset)
        day = datetime.combine(d, DAY_SHIFT_START, tzinfo=UTC)
        night = datetime.combine(d, NIGHT_SHIFT_START, tzinfo=UTC)
        windows["day"].append((day, day + timedelta(hours=SHIFT_HOURS)))
        windows["night"].append((night, night + timedelta(hours=SHIFT_HOURS)))
        windows["oncall"].append((day, day + timedelta(hours=24)))
    return windows


def _vital_rows(p: DemoPatient, now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    steps = len(VITALS_MINUTES_AGO) - 1
    for i, minutes in enumerate(VITALS_MINUTES_AGO):
        f = i / steps
        w = _WOBBLE[i]

        def lerp(a: float, b: float, f: float = f) -> float:
            return a + (b - a) * f

        a, b = p.first, p.last
        latest = b if i == steps else a
        on_oxygen = b.on_oxygen if f >= 0.75 else a.on_oxygen
        values: list[tuple[VitalParameter, float | None, str | None, str]] = [
            (VitalParameter.HEART_RATE, round(lerp(a.hr, b.hr) + 2 * w), None, "/min"),
            (VitalParameter.SPO2, min(100, round(lerp(a.spo2, b.spo2) + 0.5 * w)), None, "%"),
            (VitalParameter.RESP_RATE, round(lerp(a.rr, b.rr) + 0.5 * w), None, "/min"),
            (VitalParameter.SYSTOLIC_BP, round(lerp(a.sbp, b.sbp) - 2 * w), None, "mm[Hg]"),
            (VitalParameter.DIASTOLIC_BP, round(lerp(a.dbp, b.dbp) - w), None, "mm[Hg]"),
            (VitalParameter.TEMPERATURE_C, round(lerp(a.temp, b.temp) + 0.1 * w, 1), None, "Cel"),
            (VitalParameter.CONSCIOUSNESS, None, latest.avpu, ""),
            (VitalParameter.ON_OXYGEN, 1.0 if on_oxygen else 0.0, None, ""),
        ]
        observed_at = now - timedelta(minutes=minutes)
        for parameter, value, text, unit in values:
            rows.append(
                {
                    "parameter": parameter.value,
                    "value": None if value is None else float(value),
                    "value_text": text,
                    "unit": unit,
                    "observed_at": observed_at,
                    "received_at": observed_at + timedelta(seconds=2),
                }
            )
    return rows


def seed_demo_data(
    session: Session,
    now: datetime,
    *,
    keyring: Keyring | None = None,
    index_key: str | None = None,
) -> dict[str, int]:
    """Create the demo hospital (idempotent) and return how many rows of each kind were
    created by this call (all zeros when everything already existed). The caller commits.

    Patient identities are encrypted with ``keyring`` and found again by MRN through the
    blind index keyed by ``index_key`` (both default to the settings' keys)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    keyring = keyring or keyring_from_settings()
    index_key = index_key or index_key_from_settings()
    counts: Counter[str] = Counter()

    # Wards, rooms and beds.
    wards: dict[str, Ward] = {}
    beds: dict[tuple[str, str], Bed] = {}
    for code, name, rooms in WARDS:
        ward = _get_or_create(session, counts, Ward, {"code": code}, name=name)
        wards[code] = ward
        for room_name, labels in rooms:
            room = _get_or_create(session, counts, Room, {"ward_id": ward.id, "name": room_name})
            for label in labels:
                beds[code, label] = _get_or_create(
                    session, counts, Bed, {"ward_id": ward.id, "label": label}, room_id=room.id
                )

    # Patients, admissions and their last two hours of vitals.
    for p in PATIENTS:
        patient = find_by_mrn(session, p.mrn, index_key)
        if patient is None:
            identity = PatientIdentity(
                mrn=p.mrn,
                family_name=p.family_name,
                given_name=p.given_name,
                date_of_birth=p.date_of_birth,
                allergies=p.allergies,
                notes=p.notes,
            )
            patient = new_patient(identity, keyring, index_key, sex=p.sex, spo2_scale=p.spo2_scale)
            session.add(patient)
            session.flush()
            counts["patients"] += 1
        bed = beds[p.ward, p.bed]
        current = select(Admission).where(col(Admission.discharged_at).is_(None))
        patient_admitted = session.exec(current.where(Admission.patient_id == patient.id)).first()
        bed_taken = session.exec(current.where(Admission.bed_id == bed.id)).first()
        if patient_admitted is None and bed_taken is None:
            session.add(
                Admission(
                    patient_id=patient.id,
                    bed_id=bed.id,
                    admitted_at=now - timedelta(days=p.admitted_days_ago, hours=3),
                )
            )
            counts["admissions"] += 1

        has_vitals = session.exec(
            select(Observation.id).where(
                Observation.patient_id == patient.id,
                Observation.source.startswith(DEMO_SOURCE_PREFIX),
            )
        ).first()
        if has_vitals is None:
            source = f"{DEMO_SOURCE_PREFIX}{p.ward}-{p.bed}"
            for row in _vital_rows(p, now):
                session.add(Observation(patient_id=patient.id, source=source, **row))
                counts["observations"] += 1
    session.flush()

    # Staff, skills, covered wards and shifts.
    windows = _shift_windows(now)
    staff: dict[str, Staff] = {}
    for n, (display_name, role, ward_code, team) in enumerate(STAFF, start=1):
        member = _get_or_create(
            session,
            counts,
            Staff,
            {"display_name": display_name},
            role=role.value,
            home_ward_id=wards[ward_code].id if ward_code else None,
            **_contact(display_name, n),
        )
        staff[display_name] = member

        skills: dict[str, date | None] = {"BLS": now.date() + timedelta(days=400 + 17 * n)}
        if role is not StaffRole.NURSE and role is not StaffRole.OPERATOR:
            skills["ACLS"] = now.date() + timedelta(
                days=ACLS_EXPIRING_SOON.get(display_name, 200 + 11 * n)
            )
        if role is StaffRole.RAPID_RESPONSE:
            skills["PALS"] = now.date() + timedelta(days=300 + 7 * n)
        if ward_code == "ICU" or role is StaffRole.RAPID_RESPONSE:
            skills["critical_care"] = None
        if role is StaffRole.OPERATOR:
            skills = {"BLS": now.date() + timedelta(days=365)}
        for skill, expires_on in skills.items():
            _get_or_create(
                session,
                counts,
                StaffSkill,
                {"staff_id": member.id, "skill": skill},
                expires_on=expires_on,
            )

        shift_ward_id = wards[ward_code].id if ward_code else None
        for starts_at, ends_at in windows[team]:
            _get_or_create(
                session,
                counts,
                Shift,
                {"staff_id": member.id, "starts_at": starts_at},
                ends_at=ends_at,
                ward_id=shift_ward_id,
            )

    for display_name, ward_code in WARD_COVERS:
        _get_or_create(
            session,
            counts,
            StaffWardCover,
            {"staff_id": staff[display_name].id, "ward_id": wards[ward_code].id},
        )

    # Logins.
    for username, user_role, staff_name in DEMO_USERS:
        _get_or_create(
            session,
            counts,
            User,
            {"username": username},
            role=user_role,
            staff_id=staff[staff_name].id if staff_name else None,
        )

    # Default escalation policies (healthguard.oncall.default_policies).
    for priority, policy in DEFAULT_POLICIES.items():
        _get_or_create(
            session,
            counts,
            EscalationPolicy,
            {"name": f"Default {priority} - {policy.name}"},
            priority=priority,
            repeat_count=policy.repeat_count,
            definition=policy.to_json(),
        )

    session.flush()
    return {key: counts[key] for key in COUNT_KEYS}
