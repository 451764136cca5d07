//! What the admin functions build once per cold start: the store, the
//! token check and the cursor signer ([`AdminContext`]; the last two are
//! built again when the admin secret rotates), and for the two that
//! upload, the sync engine beside them ([`SyncApi`]).

use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use super::keys::AdminKeys;
use crate::auth::{AdminPolicy, SecretError};
use crate::config::{
    AdminConfig, Config, ConfigError, Environment, FromEnvironment, Secret, SyncSettings,
};
use crate::marketplace::MarketplaceError;
use crate::secrets::Rotating;
use crate::store::Store;
use crate::sync::SyncEngine;
use crate::triggers::clients::{counted_dynamodb_client_from, publishing_sync_engine};

/// Ratings scanned per page of a re-push (`upload_all`).
pub const REQUEUE_PAGE_SIZE: u32 = 200;

/// What an admin function holds for its whole life: loaded once per cold
/// start, then shared by every request.
pub trait AdminState: Sized + Sync {
    /// Reads the configuration and its secrets, and builds the clients.
    fn load(aws: &aws_config::SdkConfig)
        -> impl Future<Output = Result<Self, StartupError>> + Send;

    /// The part every admin function has: the token check and the audit
    /// trail.
    fn admin(&self) -> &AdminContext;
}

/// What every admin function holds: the store, the token check and the
/// cursor signer, built once per cold start (the keys again when the
/// secret rotates).
#[derive(Debug, Clone)]
pub struct AdminContext {
    pub(super) store: Store,
    pub(super) keys: Rotating<AdminKeys>,
    /// How long the audit records this function writes are kept.
    pub(super) audit_retention_days: u32,
}

/// Why an admin function could not start: a setting or secret is missing or
/// invalid, or the marketplace client could not be built.
#[derive(Debug, Error)]
pub enum StartupError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The admin JWT secret cannot key an HMAC, e.g. because it is blank.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The marketplace client could not be built, e.g. from an unusable
    /// `ATOM_SAAS_API_URL`.
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
}

impl AdminContext {
    /// What an admin function that only reads builds once per cold start:
    /// its configuration, a DynamoDB client, the token checks.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        let config = AdminConfig::load(aws).await?;
        Self::from_config(aws, &config)
    }

    /// The same from a configuration already read.
    pub fn from_config(
        aws: &aws_config::SdkConfig,
        config: &AdminConfig,
    ) -> Result<Self, StartupError> {
        let keys = AdminKeys::rotating(config)?;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(aws)
                .interceptor(crate::traces::AwsCallSpans)
                .build(),
        );
        let store = Store::new(dynamodb, config.tables.clone());
        Ok(Self::with_keys(store, keys).keeping_audit_for(config.audit_retention_days))
    }

    /// `secret` signs the admin tokens, which must also meet `policy`; the
    /// cursors' key is derived from the secret. It never changes.
    pub fn new(store: Store, secret: &Secret, policy: AdminPolicy) -> Result<Self, SecretError> {
        let keys = AdminKeys::new(secret, policy)?;
        Ok(Self::with_keys(
            store,
            Rotating::fixed("ADMIN_JWT_SECRET", keys),
        ))
    }

    /// The same over `keys`, which may be read again as the secret rotates
    /// ([`AdminKeys::rotating`]).
    pub fn with_keys(store: Store, keys: Rotating<AdminKeys>) -> Self {
        Self {
            store,
            keys,
            audit_retention_days: crate::config::DEFAULT_AUDIT_RETENTION_DAYS,
        }
    }

    /// Keeps the audit records this context writes `days` days
    /// (`AUDIT_RETENTION_DAYS`).
    pub fn keeping_audit_for(mut self, days: u32) -> Self {
        self.audit_retention_days = days;
        self
    }

    /// The store the handlers read and write through.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// What the two functions that upload hold besides: the sync engine.
pub struct SyncApi {
    pub(super) admin: AdminContext,
    pub(super) engine: SyncEngine,
    /// The engine stops starting uploads this long before the deadline; a
    /// re-push must leave the run that follows it time beyond this.
    pub(super) deadline_margin: Duration,
    pub(super) requeue_page_size: u32,
}

impl SyncApi {
    /// What an admin function that uploads builds once per cold start: one
    /// read of the environment and its secrets for both configurations, one
    /// DynamoDB client (counting its requests for the run reports) shared by
    /// the engine and the admin context.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        let environment = Environment::load(aws).await?;
        let config = Config::from_environment(&environment)?;
        let admin = AdminConfig::from_environment(&environment)?;
        let (dynamodb, requests) = counted_dynamodb_client_from(aws);
        let engine = publishing_sync_engine(aws, &config, dynamodb.clone())?
            .counting_requests_with(requests);
        let keys = AdminKeys::rotating(&admin)?;
        let context = AdminContext::with_keys(Store::new(dynamodb, admin.tables), keys)
            .keeping_audit_for(admin.audit_retention_days);
        Ok(Self::new(context, engine, &config.sync))
    }

    /// Puts `engine` beside `admin`. From `settings` it keeps the deadline
    /// margin, which a re-push must leave free for the run that follows it;
    /// a re-push scans [`REQUEUE_PAGE_SIZE`] ratings a page.
    pub fn new(admin: AdminContext, engine: SyncEngine, settings: &SyncSettings) -> Self {
        Self {
            admin,
            engine,
            deadline_margin: settings.deadline_margin,
            requeue_page_size: REQUEUE_PAGE_SIZE,
        }
    }
}

impl AdminState for AdminContext {
    async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        AdminContext::load(aws).await
    }

    fn admin(&self) -> &AdminContext {
        self
    }
}

impl AdminState for SyncApi {
    async fn load(aws: &aws_config::SdkConfig) -> Result<Self, StartupError> {
        SyncApi::load(aws).await
    }

    fn admin(&self) -> &AdminContext {
        &self.admin
    }
}
