//! Why a marketplace request failed, and what that means for the rating.

use std::time::Duration;
use thiserror::Error;

/// Why a marketplace request failed; [`MarketplaceError::is_transient`]
/// says whether the same request may succeed later.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MarketplaceError {
    /// Any other error status: the marketplace refuses the request as it
    /// is.
    #[error("marketplace rejected the rating ({status}): {message}")]
    Rejected {
        /// The HTTP status answered.
        status: u16,
        /// The marketplace's message, cut short.
        message: String,
    },
    /// 404 where no remote rating was named: the marketplace does not know
    /// the skill.
    #[error("marketplace does not know skill {skill_id}")]
    UnknownSkill {
        /// The skill asked for.
        skill_id: String,
    },
    /// 404 on an update: the remote rating no longer exists.
    #[error("marketplace rating {remote_id} no longer exists")]
    RemoteRatingGone {
        /// The marketplace's id of that rating.
        remote_id: String,
    },
    /// 409: the user already has a rating for this skill there.
    #[error("marketplace already has a rating by this user for this skill{}", existing_id.as_ref().map(|id| format!(" (remote id {id})")).unwrap_or_default())]
    AlreadyRated {
        /// That rating's id, when the answer gave it, so that the sync can
        /// reconcile with it.
        existing_id: Option<String>,
    },
    /// 429: too many requests.
    #[error("marketplace rate limit reached{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long the answer's `Retry-After` asks to wait, when it could be
        /// read.
        retry_after: Option<Duration>,
    },
    /// 401 or 403: the marketplace refused `ATOM_SAAS_API_TOKEN`.
    #[error("marketplace refused our credentials ({status})")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// 5xx: the marketplace failed; the same request may succeed later.
    #[error("marketplace server error ({status}): {message}")]
    Server {
        /// The HTTP status answered.
        status: u16,
        /// The marketplace's message, cut short.
        message: String,
    },
    /// No answer within the request timeout, or a 408.
    #[error("marketplace request timed out")]
    Timeout,
    /// The request did not reach the marketplace, or the client could not
    /// be built; this is why.
    #[error("could not reach the marketplace: {0}")]
    Connection(String),
    /// An answer whose body could not be read, was too large, or is not
    /// what was expected.
    #[error("marketplace answered {status} with an unreadable body: {message}")]
    InvalidResponse {
        /// The HTTP status answered.
        status: u16,
        /// What is wrong with the body.
        message: String,
    },
    /// The client refused to build the request (a header value or URL it
    /// cannot send): nothing left this process, and the same request never
    /// can. A permanent failure of the one rating, never a sign that the
    /// marketplace is down.
    #[error("the request could not be built: {0}")]
    Unsendable(String),
    /// Redirects are never followed: one could send the token to another
    /// host, or turn a create into a GET whose 200 looks like success.
    #[error("marketplace answered {status} redirecting to {target}; redirects are never followed: check ATOM_SAAS_API_URL")]
    Redirected {
        /// The 3xx status answered.
        status: u16,
        /// Where the answer pointed to.
        target: String,
    },
}

impl MarketplaceError {
    /// The HTTP status the marketplace answered, where the error comes from
    /// an answer (for a trace: 4xx marks an error, 5xx a fault).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. }
            | Self::Unauthorized { status }
            | Self::Server { status, .. }
            | Self::InvalidResponse { status, .. }
            | Self::Redirected { status, .. } => Some(*status),
            Self::UnknownSkill { .. } | Self::RemoteRatingGone { .. } => Some(404),
            Self::AlreadyRated { .. } => Some(409),
            Self::RateLimited { .. } => Some(429),
            Self::Timeout | Self::Connection(_) | Self::Unsendable(_) => None,
        }
    }

    /// Whether the same request may succeed later unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Connection(_)
        )
    }

    /// Whether the marketplace said something: every error but one that
    /// kept the request from leaving ([`MarketplaceError::Unsendable`],
    /// [`MarketplaceError::Connection`], [`MarketplaceError::Timeout`]).
    pub fn is_answer(&self) -> bool {
        !matches!(
            self,
            Self::Unsendable(_) | Self::Connection(_) | Self::Timeout
        )
    }

    /// Whether no request of this run can succeed: the credentials or the
    /// configured URL are wrong. The run stops, and its ratings stay pending.
    pub fn stops_the_run(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::Redirected { .. })
    }
}
