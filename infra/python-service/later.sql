-- The Python RatingSyncService's tables, later shape (issue 19): `review`,
-- `tenant_id`, `updated_at`, and the columns the import does not read; the
-- failures have `max_retries` and `tenant_id`. SQL that SQLite and
-- PostgreSQL both take. Read by tests/support/python_db.rs, by
-- infra/scripts/python_service_db.py (make demo) and by the benchmark's
-- import scenario (infra/bench/bench_import.py).
CREATE TABLE skill_ratings (
    id varchar(36) PRIMARY KEY, skill_id varchar(255), user_id varchar(255),
    rating integer NOT NULL, review text, created_at timestamptz NOT NULL,
    synced_at timestamptz, synced_to_saas boolean NOT NULL DEFAULT false,
    remote_rating_id varchar(255), tenant_id varchar(255) NOT NULL,
    updated_at timestamptz, is_flagged boolean DEFAULT false,
    is_visible boolean DEFAULT true, helpful_count integer DEFAULT 0,
    not_helpful_count integer DEFAULT 0,
    CONSTRAINT uq_skill_user UNIQUE (skill_id, user_id));
CREATE TABLE failed_rating_uploads (
    id varchar(36) PRIMARY KEY, rating_id varchar(36) REFERENCES skill_ratings(id),
    error_message text NOT NULL, failed_at timestamptz NOT NULL,
    last_retry_at timestamptz, retry_count integer DEFAULT 0,
    max_retries integer DEFAULT 3, tenant_id varchar(255));
CREATE TABLE conflict_log (
    id varchar(36) PRIMARY KEY, conflict_type varchar(50), severity varchar(20),
    local_data text, remote_data text, resolution_strategy varchar(50),
    resolved_at timestamptz, skill_id varchar(255), created_at timestamptz);
