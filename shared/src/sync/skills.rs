//! The skills registered for the pull: every skill a rating was synced in
//! is written to the state table, where the pull lists the skills to read.
//! A run registers the skills it synced before it pulls; the fast path
//! registers those of a batch, once per process.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use tracing::warn;

use super::run::Run;
use super::SyncEngine;

/// Skills the fast path remembers having registered for the pull; past
/// this many it forgets them all and registers again (harmless).
const REMEMBERED_SKILLS: usize = 10_000;

/// Skills the fast path has registered for the pull, kept across the
/// invocations of one process so that each costs one write per process.
#[derive(Debug, Default)]
pub(super) struct RegisteredSkills(Mutex<HashSet<String>>);

impl Run {
    /// The skills synced so far, taken out.
    fn take_synced_skills(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.synced_skills.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SyncEngine {
    /// Registers the skills synced in this run.
    pub(super) async fn register_synced_skills(&self, run: &Run) {
        let skills = run.take_synced_skills();
        if let Err(err) = self.store.register_skills(&skills).await {
            warn!(error = %err, "could not register the skills synced in this run");
        }
    }

    /// Registers for the pull the skills synced in this batch that this
    /// process has not registered yet.
    pub(super) async fn register_skills_once(&self, run: &Run) {
        let synced = run.take_synced_skills();
        let new: BTreeSet<String> = {
            let known = self
                .registered_skills
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            synced
                .into_iter()
                .filter(|skill| !known.contains(skill))
                .collect()
        };
        if new.is_empty() {
            return;
        }
        match self.store.register_skills(&new).await {
            Ok(()) => {
                let mut known = self
                    .registered_skills
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if known.len() + new.len() > REMEMBERED_SKILLS {
                    known.clear();
                }
                known.extend(new);
            }
            Err(err) => {
                warn!(error = %err, "could not register the skills synced by the fast path")
            }
        }
    }
}
