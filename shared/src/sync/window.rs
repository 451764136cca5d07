//! The window of work in flight, one for the push, the fast path and the
//! pull: at most twice `max_concurrency` uploads (or skill reads) at once,
//! and beside them the next page of work, read while they go on.
//!
//! Twice the request cap: while some pieces of work are being recorded in
//! DynamoDB, others keep every marketplace slot busy. The
//! [`DeliveryGate`](crate::delivery::DeliveryGate) holds marketplace
//! requests to `max_concurrency` itself.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::config::SyncSettings;

/// Work in flight, bounded.
pub(super) struct Window<F> {
    room: usize,
    in_flight: FuturesUnordered<F>,
}

/// What finished first: a piece of work, or the page read beside the work.
pub(super) enum Finished<T, P> {
    Work(T),
    Page(P),
}

impl<F: Future> Window<F> {
    /// An empty window of twice `max_concurrency` (at least 2).
    pub(super) fn new(settings: &SyncSettings) -> Self {
        Self {
            room: settings.max_concurrency.max(1) * 2,
            in_flight: FuturesUnordered::new(),
        }
    }

    /// How much work may be in flight at once.
    pub(super) fn room(&self) -> usize {
        self.room
    }

    /// Whether another piece of work may start.
    pub(super) fn has_room(&self) -> bool {
        self.in_flight.len() < self.room
    }

    /// Starts `work` (the caller checks [`Window::has_room`]).
    pub(super) fn start(&mut self, work: F) {
        self.in_flight.push(work);
    }

    /// The next piece of work to finish or the page `fetch` reads, whichever
    /// comes first (a page read is taken out of `fetch`); `None` when there
    /// is neither work in flight nor a page to read.
    pub(super) async fn next_beside<P: Future + Unpin>(
        &mut self,
        fetch: &mut Option<P>,
    ) -> Option<Finished<F::Output, P::Output>> {
        if fetch.is_none() && self.in_flight.is_empty() {
            return None;
        }
        let page = async {
            match fetch.as_mut() {
                Some(page) => page.await,
                None => std::future::pending().await,
            }
        };
        let in_flight = &mut self.in_flight;
        let busy = !in_flight.is_empty();
        tokio::select! {
            Some(done) = in_flight.next(), if busy => Some(Finished::Work(done)),
            page = page => {
                *fetch = None;
                Some(Finished::Page(page))
            }
        }
    }
}
