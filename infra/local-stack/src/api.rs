//! The admin API on loopback, as API Gateway serves it: the four routes of
//! `template.yaml`'s `AdminHttpApi`, the Lambda authorizer in front of
//! them, and behind each route the handler its function runs, called
//! in-process with the state a function builds ([`SyncApi`]).
//!
//! What API Gateway does and this does too:
//! - a route is a method and a path; anything else is 404
//!   `{"message":"Not Found"}`, the function never called;
//! - no `Authorization` header, or a blank one (the authorizer's identity
//!   source), is 401
//!   `{"message":"Unauthorized"}`, a token the authorizer refuses 403
//!   `{"message":"Forbidden"}`, neither reaching a function;
//! - `{id}` of the retry route is a path parameter; the caller's address
//!   is `requestContext.http.sourceIp`;
//! - a function's time is its timeout (29 s), which the sync's deadline
//!   is counted from.
//!
//! What it does not: TLS, HTTP/2, keep-alive (one request per connection,
//! answered with `Connection: close`), chunked request bodies (411), the
//! authorizer's cache. Everything read is bounded: a request head of at most
//! [`MAX_HEAD_BYTES`], a body of at most [`MAX_BODY_BYTES`] (413 beyond,
//! as API Gateway's own limit), the whole request within
//! [`READ_TIMEOUT`]. The head is parsed by `httparse`, hyper's parser;
//! hyper's own server would have rebuilt the AWS SDK's HTTP stack with
//! another feature set for this one local tool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{self, HeaderMap, HeaderValue, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use shared::secrets::Rotating;
use shared::triggers::http::admin_authorizer::{authorize, AuthorizerRequest};
use shared::triggers::http::{
    admin_list_failed_uploads, admin_retry_failed_upload, admin_sync_ratings, admin_sync_status,
    AdminKeys, AdminState, Request, Response, SyncApi,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest request head read: request line and headers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The longest body read (API Gateway's HTTP API takes 10 MB; the
/// functions refuse more than 16 KiB themselves, with a 400).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most headers a request may have.
pub const MAX_HEADERS: usize = 64;
/// The whole request must arrive within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The admin functions' timeout in `template.yaml`, the time each request
/// gets.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(29);

/// The four routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/admin/sync/ratings`.
    Sync,
    /// `GET /api/admin/ratings/failed-uploads`.
    ListFailed,
    /// `POST /api/admin/ratings/failed-uploads/{id}/retry`.
    Retry {
        /// The `{id}` segment as sent.
        id: String,
    },
    /// `GET /api/admin/sync/ratings/status`.
    Status,
}

impl Route {
    /// The route `method` and `path` (without the query) name, as API
    /// Gateway matches them: exactly, one segment for `{id}`.
    pub fn find(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["", "api", "admin", "sync", "ratings"]) => Some(Self::Sync),
            ("GET", ["", "api", "admin", "ratings", "failed-uploads"]) => Some(Self::ListFailed),
            ("POST", ["", "api", "admin", "ratings", "failed-uploads", id, "retry"])
                if !id.is_empty() =>
            {
                Some(Self::Retry {
                    id: (*id).to_owned(),
                })
            }
            ("GET", ["", "api", "admin", "sync", "ratings", "status"]) => Some(Self::Status),
            _ => None,
        }
    }

    /// The route key API Gateway gives the authorizer.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Sync => "POST /api/admin/sync/ratings",
            Self::ListFailed => "GET /api/admin/ratings/failed-uploads",
            Self::Retry { .. } => "POST /api/admin/ratings/failed-uploads/{id}/retry",
            Self::Status => "GET /api/admin/sync/ratings/status",
        }
    }
}

/// What the API serves with: the state of the functions that upload
/// (whose admin context the two that only read use as well) and the
/// authorizer's keys.
pub struct AdminApi {
    api: SyncApi,
    keys: Rotating<AdminKeys>,
}

impl AdminApi {
    /// The API over `api`, with an authorizer checking tokens with `keys`.
    pub fn new(api: SyncApi, keys: Rotating<AdminKeys>) -> Self {
        Self { api, keys }
    }

    /// The answer to one request from `peer`, as API Gateway and the route's
    /// function give it.
    pub async fn answer(&self, request: Request, peer: SocketAddr) -> Response {
        let Some(route) = Route::find(request.method(), request.uri().path()) else {
            return gateway_answer(http::StatusCode::NOT_FOUND, "Not Found");
        };
        // A blank identity source counts as none, as API Gateway has it.
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .filter(|value| !value.as_bytes().iter().all(u8::is_ascii_whitespace))
            .cloned();
        let Some(header) = header else {
            return gateway_answer(http::StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        if !self
            .authorizer_allows(&route, request.headers(), &header)
            .await
        {
            return gateway_answer(http::StatusCode::FORBIDDEN, "Forbidden");
        }
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(route.key().to_owned());
        context.http.method = request.method().clone();
        context.http.path = Some(request.uri().path().to_owned());
        context.http.source_ip = Some(peer.ip().to_string());
        let mut request = request.with_request_context(RequestContext::ApiGatewayV2(context));
        let deadline = SystemTime::now() + FUNCTION_TIMEOUT;
        let (api, admin) = (&self.api, self.api.admin());
        match route {
            Route::Sync => admin_sync_ratings::handle(api, request, deadline).await,
            Route::ListFailed => admin_list_failed_uploads::handle(admin, request).await,
            Route::Retry { id } => {
                request = request.with_path_parameters(
                    [("id".to_owned(), id)]
                        .into_iter()
                        .collect::<std::collections::HashMap<_, _>>(),
                );
                admin_retry_failed_upload::handle(api, request, deadline).await
            }
            Route::Status => admin_sync_status::handle(admin, request).await,
        }
    }

    /// The authorizer function's answer, from the event API Gateway would
    /// send it.
    async fn authorizer_allows(
        &self,
        route: &Route,
        headers: &HeaderMap,
        header: &HeaderValue,
    ) -> bool {
        let mut event = AuthorizerRequest::default();
        event.version = Some("2.0".into());
        event.type_ = Some("REQUEST".into());
        event.route_key = Some(route.key().to_owned());
        event.headers = headers.clone();
        event.identity_source = header.to_str().ok().map(|value| vec![value.to_owned()]);
        let keys = self.keys.current().await;
        authorize(&keys.verifier, &event, SystemTime::now()).is_authorized
    }
}

/// API Gateway's own answers: `{"message": ...}`.
fn gateway_answer(status: http::StatusCode, message: &str) -> Response {
    shared::triggers::http::json_response(status, &json!({ "message": message }))
}

/// A server answering on a listener until dropped.
pub struct ApiServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl ApiServer {
    /// Serves `api` on `listener`, each connection in its own task.
    pub fn start(listener: TcpListener, api: AdminApi) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let api = Arc::new(api);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let api = Arc::clone(&api);
                tokio::spawn(async move { serve_connection(&api, stream, peer).await });
            }
        });
        Ok(Self { address, task })
    }

    /// The API's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request, one answer, then the connection is closed.
async fn serve_connection(api: &AdminApi, mut stream: TcpStream, peer: SocketAddr) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(request)) => api.answer(request, peer).await,
        Ok(Err(refusal)) => refusal,
        Err(_) => gateway_answer(http::StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
    };
    let bytes = encode_response(&response);
    // The client may have gone; nothing to tell it then.
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// Reads one request: a head of at most [`MAX_HEAD_BYTES`], then a body
/// of `Content-Length` bytes, at most [`MAX_BODY_BYTES`]. A refusal is the
/// answer to send.
async fn read_request(stream: &mut TcpStream) -> Result<Request, Response> {
    let bad = |message: &str| gateway_answer(http::StatusCode::BAD_REQUEST, message);
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let too_large = || {
        gateway_answer(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        )
    };
    let head_end = loop {
        match find_head_end(&buffer) {
            Some(at) if at > MAX_HEAD_BYTES => return Err(too_large()),
            Some(at) => break at,
            None if buffer.len() > MAX_HEAD_BYTES => return Err(too_large()),
            None => {}
        }
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| bad("Bad Request"))?;
        if read == 0 {
            return Err(bad("Bad Request"));
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buffer.get(..head_end).unwrap_or_default()) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad("Bad Request")),
    }
    let mut builder = http::Request::builder()
        .method(parsed.method.unwrap_or_default())
        .uri(parsed.path.unwrap_or_default());
    let mut content_length: usize = 0;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(gateway_answer(
                http::StatusCode::LENGTH_REQUIRED,
                "Length Required",
            ));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or_else(|| bad("Bad Request"))?;
        }
        builder = builder.header(header.name, header.value);
    }
    if content_length > MAX_BODY_BYTES {
        return Err(gateway_answer(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
        ));
    }
    let mut body = buffer.split_off(head_end);
    if body.len() > content_length {
        return Err(bad("Bad Request"));
    }
    let mut rest = vec![0u8; content_length - body.len()];
    stream
        .read_exact(&mut rest)
        .await
        .map_err(|_| bad("Bad Request"))?;
    body.extend_from_slice(&rest);
    let body = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(bytes) => Body::Binary(bytes.into_bytes()),
    };
    builder.body(body).map_err(|_| bad("Bad Request"))
}

/// Where the head ends: just after its blank line.
fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The response as HTTP/1.1 bytes, with its length and `Connection: close`.
fn encode_response(response: &Response) -> Vec<u8> {
    let body: &[u8] = response.body().as_ref();
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_matched_as_api_gateway_matches_them() {
        assert_eq!(
            Route::find(&Method::POST, "/api/admin/sync/ratings"),
            Some(Route::Sync)
        );
        assert_eq!(
            Route::find(&Method::GET, "/api/admin/ratings/failed-uploads"),
            Some(Route::ListFailed)
        );
        assert_eq!(
            Route::find(&Method::POST, "/api/admin/ratings/failed-uploads/r-1/retry"),
            Some(Route::Retry { id: "r-1".into() })
        );
        assert_eq!(
            Route::find(&Method::GET, "/api/admin/sync/ratings/status"),
            Some(Route::Status)
        );
        for (method, path) in [
            (Method::GET, "/api/admin/sync/ratings"),
            (Method::POST, "/api/admin/sync/ratings/"),
            (Method::POST, "/api/admin/ratings/failed-uploads//retry"),
            (Method::POST, "/api/admin/ratings/failed-uploads/a/b/retry"),
            (Method::GET, "/"),
        ] {
            assert_eq!(Route::find(&method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn the_head_ends_after_its_blank_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
