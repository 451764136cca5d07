-- The Python RatingSyncService's tables, early shape (issue 19): `comment`,
-- no tenant, no `updated_at`. SQL that SQLite and PostgreSQL both take.
-- Read by tests/support/python_db.rs.
CREATE TABLE skill_ratings (
    id varchar(36) PRIMARY KEY, skill_id varchar(255), user_id varchar(255),
    rating integer NOT NULL, comment text, created_at timestamptz NOT NULL,
    synced_at timestamptz, synced_to_saas boolean NOT NULL DEFAULT false,
    remote_rating_id varchar(255));
CREATE UNIQUE INDEX ix_skill_user ON skill_ratings (skill_id, user_id);
CREATE TABLE failed_rating_uploads (
    id varchar(36) PRIMARY KEY, rating_id varchar(36) REFERENCES skill_ratings(id),
    error_message text NOT NULL, failed_at timestamptz NOT NULL,
    last_retry_at timestamptz, retry_count integer DEFAULT 0);
CREATE TABLE conflict_log (
    id varchar(36) PRIMARY KEY, conflict_type varchar(50), severity varchar(20),
    local_data text, remote_data text, resolution_strategy varchar(50),
    resolved_at timestamptz, skill_id varchar(255), created_at timestamptz);
