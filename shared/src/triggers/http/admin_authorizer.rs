//! The Lambda authorizer in front of the admin HTTP API
//! (`functions/admin-authorizer`).
//!
//! API Gateway (HTTP API, payload format 2.0, simple responses) calls it
//! before a route's function, with the request's headers; it answers
//! `{"isAuthorized": true, "context": {"sub", "role", "agent_id"?}}` for a
//! token that [`AdminVerifier`] accepts, and `{"isAuthorized": false,
//! "context": {}}` for anything else, which API Gateway turns into a 403
//! without calling the function. The check is the very one the admin
//! functions make themselves (same verifier, same
//! [`AdminPolicy`](crate::auth::AdminPolicy)), so the authorizer keeps
//! refused requests away from the functions and their tables; it does not
//! replace the functions' own check.
//!
//! [`run`] builds the verifier once per cold start from
//! [`AdminConfig`]: the admin secret and the
//! token policy, as the admin functions read them ([`AdminKeys`], built
//! again when the secret read again from Secrets Manager has changed).
//! Besides that secret it reads nothing but the event and writes nothing: no DynamoDB, no audit
//! record (the functions keep the audit trail). Each refusal is one `info`
//! log line with the reason ([`AuthError`]'s `Display`, which never holds
//! the token); the token itself is neither logged nor put in the context.

use std::time::SystemTime;

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{Map, Value};
use tracing::info;

use super::AdminKeys;
use crate::auth::{Admin, AdminVerifier, AuthError};
use crate::config::{AdminConfig, FromEnvironment};
use crate::triggers::clients::aws_config;

/// The event API Gateway sends a payload 2.0 Lambda authorizer.
pub type AuthorizerRequest = ApiGatewayV2CustomAuthorizerV2Request;

/// The simple response: `isAuthorized` and a context of strings.
pub type AuthorizerResponse = ApiGatewayV2CustomAuthorizerSimpleResponse<Value>;

/// The function, as its traces name it.
const TRACED_AS: &str = "admin-authorizer";

/// The whole life of the authorizer function: JSON logs and traces, the admin keys
/// built once per cold start (and again when the admin secret, read again
/// from Secrets Manager every `SECRETS_MANAGER_TTL`, has changed), then
/// every event through [`authorize`].
pub async fn run() -> Result<(), Error> {
    crate::traces::init();
    let config = AdminConfig::load(&aws_config().await?).await?;
    let keys = AdminKeys::rotating(&config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuthorizerRequest>| {
        let keys = keys.clone();
        async move {
            let trace = event.context.xray_trace_id.clone();
            let work = async {
                let keys = keys.current().await;
                authorize(&keys.verifier, &event.payload, SystemTime::now())
            };
            let answer = crate::traces::invocation(trace.as_deref(), TRACED_AS, "http", work).await;
            Ok::<_, Error>(answer)
        }
    }))
    .await
}

/// The answer to one authorizer event, as of `now`.
pub fn authorize(
    verifier: &AdminVerifier,
    request: &AuthorizerRequest,
    now: SystemTime,
) -> AuthorizerResponse {
    match authorization(request).and_then(|header| verifier.authorize(header, now)) {
        Ok(admin) => allowed(&admin),
        Err(error) => {
            let context = &request.request_context;
            info!(
                reason = %error,
                permission_denied = error.denies_permission(),
                route = request.route_key.as_deref(),
                source_ip = context.http.source_ip.as_deref(),
                api_request_id = context.request_id.as_deref(),
                "admin request refused by the authorizer"
            );
            refused()
        }
    }
}

/// The `Authorization` header's value (header names arrive in lower case;
/// the lookup ignores case anyway), else the first identity source, which
/// is that header when the route's identity source is
/// `$request.header.Authorization`. `None` when there is neither.
fn authorization(request: &AuthorizerRequest) -> Result<Option<&str>, AuthError> {
    let mut values = request.headers.get_all("authorization").iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(AuthError::Malformed(
            "the request has more than one Authorization header",
        )),
        (Some(value), None) => value
            .to_str()
            .map(Some)
            .map_err(|_| AuthError::Malformed("the Authorization header is not ASCII")),
        (None, _) => Ok(request
            .identity_source
            .as_ref()
            .and_then(|sources| sources.first())
            .map(String::as_str)),
    }
}

/// Who the caller is, for `$context.authorizer.*`: never the token.
fn allowed(admin: &Admin) -> AuthorizerResponse {
    let mut context = Map::new();
    context.insert("sub".into(), admin.subject.clone().into());
    context.insert("role".into(), admin.role.clone().into());
    if let Some(agent_id) = &admin.agent_id {
        context.insert("agent_id".into(), agent_id.clone().into());
    }
    response(true, context)
}

fn refused() -> AuthorizerResponse {
    response(false, Map::new())
}

fn response(is_authorized: bool, context: Map<String, Value>) -> AuthorizerResponse {
    // The type is non-exhaustive: built from its default, not a literal.
    let mut response = AuthorizerResponse::default();
    response.is_authorized = is_authorized;
    response.context = Value::Object(context);
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::auth::{sign_token, AdminPolicy};
    use crate::logging::captured::Captured;
    use crate::secrets::Secret;

    /// An HTTP API authorizer event (payload 2.0) as API Gateway sends it,
    /// with `{{TOKEN}}` where the bearer token goes.
    const FIXTURE: &str =
        include_str!("../../../../tests/fixtures/admin-authorizer-v2-request.json");
    const SECRET: &str = "an-admin-secret-of-more-than-32-bytes";
    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn verifier() -> AdminVerifier {
        AdminVerifier::new(&Secret::new(SECRET), AdminPolicy::default()).unwrap()
    }

    fn token(changes: Value) -> String {
        let mut claims =
            json!({ "sub": "alice", "role": "super_admin", "iat": NOW - 60, "exp": NOW + 300 });
        if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
            claims.extend(changes);
        }
        sign_token(&Secret::new(SECRET), &claims).unwrap()
    }

    /// The fixture as JSON with `token` in the header and the identity
    /// source.
    fn event_json(token: &str) -> Value {
        serde_json::from_str(&FIXTURE.replace("{{TOKEN}}", token)).unwrap()
    }

    fn event(json: Value) -> AuthorizerRequest {
        serde_json::from_value(json).unwrap()
    }

    /// The response as API Gateway reads it.
    fn answer(event: &AuthorizerRequest) -> Value {
        serde_json::to_value(authorize(&verifier(), event, now())).unwrap()
    }

    fn refusal() -> Value {
        json!({ "isAuthorized": false, "context": {} })
    }

    #[test]
    fn the_fixture_is_an_authorizer_event_with_lower_case_headers() {
        let event = event(event_json("t"));
        assert_eq!(event.version.as_deref(), Some("2.0"));
        assert_eq!(event.headers["authorization"], "Bearer t");
        assert_eq!(event.identity_source, Some(vec!["Bearer t".to_owned()]));
    }

    #[test]
    fn a_good_token_is_authorized_with_who_it_is() {
        assert_eq!(
            answer(&event(event_json(&token(json!({}))))),
            json!({
                "isAuthorized": true,
                "context": { "sub": "alice", "role": "super_admin" },
            })
        );
        let agent = token(json!({ "agent_id": "agent-7", "maturity": "AUTONOMOUS" }));
        assert_eq!(
            answer(&event(event_json(&agent))),
            json!({
                "isAuthorized": true,
                "context": { "sub": "alice", "role": "super_admin", "agent_id": "agent-7" },
            })
        );
    }

    #[test]
    fn no_header_and_no_identity_source_is_refused() {
        let mut json = event_json(&token(json!({})));
        json["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        json.as_object_mut().unwrap().remove("identitySource");
        assert_eq!(answer(&event(json)), refusal());
    }

    #[test]
    fn without_the_header_the_identity_source_is_read() {
        let mut json = event_json(&token(json!({})));
        json["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        assert_eq!(answer(&event(json))["isAuthorized"], true);
    }

    #[test]
    fn the_header_wins_over_the_identity_source() {
        let mut json = event_json(&token(json!({ "role": "member" })));
        json["identitySource"] = json!([format!("Bearer {}", token(json!({})))]);
        assert_eq!(answer(&event(json)), refusal());
    }

    #[test]
    fn a_header_name_in_another_case_is_found() {
        let mut json = event_json("x");
        let headers = json["headers"].as_object_mut().unwrap();
        headers.remove("authorization");
        headers.insert(
            "Authorization".into(),
            format!("Bearer {}", token(json!({}))).into(),
        );
        json.as_object_mut().unwrap().remove("identitySource");
        assert_eq!(answer(&event(json))["isAuthorized"], true);
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let foreign = sign_token(
            &Secret::new("another-deployment-secret-0123456789"),
            &json!({ "sub": "alice", "role": "super_admin", "iat": NOW - 60, "exp": NOW + 300 }),
        )
        .unwrap();
        assert_eq!(answer(&event(event_json(&foreign))), refusal());
    }

    #[test]
    fn a_member_is_refused() {
        let member = token(json!({ "role": "member" }));
        assert_eq!(answer(&event(event_json(&member))), refusal());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let expired = token(json!({ "exp": NOW - 3600 }));
        assert_eq!(answer(&event(event_json(&expired))), refusal());
    }

    #[test]
    fn a_token_the_policy_refuses_is_refused() {
        let verifier = AdminVerifier::new(
            &Secret::new(SECRET),
            AdminPolicy::new(
                Some("https://issuer.example".into()),
                None,
                Duration::from_secs(60),
            ),
        )
        .unwrap();
        let event = event(event_json(&token(json!({}))));
        let response = serde_json::to_value(authorize(&verifier, &event, now())).unwrap();
        assert_eq!(response, refusal());
    }

    #[test]
    fn garbage_is_refused() {
        for header in ["Basic abc", "Bearer not.a.jwt", "Bearer", ""] {
            let mut json = event_json("x");
            json["headers"]["authorization"] = header.into();
            assert_eq!(answer(&event(json)), refusal(), "{header}");
        }
    }

    #[test]
    fn the_token_is_neither_in_the_context_nor_in_the_log() {
        let good = token(json!({}));
        let member = token(json!({ "role": "member" }));
        let expired = token(json!({ "exp": NOW - 3600 }));
        // The process-wide subscriber (no other test installs one): a
        // thread's own is not dependable while other tests reach the same
        // log line with none. Other tests' lines land here too; this test's
        // events carry a route of their own to tell them apart.
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        tracing::callsite::rebuild_interest_cache();
        const ROUTE: &str = "GET /log-test";

        let mut answers = String::new();
        for token in [&good, &member, &expired] {
            let mut json = event_json(token);
            json["routeKey"] = ROUTE.into();
            answers +=
                &serde_json::to_string(&authorize(&verifier(), &event(json), now())).unwrap();
        }
        let log = captured.text();

        let ours = log.lines().filter(|line| line.contains(ROUTE)).count();
        assert_eq!(ours, 2, "one line per refusal: {log}");
        assert!(log.contains("role \\\"member\\\" may not use"), "{log}");
        assert!(log.contains("the token has expired"), "{log}");
        for token in [&good, &member, &expired] {
            for segment in token.split('.') {
                assert!(!log.contains(segment), "{segment} in {log}");
                assert!(!answers.contains(segment), "{segment} in {answers}");
            }
        }
        assert!(!log.contains(SECRET) && !answers.contains(SECRET));
    }
}
