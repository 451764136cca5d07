//! `admin-once`: the `admin-sync-status` function as it is deployed, the
//! same `main` (logging, the admin context loaded once, the Lambda runtime
//! serving the status handler), for `tests/log_secrets.rs`, which points
//! it at a Runtime API of its own and reads everything it writes.

use lambda_http::{service_fn, Error, Request};
use shared::api::{status, AdminContext};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let aws = shared::aws_config().await;
    let context = AdminContext::load(&aws).await?;
    lambda_http::run(service_fn(|request: Request| {
        let context = &context;
        async move { Ok::<_, Error>(status::handle(context, request).await) }
    }))
    .await
}
