"""Reading fields of one JSON object while collecting every error (shared by the parsers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from healthguard.integrations.events import (
    MAX_LABEL_CHARS,
    MAX_URL_CHARS,
    FieldError,
    Image,
    Link,
    clean_text,
    json_type,
)


class Fields:
    """The fields of one JSON object; problems go to ``errors`` with their full path."""

    def __init__(self, obj: Mapping[str, Any], prefix: str, errors: list[FieldError]) -> None:
        self.obj = obj
        self.prefix = prefix
        self.errors = errors

    def path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(FieldError(self.path(key), message))

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        max_chars: int = MAX_LABEL_CHARS,
        truncate: bool = True,
        strip: bool = True,
    ) -> str | None:
        """A string field: ``None`` when absent/null/blank (an error if ``required``).

        Longer than ``max_chars``: truncated, or refused when ``truncate`` is false.
        """
        raw = self.obj.get(key)
        if raw is None:
            if required:
                self.error(key, "is missing or blank")
            return None
        if not isinstance(raw, str):
            self.error(key, f"must be a string, got {json_type(raw)}")
            return None
        if not raw.strip():
            if required:
                self.error(key, "is missing or blank")
            return None
        value = clean_text(raw.strip() if strip else raw)
        if len(value) > max_chars:
            if not truncate:
                self.error(key, f"is longer than {max_chars} characters ({len(value)})")
                return None
            value = value[:max_chars]
        return value

    def url(self, key: str, *, required: bool = False, https_only: bool = False) -> str | None:
        value = self.text(key, required=required, max_chars=MAX_URL_CHARS, truncate=False)
        if value is None:
            return None
        problem = url_problem(value, https_only=https_only)
        if problem is not None:
            self.error(key, problem)
            return None
        return value

    def links(self, key: str = "links") -> tuple[Link, ...]:
        result: list[Link] = []
        for index, item in enumerate(self._array(key)):
            sub = Fields(item, f"{self.path(key)}[{index}]", self.errors)
            href = sub.url("href", required=True)
            text = sub.text("text", max_chars=MAX_LABEL_CHARS)
            if href is not None:
                result.append(Link(href=href, text=text))
        return tuple(result)

    def images(self, key: str = "images") -> tuple[Image, ...]:
        result: list[Image] = []
        for index, item in enumerate(self._array(key)):
            sub = Fields(item, f"{self.path(key)}[{index}]", self.errors)
            src = sub.url("src", required=True, https_only=True)
            href = sub.url("href")
            alt = sub.text("alt", max_chars=MAX_LABEL_CHARS)
            if src is not None:
                result.append(Image(src=src, href=href, alt=alt))
        return tuple(result)

    def _array(self, key: str) -> list[Mapping[str, Any]]:
        raw = self.obj.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(key, f"must be an array of objects, got {json_type(raw)}")
            return []
        items: list[Mapping[str, Any]] = []
        for index, item in enumerate(raw):
            if isinstance(item, dict):
                items.append(item)
            else:
                self.errors.append(
                    FieldError(
                        f"{self.path(key)}[{index}]", f"must be an object, got {json_type(item)}"
                    )
                )
        return items


def url_problem(value: str, *, https_only: bool = False) -> str | None:
    """Why ``value`` is not an absolute http(s) URL we would show as a link, or ``None``.

    Only http and https: a ``javascript:`` or ``data:`` link rendered in the UI would be an
    injection. Images must be https (PagerDuty documents it; no mixed content).
    """
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "must be a URL without spaces or control characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URL"
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in schemes or not parts.netloc:
        wanted = "an https:// URL" if https_only else "an http:// or https:// URL"
        return f"must be {wanted}"
    return None
