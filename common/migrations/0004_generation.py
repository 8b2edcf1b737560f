"""Counters for cached figures (common.generations): the table, and triggers that move the
``reference`` counter on every statement that changes Une Femme's catalog, the SKU
mappings or a partner, whoever sends it: a service, a bulk operation, the admin, raw SQL.

Statement level, so a bulk write of a thousand mappings moves it once. A statement that
changed no row moves it too, which costs one needless recomputation, never a stale figure.
"""

from __future__ import annotations

from django.db import migrations, models

TABLES = ("inventory_catalogsku", "inventory_skumapping", "accounts_partner")

FUNCTION = """
CREATE FUNCTION common_generation_bump_reference() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO common_generation (name, value) VALUES ('reference', 1)
    ON CONFLICT (name) DO UPDATE SET value = common_generation.value + 1;
    RETURN NULL;
END;
$$;
"""

CREATE = FUNCTION + "".join(
    f"""
CREATE TRIGGER {table}_bumps_reference
AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION common_generation_bump_reference();
"""
    for table in TABLES
)

DROP = (
    "".join(f"DROP TRIGGER IF EXISTS {table}_bumps_reference ON {table};\n" for table in TABLES)
    + "DROP FUNCTION IF EXISTS common_generation_bump_reference();\n"
)


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0003_mirrorversion_deleted_index"),
        ("accounts", "0003_signin_session_key"),
        ("inventory", "0015_channels"),
    ]

    operations = [
        migrations.CreateModel(
            name="Generation",
            fields=[
                ("name", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(CREATE, reverse_sql=DROP),
    ]
