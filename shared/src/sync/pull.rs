//! The pull: remote edits brought in. After the push, a run registers the
//! skills it synced, then reads the remote ratings of a bounded number of
//! skills and reconciles each synced local rating with its remote copy
//! (newest wins, see [`reconcile`](super::reconcile)). Remote ratings of
//! users with no local rating belong to other instances and are left alone.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tracing::warn;

use super::outcome::tally;
use super::run::Run;
use super::SyncEngine;
use crate::conflict::Listed;
use crate::delivery::Delivered;
use crate::marketplace::MarketplaceError;
use crate::rating::SyncState;
use crate::report::SyncReport;

impl SyncEngine {
    /// Brings remote changes in, unless the run lost its lease.
    pub(super) async fn pull(&self, run: &Run, report: &mut SyncReport) {
        if run.is_fenced() {
            return;
        }
        let skills =
            std::mem::take(&mut *run.synced_skills.lock().unwrap_or_else(|e| e.into_inner()));
        if let Err(err) = self.store.register_skills(&skills).await {
            warn!(error = %err, "could not register the skills synced in this run");
        }
        self.pull_skills(run, report).await;
        report.conflicts = run.conflicts.load(Ordering::SeqCst);
    }

    /// Reads the remote ratings of a bounded number of skills, continuing
    /// where the last run stopped, and reconciles each synced local rating
    /// with its remote copy.
    async fn pull_skills(&self, run: &Run, report: &mut SyncReport) {
        let per_run = self.settings.pull_skills_per_run;
        if per_run == 0 || !run.may_start() {
            return;
        }
        let cursor = match self.store.pull_cursor().await {
            Ok(cursor) => cursor,
            Err(err) => {
                warn!(error = %err, "could not read the pull cursor; no pull this run");
                return;
            }
        };
        let (skills, more) = match self.store.skills_after(cursor.as_deref(), per_run).await {
            Ok(page) => page,
            Err(err) => {
                warn!(error = %err, "could not list the skills to pull; no pull this run");
                return;
            }
        };
        let mut done = cursor;
        let mut finished = true;
        for skill in skills {
            if !run.may_start() || !self.pull_skill(run, &skill, report).await {
                finished = false;
                break;
            }
            report.skills_pulled += 1;
            done = Some(skill);
        }
        // Every skill read: the next run starts again from the first.
        let next = if finished && !more { None } else { done };
        if run.is_fenced() {
            return;
        }
        if let Err(err) = self.store.save_pull_cursor(next.as_deref()).await {
            warn!(error = %err, "could not save the pull cursor");
        }
    }

    /// Reconciles the synced local ratings of one skill; `false` if the skill
    /// could not be read and the pull should stop here.
    async fn pull_skill(&self, run: &Run, skill: &str, report: &mut SyncReport) -> bool {
        let remote = match run
            .delivery
            .send(|| self.marketplace.skill_ratings(skill))
            .await
        {
            Delivered::Accepted(remote) => remote,
            // Gone at the marketplace: nothing to pull.
            Delivered::Failed(MarketplaceError::UnknownSkill { .. }) => return true,
            Delivered::Failed(err) => {
                warn!(skill, error = %err, "could not read the skill's remote ratings");
                return false;
            }
            Delivered::NotSent => return false,
        };
        let by_user: HashMap<&str, &Listed> = remote
            .iter()
            .filter_map(|listed| Some((listed.user_id.as_deref()?, listed)))
            .collect();
        let locals = match self.store.ratings_of_skill(skill).await {
            Ok(locals) => locals,
            Err(err) => {
                warn!(skill, error = %err, "could not read the skill's local ratings");
                return false;
            }
        };
        for (state, local) in locals {
            // Pending, waiting and parked ratings are the push's business.
            let (SyncState::Synced, Ok(local)) = (state, local) else {
                continue;
            };
            if let Some(listed) = by_user.get(local.user_id.as_str()) {
                let outcome = match self.checked(listed) {
                    Ok(remote) => self.reconcile(run, &local, remote, false).await,
                    Err(reason) => self.skip_remote(run, &local, listed, &reason).await,
                };
                tally(report, outcome);
            }
        }
        true
    }
}
