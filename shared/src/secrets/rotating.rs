//! A secret kept with a time to live, and what is built from it.
//!
//! [`Rotating`] holds what a function builds from a secret (the
//! marketplace token's header, the admin keys) and reads the secret again
//! once the value is older than its TTL, or at once when asked to
//! ([`Rotating::refresh`], after the marketplace refused the token). Reads
//! are one at a time: callers that find the value stale together wait for
//! one read. A read that fails, or gives a value that cannot be used, keeps
//! the last good value, logs a warning without it, and is not tried again
//! before another TTL has passed (a forced refresh tries at once).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

use super::source::{SecretRead, SecretReadError, SecretSource};

/// How a value is built from a secret; the error says why it cannot be,
/// never with the value.
type Build<T> = Box<dyn Fn(&SecretRead) -> Result<T, String> + Send + Sync>;

/// What is built from a secret, read again after `ttl` (see the module
/// docs). Cheap to clone: the clones share one cache.
pub struct Rotating<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Rotating<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T> {
    name: &'static str,
    source: SecretSource,
    ttl: Duration,
    build: Build<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// What `value` was built from (`None` for a fixed value).
    read: Option<SecretRead>,
    value: Arc<T>,
    /// When the source was last asked; `None`: ask at the first use.
    checked_at: Option<Instant>,
}

impl<T> fmt::Debug for Rotating<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotating")
            .field("name", &self.inner.name)
            .field("ttl", &self.inner.ttl)
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Rotating<T> {
    /// `build` applied to `initial` (the value read at the cold start),
    /// read again from `source` once older than `ttl`. A source that keeps
    /// the previous value is read again at the first use, since the read at
    /// the cold start took the current value alone.
    pub fn new(
        name: &'static str,
        initial: SecretRead,
        source: SecretSource,
        ttl: Duration,
        build: impl Fn(&SecretRead) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, SecretReadError> {
        let value = build(&initial).map_err(|reason| SecretReadError::Unusable { name, reason })?;
        let checked_at = (!source.keeps_previous()).then(Instant::now);
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                source,
                ttl,
                build: Box::new(build),
                state: Mutex::new(State {
                    read: Some(initial),
                    value: Arc::new(value),
                    checked_at,
                }),
            }),
        })
    }

    /// `value`, never read again (a secret from the environment, a test).
    pub fn fixed(name: &'static str, value: T) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                source: SecretSource::Fixed,
                ttl: Duration::MAX,
                build: Box::new(|_| Err("a fixed value is never built again".into())),
                state: Mutex::new(State {
                    read: None,
                    value: Arc::new(value),
                    checked_at: Some(Instant::now()),
                }),
            }),
        }
    }

    /// The value, read again first if it is older than the TTL.
    pub async fn current(&self) -> Arc<T> {
        let mut state = self.inner.state.lock().await;
        let stale = state
            .checked_at
            .is_none_or(|at| at.elapsed() >= self.inner.ttl);
        if stale && self.inner.source.can_change() {
            self.read_again(&mut state).await;
        }
        state.value.clone()
    }

    /// Reads the secret again now, whatever its age: whether its current
    /// value changed.
    pub async fn refresh(&self) -> bool {
        let mut state = self.inner.state.lock().await;
        self.read_again(&mut state).await
    }

    async fn read_again(&self, state: &mut State<T>) -> bool {
        let name = self.inner.name;
        let Some(read) = self.inner.source.read().await else {
            return false;
        };
        state.checked_at = Some(Instant::now());
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                warn!(secret = name, error = %error, "could not read the secret again; keeping the value read before");
                return false;
            }
        };
        if state.read.as_ref() == Some(&read) {
            return false;
        }
        let value = match (self.inner.build)(&read) {
            Ok(value) => value,
            Err(reason) => {
                let error = SecretReadError::Unusable { name, reason };
                warn!(secret = name, error = %error, "the secret read again cannot be used; keeping the value read before");
                return false;
            }
        };
        let changed = state
            .read
            .as_ref()
            .is_none_or(|before| before.current != read.current);
        if changed {
            info!(
                secret = name,
                "the secret has a new value in Secrets Manager; using it from now on"
            );
        }
        state.value = Arc::new(value);
        state.read = Some(read);
        changed
    }
}

/// Something that can read a credential again at once: what the delivery
/// gate asks after the marketplace refused the token.
pub trait Renew: Send + Sync {
    /// Reads the credential again; whether it changed.
    fn renew(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

impl<T: Send + Sync + 'static> Renew for Rotating<T> {
    fn renew(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(self.refresh())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::secrets::Secret;

    type Answers = Arc<StdMutex<Vec<Result<SecretRead, SecretReadError>>>>;

    fn read(value: &str) -> Result<SecretRead, SecretReadError> {
        Ok(SecretRead::only(Secret::new(value)))
    }

    /// A cache of the secret's text over scripted answers, refusing values
    /// shorter than 4 characters.
    fn cache(ttl: Duration) -> (Rotating<String>, Answers) {
        let answers: Answers = Arc::default();
        let rotating = Rotating::new(
            "TEST_SECRET",
            SecretRead::only(Secret::new("first")),
            SecretSource::Script(answers.clone()),
            ttl,
            |read| {
                let value = read.current.expose();
                if value.len() < 4 {
                    return Err(format!("{} characters, at least 4 needed", value.len()));
                }
                Ok(value.to_owned())
            },
        )
        .unwrap();
        (rotating, answers)
    }

    fn left(answers: &Answers) -> usize {
        answers.lock().unwrap().len()
    }

    #[tokio::test(start_paused = true)]
    async fn the_secret_is_read_again_only_once_its_ttl_has_passed() {
        let ttl = Duration::from_secs(300);
        let (cache, answers) = cache(ttl);
        answers.lock().unwrap().push(read("second"));
        assert_eq!(*cache.current().await, "first");
        tokio::time::advance(ttl - Duration::from_secs(1)).await;
        assert_eq!(*cache.current().await, "first");
        assert_eq!(left(&answers), 1, "not read before the TTL");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(*cache.current().await, "second");
        assert_eq!(left(&answers), 0, "read once");
        answers.lock().unwrap().push(read("third"));
        assert_eq!(*cache.current().await, "second", "a fresh TTL");
        assert_eq!(left(&answers), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_keeps_the_last_good_value_until_the_next_ttl() {
        let ttl = Duration::from_secs(60);
        let (cache, answers) = cache(ttl);
        answers.lock().unwrap().extend([
            Err(SecretReadError::Unavailable {
                name: "TEST_SECRET",
                reason: "connection refused".into(),
            }),
            read("abc"),
            read("fourth"),
        ]);
        tokio::time::advance(ttl).await;
        assert_eq!(*cache.current().await, "first", "Secrets Manager down");
        assert_eq!(left(&answers), 2);
        assert_eq!(*cache.current().await, "first", "not asked again at once");
        assert_eq!(left(&answers), 2);
        tokio::time::advance(ttl).await;
        assert_eq!(*cache.current().await, "first", "an unusable value");
        assert_eq!(left(&answers), 1);
        tokio::time::advance(ttl).await;
        assert_eq!(*cache.current().await, "fourth");
    }

    #[tokio::test(start_paused = true)]
    async fn a_forced_refresh_reads_at_once_and_says_whether_the_value_changed() {
        let (cache, answers) = cache(Duration::from_secs(300));
        answers
            .lock()
            .unwrap()
            .extend([read("first"), read("rotated")]);
        assert!(!cache.refresh().await, "the same value");
        assert!(cache.refresh().await, "a new value");
        assert_eq!(*cache.current().await, "rotated");
        assert!(!cache.refresh().await, "nothing to read: no change");
    }

    #[tokio::test(start_paused = true)]
    async fn callers_that_find_the_value_stale_together_share_one_read() {
        let ttl = Duration::from_secs(10);
        let (cache, answers) = cache(ttl);
        answers
            .lock()
            .unwrap()
            .extend([read("second"), read("third")]);
        tokio::time::advance(ttl).await;
        let values = futures_util::future::join_all((0..8).map(|_| cache.current())).await;
        assert!(values.iter().all(|v| **v == "second"));
        assert_eq!(left(&answers), 1, "one read for eight callers");
    }

    #[tokio::test]
    async fn a_fixed_value_is_never_read_again() {
        let cache = Rotating::fixed("TEST_SECRET", 7u8);
        assert!(!cache.refresh().await);
        assert_eq!(*cache.current().await, 7);
        assert!(format!("{cache:?}").contains("Fixed"));
    }
}
