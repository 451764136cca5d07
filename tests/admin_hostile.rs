//! The admin handlers against 200 requests built to break them: a catalogue
//! of ways to break each part of a request (the Authorization header, the
//! method, the retry's id, the query string, the body), drawn with a fixed
//! seed, one or two at a time, on valid requests of every endpoint. Each
//! answer is the status of the first part the handlers check, never a 5xx,
//! and nothing changes.
//!
//! The request builder and the generator are `tests/support/hostile.rs`.
//! Every answer is also recorded for `tests/checks/test_openapi.py`.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use integration_tests::admin::*;
use integration_tests::hostile::*;
use integration_tests::*;
use lambda_http::http::Method;
use serde_json::json;
use shared::config::Secret;

/// Every way to break a request, each applied to a valid request of one
/// of its endpoints, in the order the 200 cases take them.
fn hostile_mutations() -> Vec<Mutation> {
    [
        authorization_mutations(),
        method_mutations(),
        path_mutations(),
        query_mutations(),
        body_mutations(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[tokio::test]
async fn two_hundred_malformed_admin_requests_never_get_a_5xx_and_change_nothing() {
    let admin = Admin::new().await;
    // Something for each endpoint to change: two parked failures, synced
    // ratings and a backlog.
    admin.env.put(&admin.env.ratings(4, 2)).await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.put(&admin.env.ratings(8, 0)[4..]).await;
    let dead_ids: Vec<String> = admin
        .env
        .dead_letters()
        .await
        .iter()
        .map(|item| text(item, "id"))
        .collect();
    assert_eq!(dead_ids.len(), 2);
    assert_eq!(admin.env.pending_ids().await.len(), 4);
    let before = admin.snapshot().await;
    let requests_before = admin.env.stats().await["requests_total"].clone();

    let mutations = hostile_mutations();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut statuses = BTreeMap::<u16, usize>::new();
    const CASES: usize = 200;
    for case in 0..CASES {
        let first = &mutations[case % mutations.len()];
        let endpoint = rng.pick(first.endpoints);
        let mut request = Hostile::valid(endpoint, &dead_ids, &mut rng);
        let mut applied = vec![first];
        // One in three breaks a second part as well.
        if rng.one_in(3) {
            let others: Vec<&Mutation> = mutations
                .iter()
                .filter(|m| m.part != first.part && m.endpoints.contains(&endpoint))
                .collect();
            applied.push(rng.pick(&others));
        }
        for mutation in &applied {
            (mutation.apply)(&mut request, &mut rng);
            request.applied.push(mutation.name);
        }
        let expected = applied
            .iter()
            .min_by_key(|m| m.part.checked_at())
            .unwrap()
            .status;
        let what = format!("case {case}: {}", request.describe());
        // Shown if the handler panics.
        println!("{what}");

        let answer = admin.call_request(endpoint, request.build()).await;

        assert!(
            (400..500).contains(&answer.status),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert_eq!(answer.status, expected, "{what}: {}", answer.body);
        let codes: &[&str] = match answer.status {
            401 => &["UNAUTHORIZED"],
            403 => &["PERMISSION_DENIED"],
            405 => &["METHOD_NOT_ALLOWED"],
            _ => &[
                "VALIDATION_ERROR",
                "INVALID_JSON",
                "PAYLOAD_TOO_LARGE",
                "INVALID_CURSOR",
            ],
        };
        assert!(codes.contains(&answer.code()), "{what}: {}", answer.body);
        answer.assert_error(answer.status, answer.code());
        *statuses.entry(answer.status).or_default() += 1;
    }

    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [400, 401, 403, 405],
        "every kind of refusal was seen: {statuses:?}"
    );
    assert_eq!(admin.snapshot().await, before, "nothing changed");
    assert_eq!(
        admin.env.stats().await["requests_total"],
        requests_before,
        "the marketplace heard nothing"
    );
    assert_eq!(admin.audit().await.len(), CASES, "each request is recorded");
}

/// The Authorization header: missing, mangled, another scheme, another
/// deployment's, or a valid token without the right (401 or 403).
fn authorization_mutations() -> Vec<Mutation> {
    vec![
        unauthorized("no Authorization header", |r, _| r.authorization = None),
        unauthorized("the token with junk after it", |r, rng| {
            let junk = rng.pick(&["x", "=", ".", "..", "%00", "\\0", "~", "%2e", "'"]);
            r.bearer(format!("Bearer {}{junk}", admin_token()));
        }),
        unauthorized("the token, a space and more", |r, rng| {
            let token = admin_token();
            let more = rng
                .pick(&["x", "Bearer", "and-more", token.as_str()])
                .to_string();
            r.bearer(format!("Bearer {token} {more}"));
        }),
        unauthorized("a fourth segment", |r, rng| {
            let extra = rng.pick(&["", "e30", "x"]);
            r.bearer(format!("Bearer {}.{extra}", admin_token()));
        }),
        unauthorized("non-ASCII bytes in the token", |r, rng| {
            let mut value = format!("Bearer {}", admin_token()).into_bytes();
            let at = "Bearer ".len() + rng.below(value.len() - "Bearer ".len());
            let bytes: &[u8] = rng.pick(&[&b"\xff"[..], b"\xc3\xa9", b"\x80", b"\xe2\x80\xae"]);
            value.splice(at..at, bytes.iter().copied());
            r.authorization = Some(value);
        }),
        unauthorized("non-ASCII bytes alone", |r, rng| {
            let value: &[u8] = rng.pick(&[
                &b"Bearer \xff\xfe\xfd"[..],
                b"\xc3\xa9",
                b"Bearer \x80.\x80.\x80",
            ]);
            r.authorization = Some(value.to_vec());
        }),
        unauthorized("a 10 KB token", |r, rng| {
            let value = match rng.below(3) {
                0 => format!("Bearer {}", segment(10 * 1024, rng)),
                1 => format!(
                    "Bearer {}.{}.{}",
                    segment(3400, rng),
                    segment(3400, rng),
                    segment(3400, rng)
                ),
                _ => format!("Bearer {}{}", admin_token(), segment(10 * 1024, rng)),
            };
            r.bearer(value);
        }),
        unauthorized("Bearer alone", |r, _| r.bearer("Bearer".into())),
        unauthorized("Bearer and many spaces", |r, rng| {
            r.bearer(format!("Bearer{}", " ".repeat(1 + rng.below(4000))));
        }),
        unauthorized("spaces or nothing", |r, rng| {
            r.bearer(" ".repeat(rng.below(4000)));
        }),
        unauthorized("another scheme", |r, rng| {
            let token = admin_token();
            let scheme = rng.pick(&[
                "Basic ", "Token ", "Bearer: ", "JWT ", "Bearer-", "Bearer\t", "",
            ]);
            r.bearer(format!("{scheme}{token}"));
        }),
        unauthorized(
            "two tokens, joined as API Gateway joins repeated headers",
            |r, rng| {
                let separator = rng.pick(&[",", ", "]);
                r.bearer(format!(
                    "Bearer {}{separator}Bearer {}",
                    admin_token(),
                    admin_token()
                ));
            },
        ),
        unauthorized("a changed signature", |r, rng| {
            let token = admin_token();
            let (signed, signature) = token.rsplit_once('.').unwrap();
            let mut signature: Vec<char> = signature.chars().collect();
            let at = rng.below(signature.len() - 2);
            signature[at] = if signature[at] == 'A' { 'B' } else { 'A' };
            let signature: String = signature.into_iter().collect();
            r.bearer(format!("Bearer {signed}.{signature}"));
        }),
        unauthorized("another token's claims under this signature", |r, _| {
            let token = admin_token();
            let other = token_with(json!({ "sub": "intruder@example.com" }));
            let mut parts: Vec<&str> = token.split('.').collect();
            parts[1] = other.split('.').nth(1).unwrap();
            r.bearer(format!("Bearer {}", parts.join(".")));
        }),
        unauthorized("an unsigned token", |r, _| {
            r.bearer(format!("Bearer {}", unsigned_token()));
        }),
        unauthorized("an expired token", |r, _| {
            let expired = token_with(json!({ "exp": now_seconds() - 3600 }));
            r.bearer(format!("Bearer {expired}"));
        }),
        unauthorized("a token of another deployment", |r, _| {
            let foreign = shared::auth::sign_token(
                &Secret::new("another-deployment-secret-0123456789"),
                &claims(json!({})),
            )
            .unwrap();
            r.bearer(format!("Bearer {foreign}"));
        }),
        Mutation {
            name: "a valid token without the right",
            part: Part::Authorization,
            status: 403,
            endpoints: EVERY_ENDPOINT,
            apply: |r, rng| {
                let denied = [
                    json!({ "role": "member" }),
                    json!({ "role": "SUPER_ADMIN" }),
                    json!({ "agent_id": "agent-7", "maturity": "SUPERVISED" }),
                ];
                let changes = denied[rng.below(denied.len())].clone();
                r.bearer(format!("Bearer {}", token_with(changes)));
            },
        },
    ]
}

/// The method: one the endpoint does not answer (405).
fn method_mutations() -> Vec<Mutation> {
    vec![Mutation {
        name: "a method the endpoint does not answer",
        part: Part::Method,
        status: 405,
        endpoints: EVERY_ENDPOINT,
        apply: |r, rng| {
            let long = format!("X-{}", "M".repeat(100));
            let methods = [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
                Method::HEAD,
                Method::OPTIONS,
                Method::TRACE,
                Method::from_bytes(b"get").unwrap(),
                Method::from_bytes(b"post").unwrap(),
                Method::from_bytes(b"PURGE").unwrap(),
                Method::from_bytes(long.as_bytes()).unwrap(),
            ];
            let right = r.endpoint.route().0;
            let wrong: Vec<&Method> = methods.iter().filter(|m| **m != right).collect();
            r.method = rng.pick(&wrong).clone();
        },
    }]
}

/// The retry's id, in the path or as API Gateway routes it (400).
fn path_mutations() -> Vec<Mutation> {
    vec![
        bad_path("a routed id that climbs", |r, rng| {
            let id = rng.pick(&["..", "../x", "../../etc/passwd", "a/../b", "./x", "."]);
            r.retry_id(id, true);
        }),
        bad_path("dots in the path", |r, rng| {
            let raw = rng.pick(&["..", ".", "../x", "%2e%2e", "..%2F..%2Fx", ".%2E", "...."]);
            r.raw_retry_id(raw);
        }),
        bad_path("an id of 257 to 300 characters", |r, rng| {
            let id = match rng.below(3) {
                0 => "r".repeat(300),
                1 => "r".repeat(257),
                _ => "é".repeat(300),
            };
            let routed = rng.one_in(2);
            r.retry_id(&id, routed);
        }),
        bad_path("an encoded slash", |r, rng| {
            if rng.one_in(2) {
                r.retry_id("a/b", true);
            } else {
                r.raw_retry_id(rng.pick(&["a%2Fb", "%2F", "%2f..%2f", "%5C"]));
            }
        }),
        bad_path("a unicode id", |r, rng| {
            if rng.one_in(3) {
                r.raw_retry_id(rng.pick(&["%C3%A9", "%F0%9F%99%82", "%E2%80%AE"]));
            } else {
                let id = rng.pick(&[
                    "é",
                    "日本語",
                    "🙂",
                    "r\u{202e}1",
                    "ｒａｔｉｎｇ",
                    "r\u{0}1",
                    "r\u{200b}1",
                ]);
                r.retry_id(id, true);
            }
        }),
        bad_path("an empty or blank id", |r, rng| {
            if rng.one_in(3) {
                r.raw_retry_id("");
            } else {
                let id = rng.pick(&["", " ", "\t", "\r\n", "%20"]);
                r.retry_id(id, true);
            }
        }),
        bad_path("an id with separators", |r, rng| {
            let id = rng.pick(&[
                "a b", "a;b", "a,b", "a?b", "a#b", "a&b=c", "*", "r'1", "r\"1", "<script>", "a%b",
            ]);
            r.retry_id(id, true);
        }),
        bad_path("no id in the path", |r, rng| {
            r.path = rng
                .pick(&[
                    "/api/admin/ratings/failed-uploads",
                    "/api/admin/ratings/failed-uploads/retry",
                    "/",
                    "/api/admin/ratings/failed-uploads/a/b/retry",
                    "/api/admin/ratings/failed-uploads/r1/retry/more",
                ])
                .to_string();
            r.routed_id = None;
        }),
    ]
}

/// The query string (400).
fn query_mutations() -> Vec<Mutation> {
    vec![
        bad_query("an unknown parameter", |r, rng| {
            let long = format!("{}=1", "a".repeat(3000));
            let bad = rng.pick(&[
                "page=2",
                "upload_all=true",
                "LIMIT=5",
                "limit%5B%5D=5",
                "=",
                "x",
                "%00=1",
                "limit+=5",
                "callback=alert(1)",
                long.as_str(),
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a repeated parameter", |r, rng| {
            let bad = rng.pick(&[
                "limit=5&limit=5",
                "status=dead&status=dead",
                "cursor=a&cursor=a",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("percent-encoding garbage", |r, rng| {
            let bad = rng.pick(&[
                "limit=%",
                "limit=%ZZ",
                "limit=%FF",
                "%=%",
                "status=dead%00",
                "limit=5%00",
                "status=%64%65%61%64%",
                "%%%%",
                "limit=%2B%2D5",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("an enormous limit", |r, rng| {
            let long = format!("limit={}", "9".repeat(5000));
            let bad = rng.pick(&[
                "limit=1e30",
                "limit=1000000000000000000000000000000",
                "limit=18446744073709551616",
                "limit=18446744073709551615",
                "limit=Infinity",
                "limit=NaN",
                "limit=0x10",
                "limit=5.0",
                "limit=1_0",
                long.as_str(),
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a negative or zero limit", |r, rng| {
            let bad = rng.pick(&[
                "limit=-1",
                "limit=-0",
                "limit=-9223372036854775808",
                "limit=%2D5",
                "limit=0",
                "limit=-",
                "limit=",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a bad cursor", |r, rng| {
            let shaped = URL_SAFE_NO_PAD.encode(json!({ "s": null, "p": {} }).to_string());
            let tag = URL_SAFE_NO_PAD.encode([7u8; 32]);
            let deep = URL_SAFE_NO_PAD.encode(format!("{}{}", "[".repeat(500), "]".repeat(500)));
            let bad = match rng.below(10) {
                0 => "cursor=".to_owned(),
                1 => "cursor=garbage".to_owned(),
                2 => "cursor=a.b".to_owned(),
                3 => "cursor=..".to_owned(),
                4 => format!("cursor={}", "A".repeat(3000)),
                5 => "cursor=%FF%FE".to_owned(),
                6 => format!("cursor={shaped}"),
                7 => format!("cursor={shaped}.{tag}"),
                8 => format!("cursor={deep}.{tag}"),
                _ => "cursor=%00".to_owned(),
            };
            r.query(bad, rng);
        }),
        bad_query("a status that is not one", |r, rng| {
            let bad = rng.pick(&[
                "status=DEAD",
                "status=",
                "status=dead%20",
                "status=parked",
                "status=retrying,dead",
                "status%5B%5D=dead",
            ]);
            r.query(bad.to_string(), rng);
        }),
    ]
}

/// The body (400).
fn body_mutations() -> Vec<Mutation> {
    vec![
        bad_body("invalid JSON", |r, rng| {
            let bad = rng.pick(&[
                "{",
                "}",
                r#"{"upload_all": tru"#,
                "upload_all=true",
                "{'upload_all': true}",
                r#"{"upload_all": true,}"#,
                r#"{"upload_all": true}}"#,
                "nul",
                "\"",
                r#"{"upload_all" true}"#,
                "/* */{}",
                r#"{"upload_all": True}"#,
                "{upload_all: true}",
                r#"{"upload_all": true} {}"#,
                "[",
                "NaN",
            ]);
            r.body(bad);
        }),
        bad_body("10,000 levels of nesting", |r, rng| {
            let bad = match rng.below(3) {
                0 => "[".repeat(10_000),
                1 => format!("{}{}", "[".repeat(8000), "]".repeat(8000)),
                _ => format!(r#"{{"upload_all": {}"#, "[".repeat(10_000)),
            };
            r.body(&bad);
        }),
        bad_body("nested objects", |r, _| {
            r.body(&r#"{"a":"#.repeat(3000));
        }),
        bad_body("a huge string", |r, rng| {
            let len = rng.pick(&[10_000, 16_360, 16_384, 100_000, 1_000_000]);
            let text = "x".repeat(len);
            let bad = if rng.one_in(2) {
                format!(r#"{{"upload_all": "{text}"}}"#)
            } else {
                format!(r#"{{"{text}": true}}"#)
            };
            r.body(&bad);
        }),
        bad_body("a huge number", |r, rng| {
            let digits = "1".repeat(5000);
            let bad = match rng.below(3) {
                0 => r#"{"upload_all": 1e999999}"#.to_owned(),
                1 => format!(r#"{{"upload_all": {digits}}}"#),
                _ => r#"{"upload_all": -1e-99999}"#.to_owned(),
            };
            r.body(&bad);
        }),
        bad_body("a wrong type", |r, rng| {
            let bad = rng.pick(&[
                "[]",
                r#""upload_all""#,
                "true",
                "null",
                "42",
                r#"[{"upload_all": true}]"#,
                r#"{"upload_all": "true"}"#,
                r#"{"upload_all": 1}"#,
                r#"{"upload_all": null}"#,
                r#"{"upload_all": {}}"#,
                r#"{"upload_all": [true]}"#,
                r#"{"upload_all": 0}"#,
            ]);
            r.body(bad);
        }),
        bad_body("an unknown field", |r, rng| {
            let bad = rng.pick(&[
                r#"{"upload_all": true, "force": true}"#,
                r#"{"__proto__": {"upload_all": true}}"#,
                r#"{"": 1}"#,
                r#"{"upload_all\u0000": true}"#,
                r#"{"UPLOAD_ALL": true}"#,
                r#"{"upload_all ": true}"#,
                r#"{"id": "x"}"#,
            ]);
            r.body(bad);
        }),
        bad_body("NUL bytes", |r, rng| {
            let bad: &[u8] = rng.pick(&[
                &b"\0"[..],
                b"{\"upload_all\": true}\0",
                b"\0{}",
                b"{\"upload_all\": \"\0\"}",
                b"{\0}",
                b"{}\0\0\0",
            ]);
            r.body = bad.to_vec();
        }),
        bad_body("bytes that are not UTF-8", |r, rng| {
            let bad: &[u8] = rng.pick(&[
                &b"{\"upload_all\": \"\xff\"}"[..],
                b"\xff\xfe{\0}\0",
                b"\xef\xbb\xbf{}",
                b"{\"\xc3\x28\": true}",
                b"{\"upload_all\": \xc0\x80}",
                b"\x80",
                b"{}\xff",
            ]);
            r.body = bad.to_vec();
        }),
        bad_body("whitespace JSON does not know", |r, rng| {
            r.body(rng.pick(&["\u{a0}", "\u{feff}{}", "{}\u{2028}", "\u{3000}", "\x0b{}"]));
        }),
    ]
}
