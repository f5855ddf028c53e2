"""Errors of the incident services (plain exceptions; the lifecycle's answers are
``healthguard.incidents.lifecycle.Refusal`` values, not exceptions)."""

from __future__ import annotations


class IncidentStateError(Exception):
    """The action does not apply to the incident as it is now (`code` for machines: the
    lifecycle's refusal code, or "not_found")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


NOT_FOUND_MESSAGE = "No such incident."


class IncidentNotFound(IncidentStateError):
    """No such incident, or not one the person may see (answered the same: no id leaks)."""

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__("not_found", message)
