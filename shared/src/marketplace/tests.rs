//! The client's reading of answers, good and hostile.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;
use reqwest::StatusCode;

use super::answer::*;
use super::wire::*;
use super::*;

#[test]
fn retry_after_of_any_size_sign_or_form_never_panics() {
    // 2015-10-21 07:28:00 UTC, the RFC's example date, and a minute before.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_420);
    let minute = Some(Duration::from_secs(60));
    // (header, wait)
    let table = [
        ("7", Some(Duration::from_secs(7))),
        (" 0 ", Some(Duration::ZERO)),
        ("18446744073709551615", Some(Duration::from_secs(u64::MAX))),
        ("99999999999999999999999999", Some(Duration::MAX)),
        ("Wed, 21 Oct 2015 07:28:00 GMT", minute),
        ("Wednesday, 21-Oct-15 07:28:00 GMT", minute),
        ("Wed Oct 21 07:28:00 2015", minute),
        ("Tue, 20 Oct 2015 07:28:00 GMT", Some(Duration::ZERO)),
        ("Thu, 01 Jan 1970 00:00:00 GMT", Some(Duration::ZERO)),
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            Some(Duration::from_secs(251_956_888_379)),
        ),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("+5", None),
        ("1.5", None),
        ("1e9", None),
        ("Wed, 99 Oct 2015", None),
        ("Wed, 21 Oct 2015 07:28:00 PST", None),
    ];
    for (header, wait) in table {
        assert_eq!(retry_after_at(header, now), wait, "{header:?}");
    }
    let in_a_minute = chrono::Utc::now() + chrono::Duration::seconds(60);
    let date = in_a_minute.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let wait = parse_retry_after(&date).expect("HTTP date");
    assert!((55..=60).contains(&wait.as_secs()), "{wait:?}");
}

#[test]
fn a_redirect_names_only_the_host_it_points_at() {
    let location = |text: &str| redirect_target(Some(&HeaderValue::from_str(text).unwrap()));
    assert_eq!(
        location("http://127.0.0.2:9/steal?token=x"),
        "host 127.0.0.2"
    );
    assert_eq!(location("/elsewhere"), "a path on the same host");
    assert_eq!(redirect_target(None), "no Location");
    let error = MarketplaceError::Redirected {
        status: 301,
        target: location("https://evil.example/x"),
    };
    assert!(error.stops_the_run() && !error.is_transient());
    assert!(
        error.to_string().contains("evil.example")
            && error.to_string().contains("ATOM_SAAS_API_URL"),
        "{error}"
    );
}

#[test]
fn success_bodies_give_the_id_under_either_name() {
    let ok = StatusCode::CREATED;
    assert_eq!(remote_id_from(ok, br#"{"id":"rr-1"}"#), Ok("rr-1".into()));
    assert_eq!(remote_id_from(ok, br#"{"rating_id":42}"#), Ok("42".into()));
    for unusable in [r#"{"id":"../x"}"#, r#"{"id":".."}"#, r#"{"id":""}"#] {
        assert!(
            matches!(
                remote_id_from(ok, unusable.as_bytes()),
                Err(MarketplaceError::InvalidResponse { status: 201, .. })
            ),
            "{unusable}"
        );
    }
    assert!(matches!(
        remote_id_from(ok, br#"{"other":1}"#),
        Err(MarketplaceError::InvalidResponse { status: 201, .. })
    ));
    assert!(matches!(
        remote_id_from(ok, b"<html>"),
        Err(MarketplaceError::InvalidResponse { .. })
    ));
}

#[test]
fn error_messages_come_from_the_body_and_stay_short() {
    assert_eq!(error_message(br#"{"error":"bad rating"}"#), "bad rating");
    assert_eq!(error_message(br#"{"message":"nope"}"#), "nope");
    assert_eq!(error_message(b"plain text"), "plain text");
    assert_eq!(error_message(b""), "(empty body)");
    assert!(error_message("x".repeat(1000).as_bytes()).chars().count() <= 301);
}

#[test]
fn every_status_is_classified_transient_or_permanent() {
    let wait = Some(Duration::from_secs(3));
    // (status, on update?, transient?, what it is)
    let table = [
        (400, false, false, "Rejected"),
        (401, false, false, "Unauthorized"),
        (403, false, false, "Unauthorized"),
        (404, false, false, "UnknownSkill"),
        (404, true, false, "RemoteRatingGone"),
        (408, false, true, "Timeout"),
        (409, false, false, "AlreadyRated"),
        (422, false, false, "Rejected"),
        (429, false, true, "RateLimited"),
        (500, false, true, "Server"),
        (502, false, true, "Server"),
        (503, false, true, "Server"),
        (504, false, true, "Server"),
    ];
    for (status, update, transient, kind) in table {
        let error = classify(
            StatusCode::from_u16(status).unwrap(),
            br#"{"error":"why","id":"rr-7"}"#,
            wait,
            "skill-1",
            update.then_some("rr-7"),
        );
        assert_eq!(error.is_transient(), transient, "{status}: {error:?}");
        assert!(
            format!("{error:?}").starts_with(kind),
            "{status}: {error:?}"
        );
    }
    assert_eq!(
        classify(StatusCode::TOO_MANY_REQUESTS, b"", wait, "s", None),
        MarketplaceError::RateLimited { retry_after: wait }
    );
    assert_eq!(
        classify(StatusCode::CONFLICT, br#"{"id":"rr-7"}"#, None, "s", None),
        MarketplaceError::AlreadyRated {
            existing_id: Some("rr-7".into())
        }
    );
}

#[test]
fn only_faults_that_may_pass_are_transient() {
    use MarketplaceError::*;
    let transient = [
        RateLimited { retry_after: None },
        Server {
            status: 503,
            message: String::new(),
        },
        Timeout,
        Connection("refused".into()),
    ];
    let permanent = [
        Rejected {
            status: 422,
            message: String::new(),
        },
        UnknownSkill {
            skill_id: "s".into(),
        },
        RemoteRatingGone {
            remote_id: "r".into(),
        },
        AlreadyRated { existing_id: None },
        Unauthorized { status: 401 },
        InvalidResponse {
            status: 200,
            message: String::new(),
        },
        Unsendable("builder error".into()),
    ];
    assert!(transient.iter().all(MarketplaceError::is_transient));
    assert!(!permanent.iter().any(MarketplaceError::is_transient));
}

#[tokio::test]
async fn a_request_the_client_cannot_build_is_a_permanent_failure_of_that_request() {
    let config = crate::config::MarketplaceConfig {
        // Nothing listens there; nothing is sent either.
        base_url: "http://127.0.0.1:9/api/".into(),
        api_token: crate::config::Secret::new("t"),
        instance_id: "i".into(),
        request_timeout: Duration::from_secs(1),
        token_refresh: Default::default(),
        max_skill_response_bytes: crate::config::DEFAULT_MAX_SKILL_RESPONSE_BYTES,
    };
    let client = MarketplaceClient::new(&config).unwrap();
    let upload = RatingUpload {
        skill_id: "s1",
        user_id: "u1",
        rating: 3,
        comment: None,
    };
    for key in ["create-r\u{1}-v1", "create-r\n1-v1", "create-r\u{7f}-v1"] {
        let error = client.create_rating(&upload, key).await.unwrap_err();
        assert!(
            matches!(error, MarketplaceError::Unsendable(_)),
            "{key:?}: {error:?}"
        );
        assert!(!error.is_transient() && !error.stops_the_run() && !error.is_answer());
        assert!(error
            .to_string()
            .starts_with("the request could not be built"));
    }
    let error = client
        .update_rating(&upload, "rr-1", "update-\u{0}")
        .await
        .unwrap_err();
    assert!(
        matches!(error, MarketplaceError::Unsendable(_)),
        "{error:?}"
    );
}

#[test]
fn dot_segments_would_change_the_path_which_is_why_ids_are_checked_first() {
    // What `url` does with the segments the id checks refuse.
    let mut url = Url::parse("http://m.example/api").unwrap();
    url.path_segments_mut()
        .unwrap()
        .extend(["skills", "..", "rate"]);
    assert_eq!(url.path(), "/api/skills/rate", "the skill id is gone");
    for id in ["..", ".\t.", "a/b", "."] {
        assert!(crate::rating::id_problem(id).is_some(), "{id:?}");
    }
}
