"""The header's navigation offers each role the pages its permissions open, and nothing
else (the pages check the same permissions on the server)."""

from __future__ import annotations

import pytest

from healthguard.models.users import UserRole
from healthguard.ui import routes


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        (UserRole.NURSE, ["Dashboard", "Staff and rota"]),
        (UserRole.CHARGE_NURSE, ["Dashboard", "Staff and rota"]),
        (UserRole.PHYSICIAN, ["Dashboard", "Staff and rota"]),
        (UserRole.ADMIN, ["Dashboard", "Staff and rota", "Administration"]),
        (UserRole.AUDITOR, ["Audit log"]),
        ("no such role", []),
    ],
)
def test_each_role_sees_the_pages_it_may_use(role: str, labels: list[str]) -> None:
    links = routes.pages_for_role(role)
    assert [link["label"] for link in links] == labels
    hrefs = {label: href for label, href, _ in routes.NAVIGATION}
    assert all(link["href"] == hrefs[link["label"]] for link in links)
