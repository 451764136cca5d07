//! The three triggers, each an adapter from its Lambda event to the one
//! sync engine ([`SyncEngine`](crate::sync::SyncEngine)) and back. Every
//! function's `main` is one call to a `run` here, which builds the clients
//! and the engine once per cold start ([`clients`]) and then serves each
//! invocation:
//!
//! | trigger | function | event in | engine call | answer |
//! |---|---|---|---|---|
//! | [`schedule`] | `scheduled-rating-sync` | an EventBridge scheduled event | one run | the run's report |
//! | [`stream`] | `stream-rating-sync` | a batch of the ratings table's DynamoDB stream records | the batch's changes | the records to deliver again |
//! | [`http`] | the four admin functions, and `admin-authorizer` | an API Gateway HTTP API request (or authorizer event) | a run, one rating's retry, or a read of the store | JSON (or the authorizer's verdict) |
//!
//! Each `run` writes the JSON logs ([`crate::logging`]) and, for a run or a
//! batch, its metrics ([`crate::metrics`]).

pub mod clients;
pub mod http;
pub mod schedule;
pub mod stream;
