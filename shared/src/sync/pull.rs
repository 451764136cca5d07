//! The pull: remote edits brought in. After the push, a run registers the
//! skills it synced, then reads the remote ratings of as many skills as its
//! time allows and reconciles each synced local rating with its remote copy
//! (newest wins, see [`reconcile`](super::reconcile)). Remote ratings of
//! users with no local rating belong to other instances and are left alone.
//!
//! **Budget.** The pull goes on while the run may start work (the deadline
//! margin, the breaker, the lease) and the gate lets requests out (its rate
//! ceiling), with skill reads in flight through the push's
//! [window](super::window). It reads every registered skill at most once
//! per run: from the saved cursor to the last skill, then from the first
//! skill back to the cursor. `pull_skills_per_run` caps the skills of one
//! run for operators who want it (0 turns the pull off).
//!
//! **Cursor.** Skills finish out of order, so the cursor saved is the last
//! skill of the longest run of skills, in walk order, that were all read: no
//! skill before it is left unread, whatever stopped the run (the deadline, a
//! skill that could not be read, the cap). Skills read after a gap are read
//! again by the next run. When a whole pass is read, the cursor is left
//! where this run found it, so every run walks the skills in the same order
//! and each skill waits at most one pass between two reads.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use tracing::warn;

use super::outcome::{tally, Outcome};
use super::run::Run;
use super::window::{Finished, Window};
use super::SyncEngine;
use crate::conflict::Listed;
use crate::delivery::Delivered;
use crate::marketplace::MarketplaceError;
use crate::rating::{id_problem, quoted, SyncFailure, SyncState};
use crate::report::SyncReport;

/// Registered skills read from the state table per query.
const SKILLS_PER_PAGE: u32 = 100;

impl SyncEngine {
    /// Brings remote changes in, unless the run lost its lease.
    pub(super) async fn pull(&self, run: &Run, report: &mut SyncReport) {
        if run.is_fenced() {
            return;
        }
        self.register_synced_skills(run).await;
        self.pull_skills(run, report).await;
        report.conflicts = run.conflicts.load(Ordering::SeqCst);
    }

    /// Reads the remote ratings of skill after skill, continuing where the
    /// last run stopped, and reconciles each synced local rating with its
    /// remote copy; then saves where the next run starts.
    async fn pull_skills(&self, run: &Run, report: &mut SyncReport) {
        let cap = self.settings.pull_skills_per_run;
        if cap == 0 || !run.may_start() {
            return;
        }
        let start = match self.store.pull_cursor().await {
            Ok(cursor) => cursor,
            Err(err) => {
                warn!(error = %err, "could not read the pull cursor; no pull this run");
                return;
            }
        };
        let mut pass = Pass::new(start.clone(), cap);
        let transient = self.read_skills(run, &mut pass, report).await;
        // As the push settles its own: `failed` counts dead-letter items on
        // every path, and an open breaker is the run's error.
        let keyed = transient.into_iter().map(|failure| ((), failure)).collect();
        self.settle(run, report, keyed).await;
        let next = pass.cursor();
        if run.is_fenced() || next == start.as_deref() {
            return;
        }
        if let Err(err) = self.store.save_pull_cursor(next).await {
            warn!(error = %err, "could not save the pull cursor");
        }
    }

    /// Reads the skills of `pass` through the window, page after page,
    /// until the pass is read, a skill cannot be read or the run may not go
    /// on; tallies what became of each rating reconciled, and answers the
    /// transient failures, not yet recorded.
    async fn read_skills(
        &self,
        run: &Run,
        pass: &mut Pass,
        report: &mut SyncReport,
    ) -> Vec<SyncFailure> {
        let mut window = Window::new(&self.settings);
        let mut queue: VecDeque<(u64, String)> = VecDeque::new();
        // The next page of skills, read while skills are.
        let mut fetch = None;
        // A skill could not be read, or the run may not go on: start nothing more.
        let mut stopped = false;
        let mut transient = Vec::new();
        loop {
            while !stopped && window.has_room() {
                let Some((seq, skill)) = queue.pop_front() else {
                    break;
                };
                if !run.may_start() {
                    stopped = true;
                    break;
                }
                window.start(async move { (seq, self.pull_skill(run, &skill).await) });
            }
            if stopped {
                // Nothing more is started: a page on its way is not needed.
                fetch = None;
            } else if fetch.is_none() && queue.len() < window.room() && run.may_start() {
                if let Some((after, limit)) = pass.next_page(SKILLS_PER_PAGE) {
                    fetch = Some(Box::pin(async move {
                        self.store.skills_after(after.as_deref(), limit).await
                    }));
                }
            }
            match window.next_beside(&mut fetch).await {
                None => return transient,
                Some(Finished::Work((seq, Some(outcomes)))) => {
                    pass.read(seq);
                    report.skills_pulled += 1;
                    for outcome in outcomes {
                        match outcome {
                            Outcome::TransientFailure(failure) => transient.push(failure),
                            outcome => tally(report, outcome),
                        }
                    }
                }
                Some(Finished::Work((_, None))) => stopped = true,
                Some(Finished::Page(Ok((skills, more)))) => {
                    queue.extend(pass.listed(skills, more));
                }
                Some(Finished::Page(Err(err))) => {
                    warn!(error = %err, "could not list the skills to pull; the rest waits for the next run");
                    pass.listing_failed();
                }
            }
        }
    }

    /// Reads one skill and reconciles its synced local ratings: what became
    /// of each, or `None` if the skill could not be read (the marketplace
    /// or DynamoDB failed, or the run may not go on) and the pull should
    /// start nothing more. A skill the marketplace does not know is read:
    /// it has nothing to pull.
    async fn pull_skill(&self, run: &Run, skill: &str) -> Option<Vec<Outcome>> {
        // A skill id no request may carry (registered before ids were
        // checked) is passed over: stopping at it would stop every pull.
        if let Some(problem) = id_problem(skill) {
            warn!(skill = %quoted(skill), problem, "skill id unusable in a URL; not pulled");
            return Some(Vec::new());
        }
        let remote = match run
            .delivery
            .send(|| self.marketplace.skill_ratings(skill))
            .await
        {
            Delivered::Accepted(remote) => remote,
            Delivered::Failed(MarketplaceError::UnknownSkill { .. }) => return Some(Vec::new()),
            Delivered::Failed(err @ MarketplaceError::Unsendable(_)) => {
                warn!(skill = %quoted(skill), error = %err, "could not build the skill's request; not pulled");
                return Some(Vec::new());
            }
            Delivered::Failed(err) => {
                warn!(skill, error = %err, "could not read the skill's remote ratings");
                return None;
            }
            Delivered::NotSent => return None,
        };
        let by_user: HashMap<&str, &Listed> = remote
            .iter()
            .filter_map(|listed| Some((listed.user_id.as_deref()?, listed)))
            .collect();
        let locals = match self.store.ratings_of_skill(skill).await {
            Ok(locals) => locals,
            Err(err) => {
                warn!(skill, error = %err, "could not read the skill's local ratings");
                return None;
            }
        };
        let mut outcomes = Vec::new();
        for (state, local) in locals {
            // Pending, waiting and parked ratings are the push's business.
            let (SyncState::Synced, Ok(local)) = (state, local) else {
                continue;
            };
            if let Some(listed) = by_user.get(local.user_id.as_str()) {
                outcomes.push(match self.checked(listed) {
                    Ok(remote) => self.reconcile(run, &local, remote, false).await,
                    Err(reason) => self.skip_remote(run, &local, listed, &reason).await,
                });
            }
        }
        Some(outcomes)
    }
}

/// Where the listing of the skills stands within one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listing {
    /// The skills after the saved cursor, to the last one; the next page
    /// starts after `after` (`None`: from the first skill).
    Tail { after: Option<String> },
    /// Then the skills from the first one up to the saved cursor, itself
    /// included; the next page starts after `after`.
    Head { after: Option<String> },
    /// Every skill of the pass is listed.
    Ended,
    /// A page could not be read: nothing more is listed in this run.
    Broken,
}

/// One run's pass over the registered skills: which to read, in which
/// order, and where the next run starts.
///
/// Skills are numbered in walk order as they are listed; a skill counts as
/// read once [`Pass::read`] is told so.
#[derive(Debug)]
struct Pass {
    /// The cursor the run found: the pass starts after it and ends on it.
    start: Option<String>,
    listing: Listing,
    /// Skills this run may still list (`pull_skills_per_run` less those
    /// listed).
    left: u32,
    /// The listed skills from the first not yet read on, each with whether
    /// it was read; the first one's number is `first`.
    open: VecDeque<(String, bool)>,
    first: u64,
    /// The last skill of the unbroken run of read skills; the run's start
    /// until one is read.
    read_through: Option<String>,
}

impl Pass {
    /// A pass from after `start` that lists at most `cap` skills.
    fn new(start: Option<String>, cap: u32) -> Self {
        Self {
            listing: Listing::Tail {
                after: start.clone(),
            },
            read_through: start.clone(),
            start,
            left: cap,
            open: VecDeque::new(),
            first: 0,
        }
    }

    /// Where the next page of skills starts and how many to ask for, unless
    /// the listing is over (the pass is listed, the cap reached, or a page
    /// failed).
    fn next_page(&self, page: u32) -> Option<(Option<String>, u32)> {
        if self.left == 0 {
            return None;
        }
        match &self.listing {
            Listing::Tail { after } | Listing::Head { after } => {
                Some((after.clone(), page.min(self.left).max(1)))
            }
            Listing::Ended | Listing::Broken => None,
        }
    }

    /// Takes a page of skills, as listed after the position
    /// [`Pass::next_page`] gave, `more` if others follow it: the skills of
    /// the pass among them, numbered, in walk order.
    fn listed(&mut self, skills: Vec<String>, more: bool) -> Vec<(u64, String)> {
        let (after, head) = match &mut self.listing {
            Listing::Tail { after } => (after, false),
            Listing::Head { after } => (after, true),
            Listing::Ended | Listing::Broken => return Vec::new(),
        };
        let mut taken = Vec::new();
        let mut passed_start = false;
        for skill in skills {
            // In the head, the pass ends where it began.
            if head
                && self
                    .start
                    .as_deref()
                    .is_some_and(|start| skill.as_str() > start)
            {
                passed_start = true;
                break;
            }
            if self.left == 0 {
                break;
            }
            self.left -= 1;
            *after = Some(skill.clone());
            taken.push(skill);
        }
        // An empty page ends the listing too, whatever it says: a page that
        // moves nowhere would be asked for again and again.
        let at_end = passed_start || !more || taken.is_empty();
        if at_end {
            self.listing = match (head, &self.start) {
                (false, Some(_)) => Listing::Head { after: None },
                _ => Listing::Ended,
            };
        }
        let from = self.first + self.open.len() as u64;
        self.open
            .extend(taken.iter().map(|skill| (skill.clone(), false)));
        (from..).zip(taken).collect()
    }

    /// No more pages: the skills listed so far are read, the rest wait.
    fn listing_failed(&mut self) {
        self.listing = Listing::Broken;
    }

    /// Skill number `seq` was read.
    fn read(&mut self, seq: u64) {
        let Some(index) = seq
            .checked_sub(self.first)
            .and_then(|index| usize::try_from(index).ok())
        else {
            return;
        };
        if let Some((_, read)) = self.open.get_mut(index) {
            *read = true;
        }
        while let Some((skill, true)) = self.open.front() {
            self.read_through = Some(skill.clone());
            self.open.pop_front();
            self.first += 1;
        }
    }

    /// Where the next run starts: after the last skill before which every
    /// skill of this pass was read; where this run started if the whole
    /// pass was read.
    fn cursor(&self) -> Option<&str> {
        if self.listing == Listing::Ended && self.open.is_empty() {
            self.start.as_deref()
        } else {
            self.read_through.as_deref()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(skills: &[&str]) -> Vec<String> {
        skills.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The registered skills `all`, listed the way the store lists them:
    /// those after `after`, at most `limit`, and whether more follow.
    fn page_of(all: &[&str], after: Option<&str>, limit: u32) -> (Vec<String>, bool) {
        let later: Vec<&str> = all
            .iter()
            .copied()
            .filter(|skill| after.is_none_or(|after| *skill > after))
            .collect();
        let limit = limit as usize;
        (names(&later[..later.len().min(limit)]), later.len() > limit)
    }

    /// Lists the whole pass over `all` in pages of `page`: the skills in
    /// walk order with their numbers.
    fn list_all(pass: &mut Pass, all: &[&str], page: u32) -> Vec<(u64, String)> {
        let mut listed = Vec::new();
        while let Some((after, limit)) = pass.next_page(page) {
            let (skills, more) = page_of(all, after.as_deref(), limit);
            listed.extend(pass.listed(skills, more));
        }
        listed
    }

    const SKILLS: [&str; 5] = ["a", "b", "c", "d", "e"];

    #[test]
    fn a_pass_from_the_start_lists_every_skill_once_in_order() {
        let mut pass = Pass::new(None, u32::MAX);
        let listed = list_all(&mut pass, &SKILLS, 2);
        assert_eq!(
            listed,
            (0..).zip(names(&SKILLS)).collect::<Vec<_>>(),
            "numbered in walk order"
        );
        assert_eq!(pass.listing, Listing::Ended);
    }

    #[test]
    fn a_pass_from_a_cursor_wraps_and_stops_where_it_began() {
        for page in [1, 2, 3, 100] {
            let mut pass = Pass::new(Some("c".into()), u32::MAX);
            let order: Vec<String> = list_all(&mut pass, &SKILLS, page)
                .into_iter()
                .map(|(_, skill)| skill)
                .collect();
            assert_eq!(order, names(&["d", "e", "a", "b", "c"]), "pages of {page}");
        }
        // A cursor past the last skill, or on one no longer registered.
        let mut past = Pass::new(Some("z".into()), u32::MAX);
        assert_eq!(list_all(&mut past, &SKILLS, 2).len(), 5);
        let mut between = Pass::new(Some("bb".into()), u32::MAX);
        let order: Vec<String> = list_all(&mut between, &SKILLS, 2)
            .into_iter()
            .map(|(_, skill)| skill)
            .collect();
        assert_eq!(order, names(&["c", "d", "e", "a", "b"]));
    }

    #[test]
    fn the_cap_bounds_the_skills_listed_and_page_sizes() {
        let mut pass = Pass::new(Some("d".into()), 3);
        assert_eq!(pass.next_page(100), Some((Some("d".into()), 3)));
        let order: Vec<String> = list_all(&mut pass, &SKILLS, 100)
            .into_iter()
            .map(|(_, skill)| skill)
            .collect();
        assert_eq!(order, names(&["e", "a", "b"]));
        assert_eq!(pass.next_page(100), None);
        for seq in 0..3 {
            pass.read(seq);
        }
        assert_eq!(pass.cursor(), Some("b"), "the next run goes on after b");
    }

    #[test]
    fn the_cursor_stops_before_the_first_skill_not_read() {
        let mut pass = Pass::new(None, u32::MAX);
        list_all(&mut pass, &SKILLS, 100);
        assert_eq!(pass.cursor(), None, "nothing read yet");
        // Out of order: c and b before a.
        pass.read(2);
        pass.read(1);
        assert_eq!(pass.cursor(), None, "a is not read yet");
        pass.read(0);
        assert_eq!(pass.cursor(), Some("c"));
        // d failed; e was read after it.
        pass.read(4);
        assert_eq!(pass.cursor(), Some("c"), "d is read again next run");
        // A number read twice, or never given out, changes nothing.
        pass.read(2);
        pass.read(99);
        assert_eq!(pass.cursor(), Some("c"));
    }

    #[test]
    fn a_whole_pass_read_leaves_the_cursor_where_the_run_found_it() {
        for start in [None, Some("b")] {
            let mut pass = Pass::new(start.map(str::to_owned), u32::MAX);
            let listed = list_all(&mut pass, &SKILLS, 2);
            for (seq, _) in listed.iter().rev() {
                pass.read(*seq);
            }
            assert_eq!(pass.cursor(), start);
        }
    }

    #[test]
    fn a_pass_cut_short_keeps_the_cursor_of_what_was_read() {
        let mut pass = Pass::new(Some("d".into()), u32::MAX);
        let (after, limit) = pass.next_page(2).expect("a page");
        let (skills, more) = page_of(&SKILLS, after.as_deref(), limit);
        let listed = pass.listed(skills, more);
        assert_eq!(listed, [(0, "e".to_owned())]);
        pass.read(0);
        assert_eq!(
            pass.cursor(),
            Some("e"),
            "the tail is read, the head is not"
        );
        pass.listing_failed();
        assert_eq!(pass.next_page(2), None, "no more pages after a failure");
        assert_eq!(pass.cursor(), Some("e"));
    }

    #[test]
    fn an_empty_page_that_claims_more_ends_the_listing() {
        let mut pass = Pass::new(None, u32::MAX);
        assert!(pass.listed(Vec::new(), true).is_empty());
        assert_eq!(pass.next_page(10), None);
        assert_eq!(pass.cursor(), None);
    }

    #[test]
    fn no_registered_skill_is_a_whole_pass_of_nothing() {
        let mut pass = Pass::new(Some("c".into()), u32::MAX);
        assert!(list_all(&mut pass, &[], 10).is_empty());
        assert_eq!(pass.cursor(), Some("c"));
    }
}
