"""Twilio request signatures (``X-Twilio-Signature``), pure: no I/O, no settings.

Twilio signs every webhook request it makes with the account's auth token::

    signature = base64( HMAC-SHA1( key = auth token (UTF-8),
                                   msg = full URL + name1 + value1 + name2 + value2 ... ) )

- the URL is the one configured at Twilio, exactly as Twilio called it: scheme, host, port
  (if any), path and query string. Behind a proxy it is the public URL, not the one the app
  sees (the API builds it from ``HEALTHGUARD_PUBLIC_URL``);
- the POST form parameters (``application/x-www-form-urlencoded``) are sorted by name
  (then by value for a repeated name) and each appended as name then value, with nothing
  between them; query-string parameters are not appended (they are in the URL);
- a JSON body is not appended: Twilio adds ``bodySHA256=<hex SHA-256 of the body>`` to the
  URL's query string instead and signs the URL alone; :func:`verify` checks that hash too.

Twilio's own validators also accept the URL with its port removed or the scheme's default
port added (``https://host:443/`` and ``https://host/``), since proxies add and drop ports;
so does :func:`verify`. Twilio's published example (auth token ``12345``) is checked in
``tests/unit/test_twilio_signature.py``. Comparison is in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

__all__ = ["compute_signature", "signature_base", "verify"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def signature_base(url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signed string: ``url`` then every distinct (name, value) sorted by name, then
    value (a repeated identical pair counts once, as in Twilio's validators)."""
    return url + "".join(name + value for name, value in sorted(set(params)))


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for this URL and these form parameters."""
    mac = hmac.new(
        auth_token.encode("utf-8"), signature_base(url, params).encode("utf-8"), hashlib.sha1
    )
    return base64.b64encode(mac.digest()).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    if default is None or not parts.hostname:
        return [url]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host = hostport
    if not host.endswith("]") and ":" in host:  # host:port (an IPv6 literal ends with "]")
        host = host.rsplit(":", 1)[0]
    variants = [url]
    for netloc in (prefix + host, f"{prefix}{host}:{default}"):
        candidate = urlunsplit(parts._replace(netloc=netloc))
        if candidate not in variants:
            variants.append(candidate)
    return variants


def verify(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    signature: str | None,
    *,
    json_body: bytes | None = None,
) -> bool:
    """Whether ``signature`` is Twilio's for this request.

    ``params``: the form body's (name, value) pairs (empty for a JSON body). ``json_body``:
    the raw body of a JSON request, which must match the URL's ``bodySHA256``. An empty
    token or signature never verifies."""
    if not auth_token or not signature:
        return False
    pairs = [] if json_body is not None else list(params)
    if json_body is not None:
        claimed = parse_qs(urlsplit(url).query).get("bodySHA256", [""])[0]
        actual = hashlib.sha256(json_body).hexdigest()
        if not hmac.compare_digest(claimed.lower().encode(), actual.encode()):
            return False
    given = signature.strip().encode("ascii", "replace")
    ok = False
    for candidate in _port_variants(url):
        expected = compute_signature(auth_token, candidate, pairs).encode("ascii")
        ok |= hmac.compare_digest(expected, given)  # every variant, so timing says nothing
    return ok
