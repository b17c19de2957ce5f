"""PostgreSQL part of the seed: the ``recordings`` rows (and one legal hold) of the objects the AWS seed wrote.

The storage examples of docs/storage.md name them: recording 4711 and ``rec/exam-1.webm`` are archived
(``archive_restore.yml``), one expired recording is due for the retention sweep and one more is expired
but under a legal hold. Idempotent: rows are inserted with their ids unless they exist.
"""

import psycopg

_TIMES = {
    "archived": ("now() - interval '10 days'", "now() + interval '365 days'"),
    "expired": ("now() - interval '90 days'", "now() - interval '1 day'"),
    "expired_held": ("now() - interval '90 days'", "now() - interval '1 day'"),
    "current": ("now() - interval '1 day'", "now() + interval '30 days'"),
}
# Ids the examples name are fixed; rows the tests insert get ids from the sequence, which starts above them.
FIRST_FREE_ID = 10000


def seed(dsn, rows):
    """Insert ``rows`` (from the AWS seed's ``recordings``); returns their ids."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for row in rows:
            created, expires = _TIMES[row["state"]]
            cur.execute("insert into recordings (id, bucket, object_key, archive_key, size_bytes, created_at, expires_at) "
                        "values (%%s, %%s, %%s, %%s, %%s, %s, %s) on conflict do nothing" % (created, expires),
                        (row["id"], row["bucket"], row["object_key"], row["archive_key"], row["size_bytes"]))
            if row["state"] == "expired_held":
                cur.execute("insert into legal_holds (recording_id, reason, requested_by) select %s, 'litigation hold (sandbox)', 'legal' "
                            "where not exists (select 1 from legal_holds where recording_id = %s and released_at is null)",
                            (row["id"], row["id"]))
        cur.execute("select setval('recordings_id_seq', greatest((select last_value from recordings_id_seq), %s))", (FIRST_FREE_ID,))
    return [row["id"] for row in rows]
