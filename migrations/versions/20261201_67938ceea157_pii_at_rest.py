"""pii at rest

Members' nickname and birthday, the new phone_encrypted and the mall's shipping contact
become text sealed with AES-GCM (growthloop.core.crypto). Existing values are encrypted
here, with the application's key ring: the one `build_runtime` configured (`growthloop
migrate`, serve, tests), or else the one the GROWTHLOOP_ settings give (the `alembic`
command line). The downgrade opens them again.

Revision ID: 67938ceea157
Revises: c18fbd3dec63
Create Date: 2026-12-01 21:56:37
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from growthloop.core import crypto

revision: str = "67938ceea157"
down_revision: str | None = "c18fbd3dec63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "members": ("nickname", "birthday"),
    "mall_redemptions": ("ship_name", "ship_phone", "ship_address"),
}
BATCH = 1000


def _ring() -> crypto.KeyRing:
    try:
        return crypto.current_keys()
    except crypto.KeysNotConfigured:
        from growthloop.core.config import Settings

        settings = Settings()
        return crypto.key_ring(settings.pii_keys, settings.secret_key)


def _values(table: str, column: str) -> list[tuple[str, str]]:
    """(id, stored) of every non-null value of the column."""
    rows = op.get_bind().execute(
        sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
    )
    return [(str(key), str(stored)) for key, stored in rows]


def _write(table: str, column: str, values: Sequence[tuple[str, object]]) -> None:
    statement = sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id")  # noqa: S608
    for start in range(0, len(values), BATCH):
        batch = values[start : start + BATCH]
        op.get_bind().execute(statement, [{"id": key, "v": v} for key, v in batch])


def upgrade() -> None:
    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.alter_column(
            "ship_name",
            existing_type=sa.VARCHAR(length=50),
            type_=sa.Text(),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "ship_phone",
            existing_type=sa.VARCHAR(length=20),
            type_=sa.Text(),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "ship_address",
            existing_type=sa.VARCHAR(length=200),
            type_=sa.Text(),
            existing_nullable=True,
        )

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_encrypted", sa.Text(), nullable=True))
        batch_op.alter_column(
            "nickname", existing_type=sa.VARCHAR(length=64), type_=sa.Text(), existing_nullable=True
        )
        batch_op.alter_column(
            "birthday", existing_type=sa.DATE(), type_=sa.Text(), existing_nullable=True
        )

    ring = _ring()
    for table, columns in COLUMNS.items():
        for column in columns:
            context = f"{table}.{column}"
            plain = [(k, v) for k, v in _values(table, column) if crypto.split(v) is None]
            _write(table, column, [(k, ring.encrypt(v, context)) for k, v in plain])


def downgrade() -> None:
    # Opened in memory and the columns emptied first: the type change casts the column
    # (SQLite's table copy, PostgreSQL's USING), which sealed text would not survive; the
    # plain values are written back afterwards.
    ring = _ring()
    opened: dict[tuple[str, str], list[tuple[str, object]]] = {}
    for table, columns in COLUMNS.items():
        for column in columns:
            values = [
                (k, ring.decrypt(v, f"{table}.{column}") if crypto.split(v) else v)
                for k, v in _values(table, column)
            ]
            if column == "birthday":
                values = [(k, date.fromisoformat(str(v))) for k, v in values]
            opened[table, column] = values
            op.execute(sa.text(f"UPDATE {table} SET {column} = NULL"))  # noqa: S608

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column(
            "birthday",
            existing_type=sa.Text(),
            type_=sa.DATE(),
            existing_nullable=True,
            postgresql_using="birthday::date",
        )
        batch_op.alter_column(
            "nickname", existing_type=sa.Text(), type_=sa.VARCHAR(length=64), existing_nullable=True
        )
        batch_op.drop_column("phone_encrypted")

    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.alter_column(
            "ship_address",
            existing_type=sa.Text(),
            type_=sa.VARCHAR(length=200),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "ship_phone",
            existing_type=sa.Text(),
            type_=sa.VARCHAR(length=20),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "ship_name",
            existing_type=sa.Text(),
            type_=sa.VARCHAR(length=50),
            existing_nullable=True,
        )

    for (table, column), values in opened.items():
        _write(table, column, values)
