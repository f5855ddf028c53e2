"""Encrypt patient identifiers and clinical free text at rest

Adds the encrypted columns of ``patients`` (mrn_enc, family_name_enc, given_name_enc,
date_of_birth_enc, allergies_enc, notes_enc: AES-256-GCM tokens) and ``mrn_index`` (the
HMAC-SHA256 blind index of the normalised MRN, unique), encrypts every existing row with the
current key of the settings keyring (HEALTHGUARD_PHI_KEYRING, HEALTHGUARD_BLIND_INDEX_KEY),
then drops the plaintext columns. Downgrade decrypts back into plaintext columns.

The keys are only needed when the table has rows: an empty database migrates without them.

Revision ID: 0002_phi_encryption
Revises: 0001_initial
Create Date: 2026-11-27 09:00:00+00:00
"""

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0002_phi_encryption"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
# plaintext column -> encrypted column (the AAD names the plaintext column, see phi.py)
FIELDS: dict[str, str] = {
    "mrn": "mrn_enc",
    "family_name": "family_name_enc",
    "given_name": "given_name_enc",
    "date_of_birth": "date_of_birth_enc",
    "allergies": "allergies_enc",
    "notes": "notes_enc",
}


def _keys() -> tuple[Any, str]:
    from healthguard.patients.phi import keyring_from_settings
    from healthguard.settings import get_settings

    settings = get_settings()
    return keyring_from_settings(settings), settings.secret("blind_index_key")


def _has_rows(conn: sa.Connection) -> bool:
    return conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM patients)")).scalar_one()


def _batches(conn: sa.Connection, columns: str) -> Iterator[Sequence[sa.Row[Any]]]:
    last = None
    while True:
        where = "" if last is None else "WHERE id > :last"
        rows = conn.execute(
            sa.text(f"SELECT id, {columns} FROM patients {where} ORDER BY id LIMIT {BATCH}"),
            {"last": last},
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    for enc in ("mrn_index", *FIELDS.values()):
        op.add_column(
            "patients",
            sa.Column(
                enc, sa.String(length=64) if enc == "mrn_index" else sa.Text(), nullable=True
            ),
        )

    conn = op.get_bind()
    if _has_rows(conn):
        from healthguard.patients.phi import patient_aad
        from healthguard.security.crypto import blind_index, encrypt

        keyring, index_key = _keys()
        seen: dict[str, Any] = {}
        update = sa.text(
            "UPDATE patients SET mrn_index = :mrn_index, "
            + ", ".join(f"{enc} = :{enc}" for enc in FIELDS.values())
            + " WHERE id = :id"
        )
        for rows in _batches(conn, ", ".join(FIELDS)):
            params = []
            for row in rows:
                pid, values = row[0], dict(zip(FIELDS, row[1:], strict=True))
                values["date_of_birth"] = values["date_of_birth"].isoformat()
                index = blind_index(index_key, values["mrn"])
                if index in seen:
                    raise RuntimeError(
                        f"patients {seen[index]} and {pid} have the same MRN once "
                        "whitespace and case are ignored; merge them before migrating"
                    )
                seen[index] = pid
                item: dict[str, Any] = {"id": pid, "mrn_index": index}
                for plain, enc in FIELDS.items():
                    item[enc] = encrypt(keyring, str(values[plain] or ""), patient_aad(plain, pid))
                params.append(item)
            conn.execute(update, params)

    for enc in ("mrn_index", *FIELDS.values()):
        op.alter_column("patients", enc, nullable=False)
    op.create_unique_constraint(op.f("uq_patients_mrn_index"), "patients", ["mrn_index"])
    op.drop_constraint(op.f("uq_patients_mrn"), "patients", type_="unique")
    for plain in FIELDS:
        op.drop_column("patients", plain)


def downgrade() -> None:
    op.add_column("patients", sa.Column("mrn", sa.String(length=64), nullable=True))
    op.add_column("patients", sa.Column("family_name", sa.String(length=100), nullable=True))
    op.add_column("patients", sa.Column("given_name", sa.String(length=100), nullable=True))
    op.add_column("patients", sa.Column("date_of_birth", sa.Date(), nullable=True))
    op.add_column("patients", sa.Column("allergies", sa.Text(), nullable=True))
    op.add_column("patients", sa.Column("notes", sa.Text(), nullable=True))

    conn = op.get_bind()
    if _has_rows(conn):
        from healthguard.patients.phi import patient_aad
        from healthguard.security.crypto import decrypt

        keyring, _ = _keys()
        update = sa.text(
            "UPDATE patients SET " + ", ".join(f"{p} = :{p}" for p in FIELDS) + " WHERE id = :id"
        )
        for rows in _batches(conn, ", ".join(FIELDS.values())):
            params = []
            for row in rows:
                pid = row[0]
                item: dict[str, Any] = {"id": pid}
                for plain, token in zip(FIELDS, row[1:], strict=True):
                    item[plain] = decrypt(keyring, token, patient_aad(plain, pid))
                item["date_of_birth"] = date.fromisoformat(item["date_of_birth"])
                params.append(item)
            conn.execute(update, params)

    for plain in FIELDS:
        op.alter_column("patients", plain, nullable=False)
    op.create_unique_constraint(op.f("uq_patients_mrn"), "patients", ["mrn"])
    op.drop_constraint(op.f("uq_patients_mrn_index"), "patients", type_="unique")
    for enc in ("mrn_index", *FIELDS.values()):
        op.drop_column("patients", enc)
