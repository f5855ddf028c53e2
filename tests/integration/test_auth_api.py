"""API authentication end to end: tokens, refresh rotation and family revocation, refused
tokens of every kind (each audited with its reason), disabled users, integration keys,
malformed sign-in bodies, lockout without user enumeration, logout and security headers.
No answer ever carries a stack trace (CheckedClient checks every one)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from authsupport import (
    CheckedClient,
    actions_after,
    assert_error,
    audit_rows_after,
    bearer,
    last_audit_id,
    sign_in,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from healthguard.api import build_api
from healthguard.db import session_scope
from healthguard.models import User
from healthguard.security.accounts import (
    GENERIC_LOGIN_ERROR,
    LOCKED_MESSAGE,
    Origin,
    set_locked,
)
from healthguard.security.demo import DEMO_PASSWORD
from healthguard.security.headers import security_headers
from healthguard.settings import get_settings

pytestmark = pytest.mark.integration

ME = "/api/v1/me"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


@pytest.fixture(scope="module")
def client(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(build_api()) as client:
        yield client


@pytest.fixture(scope="module")
def nurse(client: CheckedClient) -> dict[str, Any]:
    """One sign-in of the Cardiology nurse for the module (Argon2 costs ~50 ms each)."""
    return sign_in(client, "nurse.card")


@pytest.fixture(scope="module")
def admin(client: CheckedClient) -> dict[str, str]:
    return bearer(sign_in(client, "admin")["access_token"])


def user_id(username: str) -> str:
    with session_scope() as session:
        return str(session.exec(select(User.id).where(User.username == username)).one())


def lock(username: str, locked: bool) -> None:
    with session_scope() as session:
        set_locked(
            session,
            username=username,
            locked=locked,
            actor="pytest",
            now=datetime.now(UTC),
            origin=Origin(),
        )


# --- token issue and refresh -----------------------------------------------------------------


def test_token_answer_has_the_documented_shape(client: CheckedClient) -> None:
    settings = get_settings()
    before = last_audit_id()
    tokens = sign_in(client, "nurse.med")
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == settings.access_token_ttl_seconds
    assert tokens["refresh_token"].startswith("hgr_")
    claims = jwt.decode(
        tokens["access_token"],
        settings.secret("secret_key"),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == user_id("nurse.med")
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    assert actions_after(before) == {"login.success": 1, "token.issued": 1}
    me = client.get(ME, headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "nurse.med" and me.json()["role"] == "nurse"


def test_refresh_rotates_and_reuse_revokes_the_family(client: CheckedClient) -> None:
    first = sign_in(client, "nurse.icu")

    before = last_audit_id()
    rotated = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200
    assert actions_after(before) == {"token.issued": 1, "token.refreshed": 1}

    # The old refresh token is refused, and reusing it revokes the whole family...
    before = last_audit_id()
    reused = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert_error(reused, 401, "unauthorized")
    rows = audit_rows_after(before)
    assert [(r.action, r.actor, r.outcome) for r in rows] == [
        ("token.reuse_detected", "nurse.icu", "denied")
    ]
    assert rows[0].details["revoked"] == 2

    # ...so the newest one stops working too.
    before = last_audit_id()
    newest = client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert_error(newest, 401, "unauthorized")
    assert actions_after(before) == {"token.reuse_detected": 1}


def test_unknown_refresh_token_is_refused_and_audited(client: CheckedClient) -> None:
    before = last_audit_id()
    response = client.post(REFRESH, json={"refresh_token": "hgr_" + "x" * 43})
    assert_error(response, 401, "unauthorized")
    rows = audit_rows_after(before)
    assert [(r.action, r.details.get("reason")) for r in rows] == [
        ("token.refused", "unknown refresh token")
    ]


# --- refused access tokens -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    """Valid access-token claims of the Cardiology nurse; a change to None drops the claim."""
    settings, now = get_settings(), int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id("nurse.card"),
        "role": "nurse",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, get_settings().secret("secret_key"), algorithm=algorithm)


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _rs256(claims: dict[str, Any]) -> str:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, private_key, algorithm="RS256")


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    # Flip the first character: the last one may only carry padding bits.
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _role_raised(token: str) -> str:
    """Same signature, payload edited to claim the admin role."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _past() -> dict[str, Any]:
    now = int(time.time())
    return _claims(iat=now - 3600, nbf=now - 3600, exp=now - 60)


REFUSED_TOKENS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    # name: (make the token from the nurse's sign-in answer, the audited reason)
    "tampered signature": (lambda t: _tampered(t["access_token"]), "bad signature"),
    "edited payload": (lambda t: _role_raised(t["access_token"]), "bad signature"),
    "expired": (lambda t: _signed(_past()), "token expired"),
    "wrong audience": (lambda t: _signed(_claims(aud="someone-else")), "wrong audience"),
    "wrong issuer": (lambda t: _signed(_claims(iss="evil-idp")), "wrong issuer"),
    "alg none": (lambda t: _unsigned(_claims()), "algorithm 'none' is not accepted"),
    "HS512": (lambda t: _signed(_claims(), "HS512"), "algorithm 'HS512' is not accepted"),
    "RS256": (lambda t: _rs256(_claims()), "algorithm 'RS256' is not accepted"),
    "missing jti": (lambda t: _signed(_claims(jti=None)), "missing claim jti"),
    "missing exp": (lambda t: _signed(_claims(exp=None)), "missing claim exp"),
    "missing sub": (lambda t: _signed(_claims(sub=None)), "missing claim sub"),
    "not an access token": (lambda t: _signed(_claims(typ="refresh")), "not an access token"),
    "malformed": (lambda t: "abc.def.ghi", "malformed token"),
    "unknown user": (
        lambda t: _signed(_claims(sub=str(uuid.uuid4()))),
        "user unknown, disabled, or credentials changed since the token",
    ),
}


@pytest.mark.parametrize("kind", REFUSED_TOKENS)
def test_refused_access_token_is_401_and_audited_with_its_reason(
    client: CheckedClient, nurse: dict[str, Any], kind: str
) -> None:
    make, reason = REFUSED_TOKENS[kind]
    token = make(nurse)
    before = last_audit_id()
    response = client.get(ME, headers=bearer(token))
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    rows = audit_rows_after(before)
    assert [(r.action, r.outcome, r.details) for r in rows] == [
        ("token.refused", "denied", {"reason": reason})
    ]
    assert rows[0].record_id == f"GET {ME}"
    assert token not in json.dumps(rows[0].details)  # no token material in the log


def test_the_untampered_token_works(client: CheckedClient, nurse: dict[str, Any]) -> None:
    assert client.get(ME, headers=bearer(nurse["access_token"])).status_code == 200
    assert client.get(ME, headers=bearer(_signed(_claims()))).status_code == 200


def test_a_disabled_user_with_a_still_valid_token_is_refused(client: CheckedClient) -> None:
    tokens = sign_in(client, "charge.med")
    headers = bearer(tokens["access_token"])
    assert client.get(ME, headers=headers).status_code == 200
    lock("charge.med", True)
    try:
        before = last_audit_id()
        assert_error(client.get(ME, headers=headers), 401, "unauthorized")
        assert_error(client.get("/api/v1/incidents", headers=headers), 401, "unauthorized")
        rows = audit_rows_after(before)
        assert [(r.action, r.actor, r.details["reason"]) for r in rows] == [
            (
                "token.refused",
                user_id("charge.med"),
                "user unknown, disabled, or credentials changed since the token",
            )
        ] * 2
        refresh = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert_error(refresh, 401, "unauthorized")
        signin = client.post(TOKEN, json={"username": "charge.med", "password": DEMO_PASSWORD})
        assert_error(signin, 401, "unauthorized")
        assert signin.json()["error"]["message"] == GENERIC_LOGIN_ERROR
    finally:
        lock("charge.med", False)


def test_tokens_from_before_a_lock_stay_refused_after_the_unlock(client: CheckedClient) -> None:
    old = bearer(sign_in(client, "charge.icu")["access_token"])
    lock("charge.icu", True)
    lock("charge.icu", False)
    assert_error(client.get(ME, headers=old), 401, "unauthorized")
    fresh = bearer(sign_in(client, "charge.icu")["access_token"])
    assert client.get(ME, headers=fresh).status_code == 200


def test_a_password_reset_refuses_access_tokens_issued_before_it(client: CheckedClient) -> None:
    from healthguard.security.accounts import reset_password

    old = bearer(sign_in(client, "dr.resident")["access_token"])
    assert client.get(ME, headers=old).status_code == 200
    new_password = "a much longer new password 42"
    with session_scope() as session:
        reset_password(session, username="dr.resident", password=new_password, actor="test",
                       now=datetime.now(UTC), origin=Origin())  # fmt: skip
    assert_error(client.get(ME, headers=old), 401, "unauthorized")
    fresh = bearer(sign_in(client, "dr.resident", new_password)["access_token"])
    assert client.get(ME, headers=fresh).status_code == 200


# --- integration keys ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_key(client: CheckedClient, admin: dict[str, str]) -> dict[str, Any]:
    created = client.post(
        "/api/v1/integration-keys",
        json={"name": "ICU monitor gateway", "scopes": ["ingest:vitals"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_an_integration_key_works_as_bearer_and_as_x_api_key(
    client: CheckedClient, gateway_key: dict[str, Any], header: str
) -> None:
    key = gateway_key["key"]
    headers = bearer(key) if header == "bearer" else {"X-API-Key": key}
    response = client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["kind"], me["name"], me["role"]) == ("integration", "ICU monitor gateway", None)
    assert me["permissions"] == ["ingest:vitals", "self:read"]
    # A machine reads no clinical data.
    assert_error(client.get("/api/v1/incidents", headers=headers), 403, "forbidden")


def test_the_key_list_never_shows_the_key(
    client: CheckedClient, admin: dict[str, str], gateway_key: dict[str, Any]
) -> None:
    listing = client.get("/api/v1/integration-keys", headers=admin)
    assert listing.status_code == 200
    assert gateway_key["key"] not in listing.text
    assert gateway_key["id"] in {k["id"] for k in listing.json()}


def test_unknown_and_revoked_keys_are_refused_and_audited(
    client: CheckedClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/integration-keys",
        json={"name": "paging gateway", "scopes": ["events:write"]},
        headers=admin,
    ).json()
    headers = {"X-API-Key": created["key"]}
    assert client.get(ME, headers=headers).status_code == 200
    revoked = client.delete(f"/api/v1/integration-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]

    for credential in (headers, bearer(created["key"]), {"X-API-Key": "hgk_not-a-real-key"}):
        before = last_audit_id()
        assert_error(client.get(ME, headers=credential), 401, "unauthorized")
        rows = audit_rows_after(before)
        assert [(r.action, r.outcome, r.details) for r in rows] == [
            ("apikey.refused", "denied", {"reason": "unknown or revoked integration key"})
        ]


def test_no_credentials_is_401_without_an_audit_row(client: CheckedClient) -> None:
    before = last_audit_id()
    error = assert_error(client.get(ME), 401, "unauthorized")
    assert error["message"] == "Authentication required."
    assert audit_rows_after(before) == []


# --- malformed bodies ------------------------------------------------------------------------

MALFORMED: list[tuple[str, str, Any, str]] = [
    # (route, case, body (bytes: sent as is with a JSON content type), the field named)
    (TOKEN, "missing field", {"username": "nurse.card"}, "password"),
    (TOKEN, "extra field", {"username": "a", "password": "b", "role": "admin"}, "role"),
    (TOKEN, "wrong type", {"username": ["nurse.card"], "password": "b"}, "username"),
    (TOKEN, "empty username", {"username": "", "password": "b"}, "username"),
    (TOKEN, "not JSON", b"username=nurse.card&password=x", "body"),
    (TOKEN, "not an object", b'["nurse.card", "x"]', "body"),
    (REFRESH, "missing field", {}, "refresh_token"),
    (REFRESH, "extra field", {"refresh_token": "x", "user": "admin"}, "user"),
    (REFRESH, "wrong type", {"refresh_token": 12345}, "refresh_token"),
    (REFRESH, "not JSON", b"{refresh_token: x", "body"),
    (LOGOUT, "missing field", {}, "refresh_token"),
    (LOGOUT, "extra field", {"refresh_token": "x", "all": True}, "all"),
    (LOGOUT, "wrong type", {"refresh_token": None}, "refresh_token"),
    (LOGOUT, "not JSON", b"\xff\xfe", "body"),
]


@pytest.mark.parametrize(
    ("route", "case", "body", "field"), MALFORMED, ids=[f"{r} {c}" for r, c, _, _ in MALFORMED]
)
def test_malformed_auth_body_is_422_naming_the_field(
    client: CheckedClient, nurse: dict[str, Any], route: str, case: str, body: Any, field: str
) -> None:
    headers = bearer(nurse["access_token"]) if route == LOGOUT else {}
    before = last_audit_id()
    if isinstance(body, bytes):
        headers = {**headers, "Content-Type": "application/json"}
        response = client.post(route, content=body, headers=headers)
    else:
        response = client.post(route, json=body, headers=headers)
    error = assert_error(response, 422, "invalid_request")
    assert [f["field"] for f in error["fields"]] == [field], error
    assert error["message"].startswith(f"{field}: ")
    # Refused before any sign-in logic: no failed login is counted or audited.
    assert audit_rows_after(before) == []


# --- lockout without user enumeration --------------------------------------------------------


def _attempts(client: CheckedClient, username: str, passwords: list[str]) -> list[tuple[int, str]]:
    answers = []
    for password in passwords:
        response = client.post(TOKEN, json={"username": username, "password": password})
        assert_error(response, 401, "unauthorized")
        answers.append((response.status_code, response.json()["error"]["message"]))
    return answers


def test_lockout_after_repeated_failures_and_the_same_answers_for_an_unknown_user(
    client: CheckedClient,
) -> None:
    max_failures = get_settings().login_max_failures
    assert max_failures == 5  # the documented default
    wrong = [f"wrong-password-{i}" for i in range(max_failures)]

    before = last_audit_id()
    real = _attempts(client, "charge.icu", [*wrong, DEMO_PASSWORD, "wrong-again"])
    ghost = _attempts(client, "no.such.person", [*wrong, DEMO_PASSWORD, "wrong-again"])

    expected = [(401, GENERIC_LOGIN_ERROR)] * (max_failures - 1) + [(401, LOCKED_MESSAGE)] * 3
    assert real == expected
    assert ghost == real  # no user enumeration: the same answers, step by step

    rows = audit_rows_after(before)
    lockouts = [r for r in rows if r.action == "login.lockout"]
    assert [(r.actor, r.outcome) for r in lockouts] == [("charge.icu", "locked")]
    failures = [r for r in rows if r.action == "login.failure"]
    assert len(failures) == 2 * (max_failures + 2)
    assert not [r for r in rows if r.action in {"login.success", "token.issued"}]

    lock("charge.icu", False)  # an administrator unlocks (and it is audited)
    assert sign_in(client, "charge.icu")["access_token"]


# --- logout ----------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_family(client: CheckedClient) -> None:
    first = sign_in(client, "charge.card")
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    headers = bearer(second["access_token"])

    before = last_audit_id()
    response = client.post(LOGOUT, json={"refresh_token": second["refresh_token"]}, headers=headers)
    assert response.status_code == 204, response.text
    rows = audit_rows_after(before)
    assert [(r.action, r.actor, r.record_type) for r in rows] == [
        ("logout", "charge.card", "refresh_token")
    ]
    for refresh_token in (second["refresh_token"], first["refresh_token"]):
        refused = client.post(REFRESH, json={"refresh_token": refresh_token})
        assert_error(refused, 401, "unauthorized")


def test_logout_needs_credentials(client: CheckedClient) -> None:
    assert_error(client.post(LOGOUT, json={"refresh_token": "x"}), 401, "unauthorized")


# --- security headers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrapped(seeded: dict[str, int]) -> Iterator[CheckedClient]:
    with CheckedClient(security_headers(build_api())) as client:
        yield client


def _has_security_headers(headers: Any) -> None:
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_security_headers_on_api_answers(
    wrapped: CheckedClient, nurse: dict[str, Any], gateway_key: dict[str, Any]
) -> None:
    answers = [
        wrapped.get("/api/v1/wards", headers=bearer(nurse["access_token"])),  # 200
        wrapped.get(ME),  # 401
        wrapped.get("/api/v1/audit", headers={"X-API-Key": gateway_key["key"]}),  # 403
        wrapped.get(f"/api/v1/patients/{uuid.uuid4()}", headers=bearer(nurse["access_token"])),
        wrapped.post(TOKEN, json={"username": "x"}),  # 422
        wrapped.get("/api/v1/nothing-here"),  # 404 of the catch-all
    ]
    assert [a.status_code for a in answers] == [200, 401, 403, 404, 422, 404]
    for answer in answers:
        _has_security_headers(answer.headers)
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"].startswith("application/json")


def test_token_answers_are_not_cached(wrapped: CheckedClient) -> None:
    response = wrapped.post(TOKEN, json={"username": "auditor", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    _has_security_headers(response.headers)
    assert response.headers["cache-control"] == "no-store"


def test_security_headers_outside_the_api(wrapped: CheckedClient) -> None:
    response = wrapped.get("/healthz")
    assert response.status_code == 200
    _has_security_headers(response.headers)
    assert response.headers.get("cache-control") != "no-store"
