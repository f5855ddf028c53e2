"""X-Twilio-Signature: Twilio's published example vectors (auth token ``12345``, from
Twilio's request-validation documentation and its SDKs' test suites), the documented
algorithm written out independently, and every way a forgery differs."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from healthguard.security.twilio_signature import compute_signature, signature_base, verify

pytestmark = pytest.mark.unit

# Twilio's published example.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_SHA256 = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def documented(token: str, url: str, params: dict[str, str]) -> str:
    """The algorithm as documented: base64(HMAC-SHA1(token, url + name1 + value1 + ...))
    with the parameters sorted by name."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_twilios_published_example() -> None:
    assert compute_signature(TOKEN, URL, PARAMS.items()) == SIGNATURE
    assert verify(TOKEN, URL, PARAMS.items(), SIGNATURE)


def test_the_documented_algorithm_with_our_own_values() -> None:
    url = "https://healthguard.hospital.example/api/v1/notifications/sms/status"
    params = {"MessageStatus": "delivered", "MessageSid": "SM0123", "ErrorCode": "", "To": "+44"}
    expected = documented("our-token", url, params)
    assert compute_signature("our-token", url, params.items()) == expected
    assert signature_base(url, params.items()) == (
        url + "ErrorCode" + "MessageSidSM0123" + "MessageStatusdelivered" + "To+44"
    )
    assert verify("our-token", url, reversed(list(params.items())), expected)  # order-free


def test_repeated_parameters_sorted_and_counted_once() -> None:
    """Twilio's example with an array parameter: Digits=5678, 1234, 1234."""
    params = [("Sid", "CA123"), ("SidAccount", "AC123")]
    params += [("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    assert verify(TOKEN, URL, params, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # Twilio signed https://...:443/
        (URL.replace(".com", ".com:1234"), SIGNATURE),  # we see a port Twilio did not sign
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # http + :80
        ("https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="),
    ],
)
def test_ports_added_or_removed_as_twilio_does(url: str, signature: str) -> None:
    assert verify(TOKEN, url, PARAMS.items(), signature)


def test_a_json_body_is_signed_through_its_hash_in_the_url() -> None:
    url = f"{URL}&bodySHA256={JSON_BODY_SHA256}"
    assert verify(TOKEN, url, (), "a9nBmqA0ju/hNViExpshrM61xv4=", json_body=JSON_BODY)
    # the body changed after signing: its hash no longer matches the signed URL
    assert not verify(TOKEN, url, (), "a9nBmqA0ju/hNViExpshrM61xv4=", json_body=b"{}")
    # no bodySHA256 in the URL: a signature over the URL alone proves nothing about the body
    assert not verify(TOKEN, URL, (), documented(TOKEN, URL, {}), json_body=JSON_BODY)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (TOKEN, URL, {**PARAMS, "Digits": "9999"}, SIGNATURE),  # a tampered parameter
        (TOKEN, URL, {**PARAMS, "Extra": "1"}, SIGNATURE),  # an added parameter
        (TOKEN, URL + "&baz=3", PARAMS, SIGNATURE),  # another URL
        (TOKEN, URL.replace("myapp", "other"), PARAMS, SIGNATURE),
        ("54321", URL, PARAMS, SIGNATURE),  # another account's token
        (TOKEN, URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),  # damaged
        (TOKEN, URL, PARAMS, "invalid \u738b"),  # not ASCII
        (TOKEN, URL, PARAMS, ""),
        ("", URL, PARAMS, documented("", URL, PARAMS)),  # no token configured
    ],
)
def test_forgeries_are_refused(
    token: str, url: str, params: dict[str, str], signature: str
) -> None:
    assert not verify(token, url, params.items(), signature)
