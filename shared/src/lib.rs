//! The library behind every atom-rating-sync Lambda function.
//!
//! Self-hosted Atom instances keep their users' skill ratings in DynamoDB;
//! this crate keeps the Atom SaaS marketplace in step with them. The
//! functions under `functions/` are one call each: a function's `main` is a
//! `run` of [`triggers`], which builds its clients once per cold start and
//! serves every event.
//!
//! # Module map
//!
//! From the top down; a module uses only modules of the layers below it
//! (or of its own layer where the line says so), so no module imports one
//! that imports it.
//!
//! **Triggers**, what a function's `main` calls:
//! - [`triggers`]: the three triggers' adapters, each a Lambda event in,
//!   the one engine, an answer out: the schedule ([`triggers::schedule`]),
//!   the ratings table's stream ([`triggers::stream`]) and the admin HTTP
//!   API with its authorizer ([`triggers::http`]); and the clients every
//!   function builds once per cold start ([`triggers::clients`]) (uses
//!   [`metrics`], [`sync`], [`store`], [`auth`], [`logging`] and most of
//!   what is below);
//! - [`metrics`]: a run's and a fast-path batch's CloudWatch metrics, as
//!   Embedded Metric Format lines (uses [`sync`]'s batch report and
//!   [`report`]).
//!
//! **The sync**:
//! - [`sync`]: the engine, one run from lease to report, the fast path's
//!   batch of stream records, and an admin's retry of one rating (uses
//!   everything below);
//! - [`delivery`]: the gate every marketplace request of a run passes:
//!   slow start, retries with backoff, the rate limit, the circuit breaker
//!   (uses [`store`] for the shared rate ceiling, [`marketplace`]'s
//!   errors, [`config`], [`secrets`]);
//! - [`events`]: the sync's events on an EventBridge bus (uses [`rating`]).
//!
//! **Outside systems**:
//! - [`store`]: everything kept in DynamoDB, four tables behind one
//!   [`Store`](store::Store), and the count of a client's requests
//!   ([`store::requests`]) (uses [`conflict`] for the conflict log,
//!   [`config`], [`rating`], [`report`]);
//! - [`conflict`]: newest-wins resolution of a local and a remote rating
//!   (uses [`marketplace`]'s remote rating, [`rating`]);
//! - [`marketplace`]: the marketplace API client (uses [`config`],
//!   [`secrets`], [`rating`]).
//!
//! **Settings and credentials**:
//! - [`config`]: settings from the environment, with the secrets read from
//!   Secrets Manager at the cold start (uses [`auth`]'s token policy,
//!   [`secrets`]);
//! - [`auth`]: who may call the admin functions, the HS256 token check,
//!   and the tokens minted for them (uses [`keyed`], [`json`], [`secrets`]);
//! - [`keyed`]: HMAC-SHA256 keyed with a secret (uses [`secrets`]).
//!
//! **Foundations**, which use no other module of this crate but the
//! catalogue of settings ([`config::settings`]: every environment variable,
//! declared once, with its default, bounds and doc), which itself uses
//! nothing, so that every module may read it:
//! - [`secrets`]: [`Secret`](secrets::Secret), which never reaches a log,
//!   and secrets read again while a function lives;
//! - [`rating`]: the rating and its rules; [`report`]: what a run did;
//! - [`json`]: JSON objects from outside, no key counted twice;
//! - [`logging`]: JSON logs on stdout;
//! - [`traces`]: each invocation one X-Ray trace, from the spans of the
//!   code, with a span for each AWS call and each marketplace request
//!   (uses [`logging`]: its list of this service's crates, and its layer).

#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod conflict;
pub mod delivery;
pub mod events;
pub mod json;
pub mod keyed;
pub mod logging;
pub mod marketplace;
pub mod metrics;
pub mod rating;
pub mod report;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod traces;
pub mod triggers;
