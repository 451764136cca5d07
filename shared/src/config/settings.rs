//! The catalogue: every environment variable of the functions, declared
//! once, with its default (or what unset means), its bounds and a one-line
//! doc.
//!
//! The loaders read through these entries (`Lookup` in
//! `env.rs`: `env.number(&BATCH_SIZE)`, `env.seconds(&LEASE)`, ...); the
//! defaults of the configuration types ([`SyncSettings`](super::SyncSettings),
//! [`TableNames`](super::TableNames), [`AwsCallTimeouts`](super::AwsCallTimeouts),
//! ...) are the entries' defaults; and a unit test checks the table of the
//! configuration page (`docs/configuration.md`) against [`SETTINGS`]: a row
//! per entry, its default cell as [`Setting::shown_default`] renders it, a
//! number's bounds as [`Setting::shown_bounds`] renders them.
//!
//! An entry's kind says how it may be read, so that a loader cannot read it
//! as anything else:
//! - [`Number`]: a whole number within `min..=max`, with a default; its
//!   unit ([`Count`], [`Seconds`], [`Millis`]) says what it counts, and a
//!   number of seconds is read as a [`Duration`](std::time::Duration) only;
//! - [`OptionalNumber`]: the same without a default: unset means `unset`;
//! - [`Text`]: text with a default;
//! - [`Required`]: text a function cannot start without;
//! - [`SecretSetting`]: required text that may come from Secrets Manager
//!   instead, when its `arn` entry is set;
//! - [`Optional`]: text that may be unset, which means `unset`;
//! - [`ReadElsewhere`]: a variable of the page that this crate does not
//!   read (the AWS SDK reads it, or nobody does).
//!
//! Whatever the kind, a value is trimmed, and a set but blank one counts as
//! unset. This module uses nothing of the crate: every module may read it.

pub use super::kinds::{
    Count, Millis, Number, Optional, OptionalNumber, ReadElsewhere, Required, Seconds,
    SecretSetting, Setting, Text,
};

/// Declares each entry as a constant whose rustdoc is its doc, and lists
/// them all in [`SETTINGS`], so that no entry can be left out of the check.
macro_rules! catalogue {
    ($(
        $id:ident: $kind:ident $(<$unit:ident>)? {
            name: $name:literal,
            doc: $doc:literal,
            $($field:ident: $value:expr,)*
        }
    )*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $doc, ".")]
            pub const $id: $kind $(<$unit>)? = $kind {
                name: $name,
                doc: $doc,
                $(unit: $unit,)?
                $($field: $value,)*
            };
        )*

        /// Every entry, for the check of the configuration page.
        pub const SETTINGS: &[&dyn Setting] = &[$(&$id),*];
    };
}

catalogue! {
    // The marketplace.
    MARKETPLACE_URL: Required {
        name: "ATOM_SAAS_API_URL",
        doc: "the marketplace's base URL: https://, or http:// to a loopback host only",
    }
    API_TOKEN: SecretSetting {
        name: "ATOM_SAAS_API_TOKEN",
        doc: "the marketplace API token",
        arn: &API_TOKEN_SECRET_ARN,
    }
    API_TOKEN_SECRET_ARN: Optional {
        name: "ATOM_SAAS_API_TOKEN_SECRET_ARN",
        doc: "the Secrets Manager secret that holds the marketplace token",
        unset: "",
    }
    INSTANCE_ID: Required {
        name: "ATOM_INSTANCE_ID",
        doc: "this Atom instance's id at the marketplace",
    }
    REQUEST_TIMEOUT: Number<Seconds> {
        name: "ATOM_SAAS_TIMEOUT_SECONDS",
        doc: "the limit on one marketplace request",
        default: 10, min: 1, max: 300,
    }
    MAX_SKILL_RESPONSE_BYTES: Number<Count> {
        name: "ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES",
        doc: "the most read of one skill's ratings (about 15,000 ratings with full comments)",
        default: 4 * 1024 * 1024, min: 64 * 1024, max: 64 * 1024 * 1024,
    }
    MAX_REQUESTS_PER_MINUTE: OptionalNumber {
        name: "ATOM_SAAS_MAX_REQUESTS_PER_MINUTE",
        doc: "the marketplace requests in any 60-second window, by every function together",
        unset: "no ceiling", min: 1, max: 100_000,
    }

    // Secrets Manager.
    SECRETS_TTL: Number<Seconds> {
        name: "SECRETS_MANAGER_TTL",
        doc: "how long a secret read from Secrets Manager is kept",
        default: 300, min: 1, max: 86_400,
    }

    // The tables.
    RATINGS_TABLE: Text {
        name: "RATINGS_TABLE",
        doc: "the ratings table",
        default: "skill_ratings",
    }
    FAILED_UPLOADS_TABLE: Text {
        name: "FAILED_UPLOADS_TABLE",
        doc: "the dead-letter table",
        default: "failed_rating_uploads",
    }
    SYNC_STATE_TABLE: Text {
        name: "SYNC_STATE_TABLE",
        doc: "the run state table",
        default: "rating_sync_state",
    }
    AUDIT_TABLE: Text {
        name: "AUDIT_TABLE",
        doc: "the admin API's audit trail",
        default: "admin_audit_log",
    }

    // How a run paces itself.
    BATCH_SIZE: Number<Count> {
        name: "RATING_SYNC_BATCH_SIZE",
        doc: "ratings read from an index per query",
        default: 100, min: 1, max: 1000,
    }
    MAX_CONCURRENCY: Number<Count> {
        name: "RATING_SYNC_MAX_CONCURRENCY",
        doc: "marketplace requests in flight at once",
        default: 10, min: 1, max: 100,
    }
    DEADLINE_MARGIN: Number<Seconds> {
        name: "RATING_SYNC_DEADLINE_MARGIN_SECONDS",
        doc: "how long before the deadline a run starts no new upload",
        default: 20, min: 1, max: 600,
    }
    REQUEST_ATTEMPTS: Number<Count> {
        name: "RATING_SYNC_REQUEST_ATTEMPTS",
        doc: "attempts at one request within a run, transient errors only",
        default: 3, min: 1, max: 10,
    }
    MAX_ATTEMPTS: Number<Count> {
        name: "RATING_SYNC_MAX_ATTEMPTS",
        doc: "failed runs before a rating is parked",
        default: 5, min: 1, max: 100,
    }
    RETRY_BACKOFF: Number<Seconds> {
        name: "RATING_SYNC_RETRY_BACKOFF_SECONDS",
        doc: "the wait before a failed rating's second run, doubling per failure",
        default: 15 * 60, min: 0, max: 86_400,
    }
    RETRY_BACKOFF_MAX: Number<Seconds> {
        name: "RATING_SYNC_RETRY_BACKOFF_MAX_SECONDS",
        doc: "the longest such wait, never below RATING_SYNC_RETRY_BACKOFF_SECONDS",
        default: 6 * 60 * 60, min: 0, max: 7 * 86_400,
    }
    BREAKER_THRESHOLD: Number<Count> {
        name: "RATING_SYNC_BREAKER_THRESHOLD",
        doc: "transient failures in a row that open the circuit breaker",
        default: 10, min: 1, max: 1000,
    }
    LEASE: Number<Seconds> {
        name: "RATING_SYNC_LEASE_SECONDS",
        doc: "the lifetime of the run lease, renewed every third of it",
        default: 60, min: 1, max: 900,
    }
    PULL_SKILLS_PER_RUN: OptionalNumber {
        name: "RATING_SYNC_PULL_SKILLS_PER_RUN",
        doc: "the most skills whose remote ratings one run reads; 0 turns pulling off",
        unset: "no cap", min: 0, max: 10_000,
    }
    MAX_CLOCK_SKEW: Number<Seconds> {
        name: "RATING_SYNC_MAX_CLOCK_SKEW_SECONDS",
        doc: "how far in the future a remote rating's time may lie",
        default: 300, min: 0, max: 3600,
    }
    FAST_PATH_GRACE: Number<Seconds> {
        name: "RATING_SYNC_FAST_PATH_GRACE_SECONDS",
        doc: "how young a pending rating a scheduled run leaves to the fast path",
        default: 0, min: 0, max: 86_400,
    }
    EVENT_BUS: Optional {
        name: "RATING_SYNC_EVENT_BUS",
        doc: "the EventBridge bus the sync's events go to, a name or an ARN",
        unset: "no events",
    }

    // Every AWS call.
    AWS_ATTEMPT_TIMEOUT: Number<Millis> {
        name: "RATING_SYNC_AWS_ATTEMPT_TIMEOUT_MS",
        doc: "the limit on one attempt of an AWS call",
        default: 2_000, min: 100, max: 120_000,
    }
    AWS_CALL_TIMEOUT: Number<Millis> {
        name: "RATING_SYNC_AWS_CALL_TIMEOUT_MS",
        doc: "the limit on one AWS call with all its attempts, never less than one attempt",
        default: 6_000, min: 100, max: 120_000,
    }

    // The admin functions.
    ADMIN_SECRET: SecretSetting {
        name: "ADMIN_JWT_SECRET",
        doc: "the HS256 secret of admin tokens, at least 32 bytes",
        arn: &ADMIN_SECRET_ARN,
    }
    ADMIN_SECRET_ARN: Optional {
        name: "ADMIN_JWT_SECRET_SECRET_ARN",
        doc: "the Secrets Manager secret that holds the admin secret",
        unset: "",
    }
    ADMIN_ISSUER: Optional {
        name: "ADMIN_JWT_ISSUER",
        doc: "the iss an admin token must carry",
        unset: "not compared",
    }
    ADMIN_AUDIENCE: Optional {
        name: "ADMIN_JWT_AUDIENCE",
        doc: "the aud an admin token must carry",
        unset: "not compared",
    }
    ADMIN_MAX_TTL: Number<Seconds> {
        name: "ADMIN_JWT_MAX_TTL_SECONDS",
        doc: "the longest lifetime (exp - iat) of an admin token",
        default: 86_400, min: 60, max: 2_592_000,
    }
    AUDIT_RETENTION_DAYS: Number<Count> {
        name: "AUDIT_RETENTION_DAYS",
        doc: "days an audit record is kept",
        default: 400, min: 1, max: 3650,
    }

    // What the functions show.
    METRICS_NAMESPACE: Text {
        name: "RATING_SYNC_METRICS_NAMESPACE",
        doc: "the CloudWatch namespace of the metrics (read by crate::metrics)",
        default: "AtomRatingSync",
    }
    RUST_LOG: Text {
        name: "RUST_LOG",
        doc: "the log level, as tracing's EnvFilter reads it (read by crate::logging)",
        default: "info",
    }
    XRAY_DAEMON_ADDRESS: Optional {
        name: "AWS_XRAY_DAEMON_ADDRESS",
        doc: "the X-Ray daemon's UDP address, set by Lambda under active tracing (read by crate::traces)",
        unset: "no traces",
    }
    LOG_GROUP: Optional {
        name: "AWS_LAMBDA_LOG_GROUP_NAME",
        doc: "the function's log group, set by Lambda; each trace names it (read by crate::traces)",
        unset: "",
    }
    FUNCTION_NAME: Optional {
        name: "AWS_LAMBDA_FUNCTION_NAME",
        doc: "the function's name, set by Lambda; the traces' service name (read by crate::traces)",
        unset: "",
    }

    // On the page, not read by this crate.
    INTERVAL_MINUTES: ReadElsewhere {
        name: "RATING_SYNC_INTERVAL_MINUTES",
        doc: "the schedule's interval, for people: no code reads it",
        shown: "set by the template",
    }
    AWS_ENDPOINT_DYNAMODB: ReadElsewhere {
        name: "AWS_ENDPOINT_URL_DYNAMODB",
        doc: "a DynamoDB endpoint other than AWS's, read by the AWS SDK",
        shown: "unset",
    }
    AWS_ENDPOINT_EVENTBRIDGE: ReadElsewhere {
        name: "AWS_ENDPOINT_URL_EVENTBRIDGE",
        doc: "an EventBridge endpoint other than AWS's, read by the AWS SDK",
        shown: "unset",
    }
}

/// The settings that may come from Secrets Manager.
pub const SECRETS: [&SecretSetting; 2] = [&API_TOKEN, &ADMIN_SECRET];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    /// The page, as the messages name it.
    const PAGE: &str = "docs/configuration.md";

    /// A row of the page's "Environment variables" table.
    struct Row<'a> {
        line: usize,
        variable: &'a str,
        default: &'a str,
        meaning: &'a str,
    }

    /// The rows of the table under `## Environment variables`: those whose
    /// first cell is a variable in backquotes.
    fn rows(page: &str) -> Vec<Row<'_>> {
        let mut in_section = false;
        let mut rows = Vec::new();
        for (index, line) in page.lines().enumerate() {
            if let Some(heading) = line.strip_prefix("## ") {
                in_section = heading.trim() == "Environment variables";
                continue;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if !in_section || cells.len() < 5 || !line.starts_with("| `") {
                continue;
            }
            rows.push(Row {
                line: index + 1,
                variable: cells[1].trim_matches('`'),
                default: cells[2],
                // A meaning with a `|` of its own keeps it.
                meaning: line
                    .splitn(4, '|')
                    .nth(3)
                    .map_or("", |rest| rest.trim().trim_end_matches('|').trim()),
            });
        }
        rows
    }

    /// Every `(digits..digits)` of `cell`: the bounds it gives.
    fn bounds_in(cell: &str) -> Vec<&str> {
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        cell.match_indices('(')
            .filter_map(|(start, _)| {
                let end = start + cell[start..].find(')')?;
                let (low, high) = cell[start + 1..end].split_once("..")?;
                (digits(low) && digits(high)).then(|| &cell[start..=end])
            })
            .collect()
    }

    /// The row an entry should have, for the message that asks for it.
    fn row_for(entry: &dyn Setting) -> String {
        let bounds = entry
            .shown_bounds()
            .map_or(String::new(), |b| format!(" {b}"));
        format!(
            "| `{}` | {} | {}{bounds} |",
            entry.name(),
            entry.shown_default(),
            entry.doc()
        )
    }

    /// What is wrong with `page`'s table, one line per row to fix, each
    /// saying how.
    fn problems(page: &str, entries: &[&dyn Setting]) -> Vec<String> {
        let rows = rows(page);
        let mut problems = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for row in &rows {
            let at = format!("{PAGE}:{} (row `{}`)", row.line, row.variable);
            if let Some(first) = seen.insert(row.variable, row.line) {
                problems.push(format!(
                    "{at}: a second row (first on line {first}); remove one"
                ));
                continue;
            }
            let Some(entry) = entries.iter().find(|e| e.name() == row.variable) else {
                problems.push(format!(
                    "{at}: no entry of shared/src/config/settings.rs declares this variable; \
                     add its entry there (ReadElsewhere if this crate does not read it) or \
                     remove the row"
                ));
                continue;
            };
            let default = entry.shown_default();
            if row.default != default {
                problems.push(format!(
                    "{at}: the default cell says \"{}\"; write \"{default}\", as the entry renders it",
                    row.default
                ));
            }
            let given = bounds_in(row.meaning);
            match entry.shown_bounds() {
                Some(bounds) if given != [bounds.as_str()] => problems.push(format!(
                    "{at}: the meaning cell must give the bounds once, as `{bounds}`; it gives {given:?}"
                )),
                None if !given.is_empty() => problems.push(format!(
                    "{at}: the meaning cell gives bounds {given:?}, but the entry is no number; \
                     remove them"
                )),
                _ => {}
            }
        }
        for entry in entries {
            if !seen.contains_key(entry.name()) {
                problems.push(format!(
                    "{PAGE}, table \"Environment variables\": no row for `{}`; add one such as\n    {}",
                    entry.name(),
                    row_for(*entry)
                ));
            }
        }
        problems
    }

    #[test]
    fn the_configuration_page_has_each_entry_as_declared_and_nothing_else() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let page = std::fs::read_to_string(path).unwrap();
        assert!(
            rows(&page).len() >= SETTINGS.len(),
            "the table was not found"
        );
        let problems = problems(&page, SETTINGS);
        assert!(
            problems.is_empty(),
            "{PAGE} disagrees with shared/src/config/settings.rs:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn the_check_names_each_row_to_fix_and_how() {
        let page = "\
## Environment variables

| variable | default | meaning |
|---|---|---|
| `RATING_SYNC_BATCH_SIZE` | 10 | ratings per page (1..1000) |
| `RATING_SYNC_LEASE_SECONDS` | 60 | lifetime of the lease, 1..900 |
| `RATING_SYNC_MAX_ATTEMPTS` | 5 | failed runs (1..100), formerly (1..50) |
| `RATINGS_TABLE` | `skill_ratings` | ratings table (1..2) |
| `RATINGS_TABLE` | `skill_ratings` | ratings table |
| `NOT_A_SETTING` | unset | nobody reads it |

## Template parameters

| `AUDIT_TABLE` | `admin_audit_log` | another table: not this one's rows |
";
        let entries: [&dyn Setting; 6] = [
            &BATCH_SIZE,
            &LEASE,
            &MAX_ATTEMPTS,
            &RATINGS_TABLE,
            &AUDIT_TABLE,
            &EVENT_BUS,
        ];
        let problems = problems(page, &entries);
        let expected = [
            "docs/configuration.md:5 (row `RATING_SYNC_BATCH_SIZE`): the default cell says \"10\"; write \"100\"",
            "docs/configuration.md:6 (row `RATING_SYNC_LEASE_SECONDS`): the meaning cell must give the bounds once, as `(1..900)`; it gives []",
            "docs/configuration.md:7 (row `RATING_SYNC_MAX_ATTEMPTS`): the meaning cell must give the bounds once, as `(1..100)`; it gives [\"(1..100)\", \"(1..50)\"]",
            "docs/configuration.md:8 (row `RATINGS_TABLE`): the meaning cell gives bounds [\"(1..2)\"], but the entry is no number",
            "docs/configuration.md:9 (row `RATINGS_TABLE`): a second row (first on line 8)",
            "docs/configuration.md:10 (row `NOT_A_SETTING`): no entry of shared/src/config/settings.rs declares this variable",
            "docs/configuration.md, table \"Environment variables\": no row for `AUDIT_TABLE`; add one such as\n    | `AUDIT_TABLE` | `admin_audit_log` | the admin API's audit trail |",
            "docs/configuration.md, table \"Environment variables\": no row for `RATING_SYNC_EVENT_BUS`; add one such as\n    | `RATING_SYNC_EVENT_BUS` | unset (no events) | the EventBridge bus",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(
                problem.starts_with(start),
                "{problem}\nshould start with\n{start}"
            );
        }
    }

    #[test]
    fn each_kind_renders_its_default_and_bounds_as_the_page_shows_them() {
        let cases: [(&dyn Setting, &str, Option<&str>); 8] = [
            (
                &MAX_SKILL_RESPONSE_BYTES,
                "4194304",
                Some("(65536..67108864)"),
            ),
            (&LEASE, "60", Some("(1..900)")),
            (&PULL_SKILLS_PER_RUN, "unset (no cap)", Some("(0..10000)")),
            (&RATINGS_TABLE, "`skill_ratings`", None),
            (&MARKETPLACE_URL, "required", None),
            (
                &API_TOKEN,
                "required unless `ATOM_SAAS_API_TOKEN_SECRET_ARN` is set",
                None,
            ),
            (&API_TOKEN_SECRET_ARN, "unset", None),
            (&INTERVAL_MINUTES, "set by the template", None),
        ];
        for (entry, default, bounds) in cases {
            assert_eq!(entry.shown_default(), default, "{}", entry.name());
            assert_eq!(entry.shown_bounds().as_deref(), bounds, "{}", entry.name());
        }
        assert_eq!(EVENT_BUS.shown_default(), "unset (no events)");
        assert_eq!(LEASE.default_duration(), Duration::from_secs(60));
        assert_eq!(
            AWS_CALL_TIMEOUT.default_duration(),
            Duration::from_millis(6000)
        );
    }

    #[test]
    fn every_entry_has_its_own_name_and_a_default_within_its_bounds() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a variable declared twice");
        for entry in SETTINGS {
            // A number's default is its shown default; an optional
            // number's is not a number.
            if let (Some((min, max)), Ok(default)) =
                (entry.bounds(), entry.shown_default().parse::<u32>())
            {
                assert!((min..=max).contains(&default), "{}", entry.name());
            }
        }
        let secrets = SETTINGS
            .iter()
            .filter(|e| e.shown_default().starts_with("required unless"))
            .count();
        assert_eq!(
            secrets,
            SECRETS.len(),
            "a SecretSetting missing from SECRETS"
        );
        for secret in SECRETS {
            assert!(names.contains(&secret.arn.name), "{}", secret.name);
            assert_eq!(secret.arn.name, format!("{}_SECRET_ARN", secret.name));
        }
    }
}
