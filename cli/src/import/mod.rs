//! `atom-rating-sync import`: the Python service's SQL database moved in.
//!
//! One page of ratings at a time (keyset pages by id, see `source.rs`):
//! the page's failure rows folded per rating, each row mapped to the items
//! the functions expect (`mapping.rs`), what DynamoDB holds read in one
//! batch, and only what is absent or older written (`write.rs`). The
//! conflict log follows, a page at a time. Every page is idempotent, so a
//! second import writes nothing and an import stopped halfway is finished
//! by the next one. `shape.rs` checks the tables before anything is read;
//! `summary.rs` counts what happened.

mod mapping;
mod shape;
mod source;
mod summary;
mod tls;
mod write;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::IsTerminal;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use chrono::Utc;
use clap::Args;
use shared::config::TableNames;
use shared::conflict::parse_time;
use shared::rating::SyncState;
use shared::store::{
    failures_of, set_version, sync_state, version_of, Item, Store, DEAD_LETTERS_KEY, RATINGS_KEY,
    STANDING_ATTRIBUTES, STATE_KEY,
};

use mapping::{plan_conflict, plan_rating, Context, FailureFold, Kind, RatingPlan};
pub use mapping::{FLAGGED, HIDDEN};
use shape::Shape;
use source::{Source, SqlRating};
pub use summary::{Summary, Tally};
use write::{key_of, key_string, Writer};

/// `import --from URL`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    atom-rating-sync import --from sqlite:///var/lib/atom/ratings.db --dry-run\n  \
    atom-rating-sync import --from postgres://atom@db.internal:5432/atom\n  \
    atom-rating-sync import --from 'postgres://atom@db.example.com/atom?sslmode=verify-full&sslrootcert=ca.pem'\n  \
    atom-rating-sync --json import --from sqlite://ratings.db\n\n\
    PostgreSQL's TLS follows libpq: ?sslmode=disable|prefer (the default)|require|verify-ca|\
    verify-full and ?sslrootcert=PATH (a PEM file; without it the system's roots).\n\
    Tables from RATINGS_TABLE, FAILED_UPLOADS_TABLE, SYNC_STATE_TABLE; AWS from the usual \
    chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB).")]
pub struct ImportArgs {
    /// The Python service's database: `postgres://user[:password]@host[:port]/db`
    /// (`?sslmode=…&sslrootcert=…` as in libpq) or `sqlite://PATH`.
    #[arg(long)]
    pub from: String,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The tenant of ratings and failures whose row has none (the early
    /// shape has no tenant_id column).
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Ratings read and written per page.
    #[arg(long, default_value_t = 500, hide = true,
          value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub page_size: u32,
    /// Stop after this many pages of ratings (tests of a stopped import).
    #[arg(long, hide = true)]
    pub stop_after_pages: Option<u64>,
    /// Show a progress bar on stderr, rewritten after each page (set by
    /// [`run`] when stderr is a terminal and the output is not JSON).
    #[arg(skip)]
    pub progress: bool,
}

/// Why an import stopped; nothing after the first error is written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The database could not be opened or read.
    #[error("{0}")]
    Source(String),
    /// A table or column is missing.
    #[error("{0}; nothing was written")]
    Shape(String),
    /// A DynamoDB request failed.
    #[error("{0}")]
    Dynamo(String),
}

/// Runs the import into `tables`; the error is the one-line reason.
pub async fn run(mut args: ImportArgs, json: bool, tables: TableNames) -> Result<(), String> {
    args.progress = !json && std::io::stderr().is_terminal();
    let aws = shared::triggers::clients::aws_config()
        .await
        .map_err(|e| e.to_string())?;
    let client = Client::new(&aws);
    let summary = import(&args, client, tables)
        .await
        .map_err(|e| e.to_string())?;
    if json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}

/// Imports `args.from` into `tables` through `client`.
pub async fn import(
    args: &ImportArgs,
    client: Client,
    tables: TableNames,
) -> Result<Summary, ImportError> {
    let (source, shown) = Source::open(&args.from).await?;
    let shape = Shape::detect(&source).await?;
    let store = Store::new(client.clone(), tables.clone());
    let writer = Writer::new(client, store, args.dry_run);
    let context = Context {
        tenant: args.tenant.clone(),
        now: Utc::now(),
    };
    let mut summary = Summary {
        source: shown,
        shape: shape.name().into(),
        dry_run: args.dry_run,
        ..Summary::default()
    };
    import_ratings(&source, &shape, &writer, &context, args, &mut summary).await?;
    if summary.stopped_after_pages.is_none() {
        import_conflicts(&source, &shape, &writer, &context, args, &mut summary).await?;
    }
    if args.progress {
        eprintln!();
    }
    Ok(summary)
}

/// The ratings, a page at a time, each page with its failure rows; stops
/// after `--stop-after-pages` full pages (and says so in the summary).
async fn import_ratings(
    source: &Source,
    shape: &Shape,
    writer: &Writer,
    context: &Context,
    args: &ImportArgs,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let page_size = usize::try_from(args.page_size).unwrap_or(usize::MAX);
    let total = if args.progress {
        source.count_ratings().await?
    } else {
        0
    };
    let started = Instant::now();
    let mut after: Option<String> = None;
    let mut pages = 0u64;
    loop {
        let page = source
            .ratings_page(shape, after.as_deref(), args.page_size)
            .await?;
        let full = page.len() >= page_size;
        let last = page.last().map(|r| r.id.clone());
        let upto = if full { last.as_deref() } else { None };
        let folds = fold_failures(source, shape, &page, after.as_deref(), upto, summary).await?;
        let plans = plan_ratings(page, folds, context, summary);
        apply_ratings(writer, plans, summary).await?;
        pages = pages.saturating_add(1);
        if args.progress {
            show_progress(args, summary, total, started);
        }
        if !full {
            return Ok(());
        }
        after = last;
        if args.stop_after_pages == Some(pages) {
            summary.stopped_after_pages = Some(pages);
            return Ok(());
        }
    }
}

/// The failure rows of the ratings after `after` up to `upto` (to the end
/// when `upto` is `None`), folded per rating of `page`; those of a rating
/// not in `skill_ratings` are counted as skipped.
async fn fold_failures(
    source: &Source,
    shape: &Shape,
    page: &[SqlRating],
    after: Option<&str>,
    upto: Option<&str>,
    summary: &mut Summary,
) -> Result<HashMap<String, FailureFold>, ImportError> {
    let ids: HashSet<&str> = page.iter().map(|r| r.id.as_str()).collect();
    let mut folds: HashMap<String, FailureFold> = HashMap::new();
    let read = &mut summary.read;
    let skipped = &mut summary.skipped;
    source
        .failures_between(shape, after, upto, |row| {
            read.failure_rows = read.failure_rows.saturating_add(1);
            if ids.contains(row.rating_id.as_str()) {
                folds.entry(row.rating_id.clone()).or_default().add(&row);
            } else {
                Summary::count(
                    skipped,
                    "failure rows of a rating not in skill_ratings",
                    &row.rating_id,
                );
            }
        })
        .await?;
    Ok(folds)
}

/// The plan of each row of a page with its failures; a row that cannot be
/// imported is counted as skipped, with its reason.
fn plan_ratings(
    page: Vec<SqlRating>,
    mut folds: HashMap<String, FailureFold>,
    context: &Context,
    summary: &mut Summary,
) -> Vec<RatingPlan> {
    let mut plans = Vec::with_capacity(page.len());
    for row in page {
        summary.read.ratings = summary.read.ratings.saturating_add(1);
        let id = row.id.clone();
        match plan_rating(row, folds.remove(&id), context) {
            Ok(plan) => plans.push(plan),
            Err(reason) => Summary::count(&mut summary.skipped, &format!("ratings: {reason}"), &id),
        }
    }
    plans
}

/// The progress bar on stderr, rewritten after each page: the ratings read
/// of `total`, the items written, the rate and the time left.
fn show_progress(args: &ImportArgs, summary: &Summary, total: u64, started: Instant) {
    let read = summary.read.ratings;
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let rate = read as f64 / seconds;
    let left = if rate > 0.0 {
        format!("{:.0} s left", total.saturating_sub(read) as f64 / rate)
    } else {
        "…".into()
    };
    eprint!(
        "\rimport: {} {read}/{total} ratings, {} items {}, {rate:.0}/s, {left}   ",
        bar(read, total, 30),
        Summary::total(&summary.written),
        if args.dry_run { "to write" } else { "written" }
    );
}

/// `[#####-----]`, `width` wide, `done` of `total` filled.
fn bar(done: u64, total: u64, width: u64) -> String {
    let filled = (u128::from(done.min(total)) * u128::from(width))
        .checked_div(u128::from(total))
        .unwrap_or(u128::from(width));
    let filled = usize::try_from(filled).unwrap_or(0);
    let width = usize::try_from(width).unwrap_or(0);
    format!(
        "[{}{}]",
        "#".repeat(filled),
        "-".repeat(width - filled.min(width))
    )
}

/// Writes one page of ratings and their dead-letter items: the absent ones,
/// and in place of an older stored copy; an equal or newer one is left.
async fn apply_ratings(
    writer: &Writer,
    plans: Vec<RatingPlan>,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let tables = writer.store.tables().clone();
    let stored = Stored::read(writer, &plans).await?;
    let mut writes = Writes::default();
    for plan in plans {
        writes.sort(plan, &stored, summary);
    }
    // Before the ratings: an import stopped in between registers them
    // again when it writes the ratings (a skill without synced ratings
    // costs the pull one empty read).
    if !writer.dry_run && !writes.skills.is_empty() {
        writer
            .store
            .register_skills(&writes.skills)
            .await
            .map_err(|e| ImportError::Dynamo(e.to_string()))?;
    }
    writer.batch_put(&tables.ratings, writes.puts).await?;
    let mut dead_puts = writes.dead_puts;
    replace_older(writer, writes.replacements, &mut dead_puts, summary).await?;
    writer.batch_put(&tables.failed_uploads, dead_puts).await
}

/// What DynamoDB holds of a page: its ratings' standing, and which of its
/// dead-letter items exist, by key.
struct Stored {
    ratings: HashMap<String, Item>,
    dead_letters: HashMap<String, Item>,
}

impl Stored {
    /// Both reads at once: they are independent.
    async fn read(writer: &Writer, plans: &[RatingPlan]) -> Result<Self, ImportError> {
        let tables = writer.store.tables();
        let keys = plans.iter().map(|p| key_of(&p.item, RATINGS_KEY)).collect();
        let dead_keys = plans
            .iter()
            .filter_map(|p| p.dead_letter.as_ref())
            .map(|item| key_of(item, DEAD_LETTERS_KEY))
            .collect();
        let (ratings, dead_letters) = tokio::try_join!(
            writer.batch_get(
                &tables.ratings,
                RATINGS_KEY,
                keys,
                Some(&STANDING_ATTRIBUTES)
            ),
            writer.batch_get(
                &tables.failed_uploads,
                DEAD_LETTERS_KEY,
                dead_keys,
                Some(DEAD_LETTERS_KEY),
            ),
        )?;
        Ok(Self {
            ratings,
            dead_letters,
        })
    }
}

/// The writes of one page, sorted from its plans.
#[derive(Default)]
struct Writes {
    /// Ratings DynamoDB does not hold.
    puts: Vec<Item>,
    /// Dead-letter items to write.
    dead_puts: Vec<Item>,
    /// Ratings in place of an older stored copy, with that copy's version
    /// and `updated_at`.
    replacements: Vec<(RatingPlan, i64, String)>,
    /// The skills of the synced ratings written, registered for the pull
    /// as the sync registers the skills it syncs.
    skills: BTreeSet<String>,
}

impl Writes {
    /// Sorts one plan against what DynamoDB holds: absent, older (replaced)
    /// or as new or newer (left); counts it in the summary.
    fn sort(&mut self, plan: RatingPlan, stored: &Stored, summary: &mut Summary) {
        if let Some(reason) = &plan.parked {
            Summary::count(&mut summary.parked, reason, &plan.id);
        }
        if let Some((rows, reason)) = plan.ignored_failures {
            Summary::count_n(&mut summary.skipped, reason, &plan.id, rows);
        }
        let Some(old) = stored.ratings.get(&plan.id) else {
            self.absent(plan, summary);
            return;
        };
        let Some((version, updated_at, old_time)) =
            version_of(old).and_then(|(v, u)| parse_time(&u).map(|t| (v, u, t)))
        else {
            let reason = "ratings: DynamoDB copy has no readable version or updated_at";
            Summary::count(&mut summary.unchanged, reason, &plan.id);
            return;
        };
        if old_time < plan.updated_at {
            if plan.kind == Kind::Synced {
                self.skills.insert(plan.skill_id.clone());
            }
            self.replacements.push((plan, version, updated_at));
            return;
        }
        let reason = "ratings: DynamoDB copy as new or newer";
        Summary::count(&mut summary.unchanged, reason, &plan.id);
        if let Some(dead) = plan.dead_letter {
            let as_imported = old_time == plan.updated_at
                && matches!(sync_state(old), SyncState::Waiting | SyncState::Parked)
                && failures_of(old) > 0;
            self.dead_letter_left_behind(dead, as_imported, stored, &plan.id, summary);
        }
    }

    /// A rating DynamoDB does not hold: written, with its dead-letter item.
    fn absent(&mut self, plan: RatingPlan, summary: &mut Summary) {
        Summary::count(&mut summary.written, plan.kind.label(), &plan.id);
        if let Some(dead) = plan.dead_letter {
            Summary::count(&mut summary.written, "dead-letter items", &plan.id);
            self.dead_puts.push(dead);
        }
        if plan.kind == Kind::Synced {
            self.skills.insert(plan.skill_id);
        }
        self.puts.push(plan.item);
    }

    /// The dead-letter item of a rating left as it is in DynamoDB. The
    /// rating was written by an import that stopped before its dead-letter
    /// item: the item is written if the rating still stands as imported.
    fn dead_letter_left_behind(
        &mut self,
        dead: Item,
        as_imported: bool,
        stored: &Stored,
        id: &str,
        summary: &mut Summary,
    ) {
        let key = key_string(&dead, DEAD_LETTERS_KEY);
        if as_imported && !stored.dead_letters.contains_key(&key) {
            Summary::count(&mut summary.written, "dead-letter items", id);
            self.dead_puts.push(dead);
        } else {
            let reason = "dead-letter items: already there, or the rating moved on";
            Summary::count(&mut summary.unchanged, reason, id);
        }
    }
}

/// Each rating in place of its older stored copy, if that copy is still
/// unchanged; the dead-letter items of those replaced join `dead_puts`.
async fn replace_older(
    writer: &Writer,
    replacements: Vec<(RatingPlan, i64, String)>,
    dead_puts: &mut Vec<Item>,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    for (mut plan, version, updated_at) in replacements {
        set_version(&mut plan.item, version.saturating_add(1));
        let replaced = writer.dry_run
            || writer
                .store
                .replace_rating_if_unchanged(plan.item, version, &updated_at)
                .await
                .map_err(|e| ImportError::Dynamo(e.to_string()))?;
        if replaced {
            let label = format!("{}, in place of an older copy", plan.kind.label());
            Summary::count(&mut summary.written, &label, &plan.id);
            if let Some(dead) = plan.dead_letter {
                Summary::count(&mut summary.written, "dead-letter items", &plan.id);
                dead_puts.push(dead);
            }
        } else {
            let reason = "ratings: changed in DynamoDB during the import";
            Summary::count(&mut summary.unchanged, reason, &plan.id);
        }
    }
    Ok(())
}

/// The conflict log, a page at a time: entries not in the state table yet
/// are written.
async fn import_conflicts(
    source: &Source,
    shape: &Shape,
    writer: &Writer,
    context: &Context,
    args: &ImportArgs,
    summary: &mut Summary,
) -> Result<(), ImportError> {
    let table = writer.store.tables().sync_state.clone();
    let page_size = usize::try_from(args.page_size).unwrap_or(usize::MAX);
    let mut after: Option<String> = None;
    loop {
        let page = source
            .conflicts_page(shape, after.as_deref(), args.page_size)
            .await?;
        let full = page.len() >= page_size;
        let last = page.last().map(|c| c.id.clone());
        let mut items = HashMap::new();
        for row in page {
            summary.read.conflicts = summary.read.conflicts.saturating_add(1);
            let id = row.id.clone();
            match plan_conflict(row, context) {
                Ok(item) => {
                    let key = key_string(&item, STATE_KEY);
                    if items.insert(key, (id.clone(), item)).is_some() {
                        let reason = "conflicts: same rating and time as another row";
                        Summary::count(&mut summary.skipped, reason, &id);
                    }
                }
                Err(reason) => {
                    let reason = format!("conflicts: {reason}");
                    Summary::count(&mut summary.skipped, &reason, &id);
                }
            }
        }
        let keys = items.values().map(|(_, i)| key_of(i, STATE_KEY)).collect();
        let stored = writer
            .batch_get(&table, STATE_KEY, keys, Some(STATE_KEY))
            .await?;
        let mut puts = Vec::new();
        for (key, (id, item)) in items {
            if stored.contains_key(&key) {
                Summary::count(&mut summary.unchanged, "conflicts: already in the log", &id);
            } else {
                Summary::count(&mut summary.written, "conflicts", &id);
                puts.push(item);
            }
        }
        writer.batch_put(&table, puts).await?;
        if !full {
            return Ok(());
        }
        after = last;
    }
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn the_bar_fills_with_the_share_done_and_never_overflows() {
        assert_eq!(bar(0, 100, 10), "[----------]");
        assert_eq!(bar(45, 100, 10), "[####------]");
        assert_eq!(bar(100, 100, 10), "[##########]");
        // More read than counted (rows added meanwhile), or an empty table.
        assert_eq!(bar(150, 100, 10), "[##########]");
        assert_eq!(bar(0, 0, 10), "[##########]");
        assert_eq!(bar(u64::MAX, u64::MAX, 10), "[##########]");
    }
}
