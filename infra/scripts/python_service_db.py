"""The Python service's database for `make demo`: a SQLite file in the
later shape (infra/python-service/later.sql, the DDL the import tests use),
with a few rows of each kind the import tells apart, and a line per rating
saying what it is. Standard library only.

    python3 infra/scripts/python_service_db.py PATH
"""

import pathlib
import sqlite3
import sys

SCHEMA = pathlib.Path(__file__).resolve().parents[1] / "python-service" / "later.sql"
TENANT = "tenant-demo"

# id, stars, synced_to_saas, remote_rating_id, what it is
RATINGS = [
    ("py-synced", 4, True, "rr-py-synced", "synced, with a remote id"),
    ("py-pending", 5, False, None, "pending"),
    ("py-no-remote", 3, True, None, "marked synced, without a remote id"),
    ("py-seven", 7, False, None, "an invalid value, 7"),
    ("py-four-and-a-half", 4.5, False, None, "an invalid value, 4.5"),
    ("py-failed", 2, False, None, "failed before"),
    ("py-gave-up", 1, False, None, "failed, and given up on"),
]

# rating id, error message, failed_at, retry_count (max_retries 3)
FAILURES = [
    ("py-failed", "HTTP 503: Service Unavailable", "2026-03-05 10:00:00", 0),
    ("py-failed", "Connection reset by peer", "2026-03-05 10:30:00", 1),
    ("py-failed", "Read timed out", "2026-03-05 11:30:00", 2),
    ("py-gave-up", "HTTP 502: Bad Gateway", "2026-03-06 09:00:00", 2),
    ("py-gave-up", "HTTP 502: Bad Gateway", "2026-03-06 10:00:00", 3),
]


def build(path):
    db = sqlite3.connect(path)
    with db:
        db.executescript(SCHEMA.read_text())
        for n, (rid, stars, synced, remote, _) in enumerate(RATINGS, start=1):
            db.execute(
                "INSERT INTO skill_ratings (id, skill_id, user_id, rating, review, created_at,"
                " synced_at, synced_to_saas, remote_rating_id, tenant_id, updated_at)"
                " VALUES (?, ?, ?, ?, ?, '2026-03-01 10:00:00', ?, ?, ?, ?, '2026-03-02 11:30:00')",
                (rid, f"skill-py-{n}", f"user-py-{n}", stars, f"Moved in from the Python service ({rid})",
                 "2026-03-03 09:00:00" if synced else None, synced, remote, TENANT),
            )
        for n, (rid, message, at, count) in enumerate(FAILURES, start=1):
            db.execute(
                "INSERT INTO failed_rating_uploads (id, rating_id, error_message, failed_at,"
                " last_retry_at, retry_count, max_retries, tenant_id) VALUES (?, ?, ?, ?, ?, ?, 3, ?)",
                (f"failure-{n}", rid, message, at, at if count else None, count, TENANT),
            )
    db.close()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = pathlib.Path(sys.argv[1])
    if path.exists():
        sys.exit(f"python_service_db: {path} exists")
    build(path)
    print(f"{path}: {len(RATINGS)} ratings, {len(FAILURES)} failure rows (later shape)")
    print(f"  {'ID':<19} {'RATING':>6}  {'SYNCED':<6}  {'REMOTE ID':<12}  {'FAILURE ROWS':<12}  "
          f"{'RETRY_COUNT':<11}  WHAT")
    for rid, stars, synced, remote, what in RATINGS:
        counts = [f[3] for f in FAILURES if f[0] == rid]
        retries = f"{max(counts)} of max 3" if counts else "-"
        print(f"  {rid:<19} {stars:>6}  {str(synced).lower():<6}  {remote or '-':<12}  "
              f"{len(counts) or '-':<12}  {retries:<11}  {what}")

if __name__ == "__main__":
    main()
