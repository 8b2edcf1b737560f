"""Mirror versions are append-only in the database, not only by convention: a trigger
refuses every UPDATE of ``common_mirrorversion``, whoever sends it (the ORM's ``save()``
or ``update()``, raw SQL, a psql session). DELETE stays allowed: retention
(``sync.services.retention_prune``) deletes versions past their age, and deleting a
connection deletes its history with it (Django's cascade).

A future data migration that must rewrite versions (a column's meaning changed, say)
disables the trigger for its own statement, in its own transaction:
``ALTER TABLE common_mirrorversion DISABLE TRIGGER mirrorversion_append_only``, then
``ENABLE`` it again.
"""

from __future__ import annotations

from django.db import migrations

# Row level, so the message names the version; an UPDATE that matches no row changes
# nothing and is let through. The default SQLSTATE (P0001, raise_exception) reaches
# Python as django.db.ProgrammingError.
CREATE = """
CREATE FUNCTION common_mirrorversion_refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION
        'mirror versions are append-only: UPDATE of common_mirrorversion id % refused', OLD.id
        USING HINT = 'Insert a new version instead; only retention and a connection''s '
                     'deletion remove versions (DELETE is allowed).';
END;
$$;

CREATE TRIGGER mirrorversion_append_only
BEFORE UPDATE ON common_mirrorversion
FOR EACH ROW EXECUTE FUNCTION common_mirrorversion_refuse_update();
"""

DROP = """
DROP TRIGGER IF EXISTS mirrorversion_append_only ON common_mirrorversion;
DROP FUNCTION IF EXISTS common_mirrorversion_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql=DROP),
    ]
