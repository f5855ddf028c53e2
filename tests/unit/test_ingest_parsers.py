"""The three ingestion parsers (REST JSON, FHIR R4, HL7 v2 ORU^R01) and the HL7 ACK: pure,
no I/O. Property tests: no input makes them raise anything but their documented errors."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthguard.ingest.fhir import (
    FhirInputError,
    operation_outcome,
    parse_bundle,
    parse_observation,
)
from healthguard.ingest.hl7 import Hl7Reject, build_ack, parse_oru, parse_ts, reject_ack
from healthguard.ingest.rest import (
    MAX_BATCH_ITEMS,
    BatchTooLarge,
    BodyShapeError,
    parse_vitals_batch,
)

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, 5, tzinfo=UTC)
PATIENT = uuid.UUID("6f1c2a3e-0000-4000-8000-000000000001")
KNOWN = {"MRN1": PATIENT, str(PATIENT): PATIENT}
SAMPLE = (Path(__file__).parent.parent / "data" / "oru_r01_sample.hl7").read_bytes()


def resolver(identifiers: Iterable[str]) -> Mapping[str, uuid.UUID]:
    return {i: KNOWN[i] for i in identifiers if i in KNOWN}


def item(**overrides: Any) -> dict[str, Any]:
    base = {
        "patient": "MRN1",
        "observed_at": "2025-01-01T12:00:00Z",
        "source": "mon-1",
        "values": {"heart_rate": 112, "spo2": 93},
    }
    return {**base, **overrides}


# --- REST ------------------------------------------------------------------------------------


def test_rest_batch_keeps_good_items_and_names_each_bad_field() -> None:
    body = {
        "observations": [
            item(),
            item(values={"heart_rate": 900}),
            item(observed_at="yesterday"),
            item(patient="NOPE-42"),
            item(values={"spo2": 95, "temperature_c": 60}),
        ]
    }
    parsed = parse_vitals_batch(body, resolve_patients=resolver, now=NOW)
    assert parsed.accepted_items == 2
    assert sorted(r.parameter for r in parsed.readings) == ["heart_rate", "spo2", "spo2"]
    rejected = {r.index: r.as_dict() for r in parsed.rejected}
    assert set(rejected) == {1, 2, 3, 4}
    assert rejected[1]["errors"][0]["field"] == "values.heart_rate"
    assert "0 to 350" in rejected[1]["errors"][0]["message"]
    assert rejected[2]["errors"][0]["field"] == "observed_at"
    assert rejected[3]["errors"] == [
        {"field": "patient", "message": "unknown patient 'NOPE-42' (no such id or MRN)"}
    ]
    assert rejected[4]["errors"][0]["field"] == "values.temperature_c"
    assert rejected[4]["accepted"] == ["spo2"]


def test_rest_patient_by_id_temperature_f_converted_and_late_reading_kept() -> None:
    body = {
        "observations": [
            item(
                patient=str(PATIENT),
                observed_at="2024-12-31T23:00:00-05:00",
                values={"temperature_f": 101.3},
            ),
        ]
    }
    parsed = parse_vitals_batch(body, resolve_patients=resolver, now=NOW)
    (reading,) = parsed.readings
    assert reading.parameter == "temperature_c" and reading.unit == "Cel"
    assert reading.value == pytest.approx(38.5)
    assert reading.observed_at == datetime(2025, 1, 1, 4, 0, tzinfo=UTC)  # late: kept as taken


def test_rest_future_and_naive_timestamps_refused() -> None:
    future = (NOW + timedelta(minutes=10)).isoformat()
    body = {"observations": [item(observed_at=future), item(observed_at="2025-01-01T12:00:00")]}
    parsed = parse_vitals_batch(body, resolve_patients=resolver, now=NOW)
    assert not parsed.readings
    assert "future" in parsed.rejected[0].errors[0].message
    assert "time zone" in parsed.rejected[1].errors[0].message


def test_rest_shape_and_size_limits() -> None:
    for body in ([], {"observations": {}}, {"observations": []}, {"obs": []}):
        with pytest.raises(BodyShapeError):
            parse_vitals_batch(body, resolve_patients=resolver, now=NOW)
    with pytest.raises(BatchTooLarge, match=str(MAX_BATCH_ITEMS)):
        parse_vitals_batch(
            {"observations": [item()] * (MAX_BATCH_ITEMS + 1)}, resolve_patients=resolver, now=NOW
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
item_like = st.fixed_dictionaries(
    {},
    optional={
        "patient": st.sampled_from(["MRN1", str(PATIENT), "x", ""]) | json_values,
        "observed_at": st.sampled_from(
            ["2025-01-01T12:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
        )
        | json_values,
        "source": st.text(max_size=200) | json_values,
        "values": st.dictionaries(
            st.sampled_from(["heart_rate", "spo2", "temperature_f", "consciousness", "x"]),
            json_values,
        )
        | json_values,
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries({"observations": st.lists(item_like | json_values, max_size=6)}),
    )
)
def test_rest_parser_only_raises_documented_errors(body: Any) -> None:
    try:
        parsed = parse_vitals_batch(body, resolve_patients=resolver, now=NOW)
    except (BodyShapeError, BatchTooLarge):
        return
    json.dumps([r.as_dict() for r in parsed.rejected])
    assert parsed.accepted_items + len(parsed.rejected) >= parsed.total_items


# --- FHIR ------------------------------------------------------------------------------------


def fhir_observation(
    code: str = "8867-4", value: float = 112, unit: str = "/min", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2025-01-01T12:00:00+00:00",
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
        **extra,
    }


def bp_panel(systolic: float = 98, diastolic: float = 60) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": value,
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    panel = fhir_observation("85354-9")
    del panel["valueQuantity"]
    panel["subject"] = {"identifier": {"system": "urn:hospital:mrn", "value": "MRN1"}}
    panel["component"] = [component("8480-6", systolic), component("8462-4", diastolic)]
    return panel


def parse_one(data: Any) -> Any:
    return parse_observation(data, resolve_patients=resolver, now=NOW, default_source="fhir")


def test_fhir_heart_rate_spo2_and_fahrenheit() -> None:
    assert [(r.parameter, r.value) for r in parse_one(fhir_observation()).readings] == [
        ("heart_rate", 112.0)
    ]
    assert parse_one(fhir_observation("59408-5", 93, "%")).readings[0].parameter == "spo2"
    temp = parse_one(fhir_observation("8310-5", 101.3, "[degF]")).readings[0]
    assert temp.value == pytest.approx(38.5) and temp.unit == "Cel"


def test_fhir_bp_panel_with_mrn_subject() -> None:
    result = parse_one(bp_panel())
    assert result.ok, result.issues
    assert {r.parameter: r.value for r in result.readings} == {
        "systolic_bp": 98.0,
        "diastolic_bp": 60.0,
    }


@pytest.mark.parametrize(
    ("resource", "code", "expression", "words"),
    [
        (fhir_observation("1234-5"), "not-supported", "Observation.code.coding", "1234-5"),
        (fhir_observation(unit="kg"), "not-supported", "Observation.valueQuantity.code", "'kg'"),
        (fhir_observation(value=900), "invalid", "Observation.valueQuantity", "350"),
        (
            {**fhir_observation(), "subject": {"reference": "Patient/ghost"}},
            "not-found",
            "Observation.subject",
            "'ghost'",
        ),
        (
            {**fhir_observation(), "effectiveDateTime": "2025-01-01T12:00:00"},
            "invalid",
            "Observation.effectiveDateTime",
            "offset",
        ),
        (
            {k: v for k, v in fhir_observation().items() if k != "effectiveDateTime"},
            "invalid",
            "Observation.effective",
            "required",
        ),
        (
            {**fhir_observation(), "status": "entered-in-error"},
            "invalid",
            "Observation.status",
            "entered-in-error",
        ),
    ],
)
def test_fhir_bad_input_gives_operation_outcome(
    resource: dict[str, Any], code: str, expression: str, words: str
) -> None:
    result = parse_one(resource)
    assert not result.readings
    issue = result.issues[0]
    assert (issue.code, issue.expression) == (code, expression), issue
    assert words in issue.diagnostics
    OperationOutcome.model_validate(operation_outcome(result.issues))  # a valid FHIR resource


def test_fhir_bundle_each_entry_on_its_own() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": fhir_observation(), "request": {"method": "POST", "url": "Observation"}},
            {
                "resource": fhir_observation("1234-5"),
                "request": {"method": "POST", "url": "Observation"},
            },
            {"resource": bp_panel(), "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    result = parse_bundle(bundle, resolve_patients=resolver, now=NOW, default_source="fhir")
    assert [e.ok for e in result.entries] == [True, False, True]
    assert result.entries[1].issues[0].expression == "Bundle.entry[1].resource.code.coding"
    with pytest.raises(FhirInputError):
        parse_bundle(
            {**bundle, "type": "searchset"},
            resolve_patients=resolver,
            now=NOW,
            default_source="fhir",
        )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    json_values
    | st.builds(lambda v: {**fhir_observation(), "valueQuantity": v}, json_values)
    | st.builds(
        lambda e: {"resourceType": "Bundle", "type": "batch", "entry": e},
        st.lists(json_values, max_size=3),
    )
)
def test_fhir_parsers_only_raise_documented_errors(data: Any) -> None:
    parse_one(data)
    with contextlib.suppress(FhirInputError):
        parse_bundle(data, resolve_patients=resolver, now=NOW, default_source="fhir")


# --- HL7 v2 ----------------------------------------------------------------------------------


def test_hl7_sample_gives_the_six_readings_and_news2_values() -> None:
    oru = parse_oru(SAMPLE, NOW)
    assert (oru.mrn, oru.ward, oru.bed, oru.errors) == ("MRN1", "W7", "B12", [])
    values = {r.parameter: r.value for r in oru.readings(PATIENT)}
    assert values == {
        "heart_rate": 112,
        "spo2": 93,
        "resp_rate": 24,
        "systolic_bp": 98,
        "diastolic_bp": 60,
        "temperature_c": 38.4,
    }
    assert {r.observed_at for r in oru.readings(PATIENT)} == {datetime(2025, 1, 1, 12, tzinfo=UTC)}
    assert {r.patient_id for r in oru.readings(PATIENT)} == {PATIENT}


def replace_obx(old: str, new: str) -> bytes:
    return SAMPLE.replace(old.encode(), new.encode())


def test_hl7_nibp_code_set_ucum_units_and_obx14() -> None:
    data = replace_obx(
        "150301^MDC_PRESS_CUFF_SYS^MDC|1.4.1.1|98|266016^MDC_DIM_MMHG^MDC|||||R",
        "150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.4.1.1|98|mm[Hg]^mm[Hg]^UCUM|||||R"
        "|||20250101115900+0100",
    )
    oru = parse_oru(data, NOW)
    assert not oru.errors
    sbp = next(r for r in oru.readings(PATIENT) if r.parameter == "systolic_bp")
    assert sbp.value == 98 and sbp.observed_at == datetime(2025, 1, 1, 10, 59, tzinfo=UTC)


def test_hl7_bad_obx_are_named_and_good_ones_kept() -> None:
    data = replace_obx("|112|", "|abc|").replace(b"151562^MDC_RESP_RATE", b"999999^MDC_MADE_UP")
    oru = parse_oru(data, NOW)
    assert len(oru.values) == 4
    messages = [e.message for e in oru.errors]
    assert any("OBX 1" in m and "'abc' is not a number" in m for m in messages)
    assert any("999999" in m and "not supported" in m for m in messages)
    ack = build_ack(oru.header, "AE", NOW, "4 stored", oru.errors)
    segments = ack.rstrip("\r").split("\r")
    assert segments[1].startswith("MSA|AE|M1|")
    assert [s.split("|")[2] for s in segments[2:]] == ["OBX^1^5", "OBX^3^3"]


def test_hl7_ack_swaps_msh() -> None:
    oru = parse_oru(SAMPLE, NOW)
    msh = build_ack(oru.header, "AA", NOW).split("\r")[0].split("|")
    assert msh[4] == "GW^0012340000000001^EUI-64" and msh[5] == "W7"
    assert msh[8] == "ACK^R01^ACK"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"MSH|^~\\&|GW|W7|||20250101120000+0000||ORU^R01|M9|P|2.6\rPID|||\xff\xfe\r", "UTF-8"),
        (b"hello world", "MSH"),
        (b"MSH|^~\\&|A|B|||20250101120000+0000||ADT^A01|M9|P|2.6\rPID|||MRN1", "ADT"),
        (b"MSH|^~\\&|A|B|||20250101120000+0000||ORU^R01|M9|P|3.0\rPID|||MRN1", "version"),
    ],
)
def test_hl7_rejects_give_ar(data: bytes, words: str) -> None:
    with pytest.raises(Hl7Reject) as caught:
        parse_oru(data, NOW)
    assert words in caught.value.message
    ack = reject_ack(caught.value, NOW)
    assert ack.split("\r")[1].startswith("MSA|AR|")


def test_hl7_timestamps() -> None:
    assert parse_ts("20250101120000+0000") == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert parse_ts("202501011200-0500") == datetime(2025, 1, 1, 17, tzinfo=UTC)
    assert parse_ts("20250101120000") is None  # no offset
    assert parse_ts("20251301120000+0000") is None


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=400)
    | st.builds(lambda b: SAMPLE[: len(b)] + b, st.binary(max_size=200))
    | st.text(max_size=300).map(lambda t: ("MSH|^~\\&|" + t).encode("utf-8", "surrogatepass"))
)
def test_hl7_parser_only_raises_hl7reject(data: bytes) -> None:
    try:
        oru = parse_oru(data, NOW)
    except Hl7Reject as reject:
        ack = reject_ack(reject, NOW)
    else:
        ack = build_ack(oru.header, "AE" if oru.errors else "AA", NOW, "x", oru.errors)
    ack.encode("utf-8")
    assert ack.split("\r")[1].startswith("MSA|A")
    assert "\n" not in ack and "\x1c" not in ack and "\x0b" not in ack


def test_mllp_peer_allowlist() -> None:
    from healthguard.ingest.mllp import allowed_networks, peer_allowed

    networks = allowed_networks(["10.20.0.0/16", " 192.168.1.7/32", "fd00::/8"])
    assert peer_allowed(("10.20.3.4", 5000), networks)
    assert peer_allowed(("::ffff:10.20.3.4", 5000, 0, 0), networks)  # IPv4 on a dual socket
    assert peer_allowed(("fd00::1", 5000, 0, 0), networks)
    assert not peer_allowed(("10.21.0.1", 5000), networks)
    assert not peer_allowed(("127.0.0.1", 5000), networks)
    assert not peer_allowed(None, networks)  # no peer address: refused
    assert peer_allowed(("203.0.113.9", 1), [])  # nothing configured: any address
    with pytest.raises(ValueError, match="'gateways' is not a network"):
        allowed_networks(["gateways"])
