//! The verifier against tokens of every form, good and hostile.

use std::time::UNIX_EPOCH;

use super::jwt::{encode_signed, encode_signed_json, MAX_TOKEN_BYTES};
use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit};
use serde_json::{json, Value};
use sha2::Sha512;

const SECRET: &str = "local-admin-secret-for-tests";
const NOW: u64 = 1_700_000_000;

fn secret() -> Secret {
    Secret::new(SECRET)
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

/// A super_admin token's claims, issued a minute ago and valid for five
/// more, with `changes` written over them.
fn claims(changes: Value) -> Value {
    let mut claims =
        json!({ "sub": "alice", "role": "super_admin", "iat": NOW - 60, "exp": NOW + 300 });
    if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
        claims.extend(changes);
    }
    claims
}

fn claims_without(name: &str) -> Value {
    let mut claims = claims(json!({}));
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn token(claims: &Value) -> String {
    sign_token(&secret(), claims).unwrap()
}

fn token_with_header(header: Value, claims: &Value) -> String {
    encode_signed(
        HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap(),
        &header,
        claims,
    )
}

/// A token signed with the test secret from JSON text as given.
fn token_from_json(header: &str, claims: &str) -> String {
    encode_signed_json(
        HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap(),
        header,
        claims,
    )
}

fn authorize_header(header: &str) -> Result<Admin, AuthError> {
    AdminVerifier::new(&secret(), AdminPolicy::default())
        .unwrap()
        .authorize(Some(header), now())
}

fn authorize_token(token: &str) -> Result<Admin, AuthError> {
    authorize_header(&format!("Bearer {token}"))
}

fn authorize(claims: Value) -> Result<Admin, AuthError> {
    authorize_token(&token(&claims))
}

/// The three segments of `token`, to take apart and put back together.
fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn a_super_admin_token_is_accepted_and_says_who_it_is() {
    assert_eq!(
        authorize(claims(json!({}))),
        Ok(Admin {
            subject: "alice".into(),
            role: "super_admin".into(),
            agent_id: None,
            maturity: None,
        })
    );
    assert_eq!(
        authorize(claims_without("sub")),
        Err(AuthError::MissingSubject),
        "sub is required"
    );
}

#[test]
fn an_autonomous_agent_is_accepted_in_any_letter_case() {
    for maturity in ["AUTONOMOUS", "autonomous", "Autonomous"] {
        let admin = authorize(claims(
            json!({ "agent_id": "agent-7", "maturity": maturity }),
        ))
        .unwrap();
        assert_eq!(admin.agent_id.as_deref(), Some("agent-7"));
        assert_eq!(admin.maturity.as_deref(), Some(maturity));
    }
}

#[test]
fn maturity_matters_only_for_a_token_that_acts_for_an_agent() {
    let admin = authorize(claims(json!({ "maturity": "SUPERVISED" }))).unwrap();
    assert_eq!(admin.maturity.as_deref(), Some("SUPERVISED"));
}

#[test]
fn the_bearer_scheme_is_matched_ignoring_case() {
    let token = token(&claims(json!({})));
    for header in [
        format!("bearer {token}"),
        format!("BEARER {token}"),
        format!("  Bearer   {token} "),
    ] {
        assert!(authorize_header(&header).is_ok(), "{header}");
    }
}

#[test]
fn no_header_is_unauthorized() {
    let verifier = AdminVerifier::new(&secret(), AdminPolicy::default()).unwrap();
    assert_eq!(
        verifier.authorize(None, now()),
        Err(AuthError::MissingHeader)
    );
    assert_eq!(
        verifier.authorize(Some("  "), now()),
        Err(AuthError::MissingHeader)
    );
}

#[test]
fn a_header_that_is_not_bearer_is_unauthorized() {
    let token = token(&claims(json!({})));
    for header in [
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        token.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        assert_eq!(
            authorize_header(&header),
            Err(AuthError::NotBearer),
            "{header}"
        );
    }
}

#[test]
fn garbage_and_a_wrong_number_of_segments_are_malformed() {
    let token = token(&claims(json!({})));
    let [header, claims, signature] = <[String; 3]>::try_from(segments(&token)).unwrap();
    for garbage in [
        "not-a-jwt".to_owned(),
        "a.b.c".to_owned(),
        "...".to_owned(),
        format!("{header}.{claims}"),
        format!("{header}.{claims}.{signature}.{signature}"),
        format!("{header}..{claims}.{signature}"),
        format!("{token} {token}"),
        "x".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert!(
            matches!(authorize_token(&garbage), Err(AuthError::Malformed(_))),
            "{garbage:.40}: {:?}",
            authorize_token(&garbage)
        );
    }
}

#[test]
fn padding_or_characters_outside_base64url_are_malformed() {
    let token = token(&claims(json!({})));
    let [header, claims, signature] = <[String; 3]>::try_from(segments(&token)).unwrap();
    let standard_alphabet = |segment: &str| segment.replace('-', "+").replace('_', "/");
    for bad in [
        format!("{header}.{claims}.{signature}="),
        format!("{header}=.{claims}.{signature}"),
        format!(
            "{header}.{claims}.{}",
            base64::engine::general_purpose::URL_SAFE.encode([7u8; 32])
        ),
        format!("{header}.{claims}.{signature}!"),
        format!("{header}.{claims}.+/{signature}"),
        format!("{header}.{claims}.{}", standard_alphabet(&signature)),
    ] {
        if bad == token {
            continue; // the signature had no - or _ to swap
        }
        assert!(
            matches!(authorize_token(&bad), Err(AuthError::Malformed(_))),
            "{bad}: {:?}",
            authorize_token(&bad)
        );
    }
}

#[test]
fn a_header_or_claims_that_are_not_json_objects_are_malformed() {
    for (header, claims) in [
        (json!(["HS256"]), claims(json!({}))),
        (json!({ "alg": "HS256" }), json!("super_admin")),
        (json!({ "alg": "HS256" }), json!(null)),
    ] {
        let token = token_with_header(header, &claims);
        assert!(
            matches!(authorize_token(&token), Err(AuthError::Malformed(_))),
            "{claims}"
        );
    }
}

#[test]
fn a_token_signed_with_another_secret_is_unauthorized() {
    let token = sign_token(&Secret::new("someone-else's-secret"), &claims(json!({}))).unwrap();
    assert_eq!(authorize_token(&token), Err(AuthError::BadSignature));
}

#[test]
fn tampered_claims_break_the_signature() {
    let member = token(&claims(json!({ "role": "member" })));
    let mut parts = segments(&member);
    parts[1] = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    assert_eq!(
        authorize_token(&parts.join(".")),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn a_truncated_or_empty_signature_is_unauthorized() {
    let token = token(&claims(json!({})));
    let mut parts = segments(&token);
    let signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    for cut in [&signature[..16], &[][..]] {
        parts[2] = URL_SAFE_NO_PAD.encode(cut);
        assert_eq!(
            authorize_token(&parts.join(".")),
            Err(AuthError::BadSignature)
        );
    }
}

#[test]
fn only_hs256_is_accepted_and_none_least_of_all() {
    let claims = claims(json!({}));
    let mut unsigned = segments(&token_with_header(json!({ "alg": "none" }), &claims));
    unsigned[2].clear();
    assert_eq!(
        authorize_token(&unsigned.join(".")),
        Err(AuthError::UnsupportedAlgorithm)
    );

    let hs512 = encode_signed(
        Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap(),
        &json!({ "alg": "HS512", "typ": "JWT" }),
        &claims,
    );
    assert_eq!(
        authorize_token(&hs512),
        Err(AuthError::UnsupportedAlgorithm)
    );

    // Signed correctly with HS256, but claiming another algorithm.
    for header in [
        json!({ "alg": "none" }),
        json!({ "alg": "None" }),
        json!({ "alg": "hs256" }),
        json!({ "alg": "HS384" }),
        json!({ "alg": "HS512" }),
        json!({ "alg": "RS256" }),
        json!({ "alg": "ES256" }),
        json!({ "alg": ["HS256"] }),
        json!({ "alg": null }),
        json!({ "typ": "JWT" }),
    ] {
        let token = token_with_header(header.clone(), &claims);
        assert_eq!(
            authorize_token(&token),
            Err(AuthError::UnsupportedAlgorithm),
            "{header}"
        );
    }
}

#[test]
fn critical_header_extensions_are_refused() {
    let token = token_with_header(
        json!({ "alg": "HS256", "crit": ["exp"] }),
        &claims(json!({})),
    );
    assert!(matches!(
        authorize_token(&token),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn an_expired_token_is_unauthorized_after_the_leeway() {
    let leeway = CLOCK_LEEWAY.as_secs();
    assert_eq!(leeway, 30);
    assert!(authorize(claims(
        json!({ "exp": NOW - leeway + 1, "iat": NOW - 3600 })
    ))
    .is_ok());
    for exp in [json!(NOW - leeway), json!(NOW - 3600), json!(0), json!(-1)] {
        assert_eq!(
            authorize(claims(json!({ "exp": exp }))),
            Err(AuthError::Expired),
            "{exp}"
        );
    }
}

#[test]
fn exp_is_required_and_must_be_a_number() {
    assert_eq!(
        authorize(claims_without("exp")),
        Err(AuthError::MissingExpiry)
    );
    let in_a_minute = NOW + 60;
    for exp in [
        json!(in_a_minute.to_string()),
        json!(null),
        json!(true),
        json!([in_a_minute]),
    ] {
        assert!(
            matches!(
                authorize(claims(json!({ "exp": exp }))),
                Err(AuthError::Malformed(_))
            ),
            "{exp}"
        );
    }
    assert!(
        authorize(claims(json!({ "exp": NOW as f64 + 60.5 }))).is_ok(),
        "a NumericDate may have a fraction"
    );
}

/// The lifetime is `exp - iat`, however much of it is left: a token that
/// lives longer than the policy allows is refused on its first second and
/// on its last alike.
#[test]
fn iat_is_required_and_the_lifetime_exp_minus_iat_is_bounded() {
    let day = DEFAULT_MAX_TTL.as_secs();
    let leeway = CLOCK_LEEWAY.as_secs();
    let too_long = Err(AuthError::LifetimeTooLong {
        max_ttl_seconds: day,
    });
    assert_eq!(
        authorize(claims_without("iat")),
        Err(AuthError::MissingIssuedAt)
    );
    for iat in [json!(null), json!(NOW.to_string()), json!([NOW]), json!({})] {
        assert_eq!(
            authorize(claims(json!({ "iat": iat }))),
            Err(AuthError::Malformed("iat is not a number")),
            "{iat}"
        );
    }
    let thirty_days = 30 * day;
    let cases = [
        ("a day, issued now", NOW, NOW + day, Ok(())),
        ("a day and a second", NOW, NOW + day + 1, too_long.clone()),
        (
            "30 days, on its first day",
            NOW - 60,
            NOW - 60 + thirty_days,
            too_long.clone(),
        ),
        (
            "30 days, in its last hour",
            NOW + 3600 - thirty_days,
            NOW + 3600,
            too_long.clone(),
        ),
        (
            "a day, in its last minute",
            NOW + 60 - day,
            NOW + 60,
            Ok(()),
        ),
        (
            "iat within the leeway ahead",
            NOW + leeway,
            NOW + leeway + 60,
            Ok(()),
        ),
        (
            "iat past the leeway ahead",
            NOW + leeway + 1,
            NOW + leeway + 61,
            Err(AuthError::IssuedInTheFuture),
        ),
        (
            "iat a year ahead",
            NOW + 365 * day,
            NOW + 365 * day + 60,
            Err(AuthError::IssuedInTheFuture),
        ),
        (
            "exp before iat",
            NOW + 20,
            NOW + 10,
            Err(AuthError::Malformed("exp is not after iat")),
        ),
        (
            "exp equal to iat",
            NOW,
            NOW,
            Err(AuthError::Malformed("exp is not after iat")),
        ),
    ];
    for (name, iat, exp, expected) in cases {
        let got = authorize(claims(json!({ "iat": iat, "exp": exp }))).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
    // Far values: refused without overflow or panic.
    for (iat, exp) in [
        (json!(-1e308), json!(NOW + 60)),
        (json!(0), json!(NOW + 60)),
        (json!(-1e308), json!(1e308)),
        (json!(NOW), json!(1e308)),
    ] {
        assert_eq!(
            authorize(claims(json!({ "iat": iat, "exp": exp }))).map(|_| ()),
            too_long,
            "iat {iat}, exp {exp}"
        );
    }
    assert_eq!(
        authorize(claims(json!({ "iat": 1e308, "exp": 1e308 }))),
        Err(AuthError::IssuedInTheFuture)
    );
    // A shorter policy bounds the lifetime, not the time left.
    let hour = AdminVerifier::new(
        &secret(),
        AdminPolicy::new(None, None, Duration::from_secs(3600)),
    )
    .unwrap();
    let header = |iat: u64, exp: u64| {
        format!(
            "Bearer {}",
            token(&claims(json!({ "iat": iat, "exp": exp })))
        )
    };
    assert!(hour
        .authorize(Some(&header(NOW - 3500, NOW + 100)), now())
        .is_ok());
    assert_eq!(
        hour.authorize(Some(&header(NOW - 3501, NOW + 100)), now()),
        Err(AuthError::LifetimeTooLong {
            max_ttl_seconds: 3600
        })
    );
    assert!(
        !AuthError::LifetimeTooLong { max_ttl_seconds: 1 }.denies_permission()
            && !AuthError::MissingIssuedAt.denies_permission()
            && !AuthError::IssuedInTheFuture.denies_permission(),
        "each is a 401"
    );
}

#[test]
fn a_token_is_refused_until_its_nbf_within_the_leeway() {
    let leeway = CLOCK_LEEWAY.as_secs();
    assert_eq!(
        authorize(claims(json!({ "nbf": NOW + leeway + 1 }))),
        Err(AuthError::NotYetValid)
    );
    for nbf in [NOW + leeway, NOW, NOW - 60] {
        assert!(authorize(claims(json!({ "nbf": nbf }))).is_ok(), "{nbf}");
    }
    assert!(matches!(
        authorize(claims(json!({ "nbf": NOW.to_string() }))),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn a_member_or_a_token_without_role_is_denied() {
    assert_eq!(
        authorize(claims(json!({ "role": "member" }))),
        Err(AuthError::RoleNotAllowed {
            role: "member".into()
        })
    );
    assert_eq!(
        authorize(claims(json!({ "role": "SUPER_ADMIN" }))),
        Err(AuthError::RoleNotAllowed {
            role: "SUPER_ADMIN".into()
        }),
        "the role is matched exactly"
    );
    assert_eq!(
        authorize(claims_without("role")),
        Err(AuthError::MissingRole)
    );
}

#[test]
fn claims_of_the_wrong_type_are_malformed() {
    for changes in [
        json!({ "role": ["super_admin"] }),
        json!({ "role": null }),
        json!({ "sub": 42 }),
        json!({ "agent_id": 7, "maturity": "AUTONOMOUS" }),
        json!({ "agent_id": null }),
        json!({ "agent_id": "agent-7", "maturity": 3 }),
    ] {
        assert!(
            matches!(
                authorize(claims(changes.clone())),
                Err(AuthError::Malformed(_))
            ),
            "{changes}"
        );
    }
}

#[test]
fn an_agent_that_is_not_autonomous_is_denied() {
    assert_eq!(
        authorize(claims(
            json!({ "agent_id": "agent-7", "maturity": "SUPERVISED" })
        )),
        Err(AuthError::AgentNotAutonomous {
            maturity: "SUPERVISED".into()
        })
    );
    assert_eq!(
        authorize(claims(json!({ "agent_id": "agent-7" }))),
        Err(AuthError::AgentWithoutMaturity)
    );
    assert!(
        matches!(
            authorize(claims(
                json!({ "agent_id": "agent-7", "maturity": "AUTONOMOUS!" })
            )),
            Err(AuthError::AgentNotAutonomous { .. })
        ),
        "close is not enough"
    );
}

#[test]
fn a_member_agent_is_denied_for_its_role_first() {
    assert_eq!(
        authorize(claims(
            json!({ "role": "member", "agent_id": "a", "maturity": "AUTONOMOUS" })
        )),
        Err(AuthError::RoleNotAllowed {
            role: "member".into()
        })
    );
}

#[test]
fn an_expired_token_is_unauthorized_even_when_its_role_would_be_denied() {
    assert_eq!(
        authorize(claims(json!({ "role": "member", "exp": NOW - 3600 }))),
        Err(AuthError::Expired)
    );
}

/// One row per rule on the token's JSON and its claims: the deployment's
/// policy, the token's header and claims as JSON text (which, unlike a
/// `Value`, can repeat a key), and the exact answer.
#[test]
fn each_rule_on_the_token_refuses_with_its_own_error() {
    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
    const ISSUER: &str = "https://issuer.example";
    const AUDIENCE: &str = "atom-rating-sync-admin";
    let open = AdminPolicy::default;
    let strict = || AdminPolicy::new(Some(ISSUER.into()), Some(AUDIENCE.into()), DEFAULT_MAX_TTL);
    let issuer_only = || AdminPolicy::new(Some(ISSUER.into()), None, DEFAULT_MAX_TTL);
    let audience_only = || AdminPolicy::new(None, Some(AUDIENCE.into()), DEFAULT_MAX_TTL);
    let exp = NOW + 300;
    // A good admin's claims with `extra` JSON members appended.
    let iat = NOW - 60;
    let claims = |extra: &str| {
        format!(r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":{exp}{extra}}}"#)
    };
    let day = DEFAULT_MAX_TTL.as_secs();
    let too_long = AuthError::LifetimeTooLong {
        max_ttl_seconds: day,
    };
    let aud_type = AuthError::Malformed("aud is not a string or an array of strings");
    let iss = format!(r#","iss":"{ISSUER}""#);

    type Row = (
        &'static str,
        AdminPolicy,
        String,
        String,
        Result<(), AuthError>,
    );
    let rows: Vec<Row> = vec![
        ("a good token", open(), HEADER.into(), claims(""), Ok(())),
        (
            "duplicate key in the header",
            open(),
            r#"{"alg":"none","alg":"HS256"}"#.into(),
            claims(""),
            Err(AuthError::DuplicateKey(TokenPart::Header)),
        ),
        (
            "duplicate key in the header, escaped",
            open(),
            r#"{"alg":"HS256","a\u006cg":"HS256"}"#.into(),
            claims(""),
            Err(AuthError::DuplicateKey(TokenPart::Header)),
        ),
        (
            "duplicate key in the claims",
            open(),
            HEADER.into(),
            claims(r#","role":"member""#),
            Err(AuthError::DuplicateKey(TokenPart::Claims)),
        ),
        (
            "duplicate key in the claims, same value",
            open(),
            HEADER.into(),
            claims(&format!(r#","exp":{exp}"#)),
            Err(AuthError::DuplicateKey(TokenPart::Claims)),
        ),
        (
            "a lifetime of exactly the max TTL",
            open(),
            HEADER.into(),
            format!(
                r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":{}}}"#,
                iat + day
            ),
            Ok(()),
        ),
        (
            "a lifetime a second over the max TTL",
            open(),
            HEADER.into(),
            format!(
                r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":{}}}"#,
                iat + day + 1
            ),
            Err(too_long.clone()),
        ),
        (
            "too long for a shorter max TTL",
            AdminPolicy::new(None, None, Duration::from_secs(60)),
            HEADER.into(),
            claims(""),
            Err(AuthError::LifetimeTooLong {
                max_ttl_seconds: 60,
            }),
        ),
        (
            "exp 1e308",
            open(),
            HEADER.into(),
            format!(r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":1e308}}"#),
            Err(too_long.clone()),
        ),
        (
            "exp u64::MAX",
            open(),
            HEADER.into(),
            format!(
                r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":{}}}"#,
                u64::MAX
            ),
            Err(too_long),
        ),
        (
            "exp -1e308",
            open(),
            HEADER.into(),
            format!(r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":-1e308}}"#),
            Err(AuthError::Expired),
        ),
        (
            "exp 1e400, beyond f64",
            open(),
            HEADER.into(),
            format!(r#"{{"sub":"alice","role":"super_admin","iat":{iat},"exp":1e400}}"#),
            Err(AuthError::Malformed(
                "the claims are not a base64url JSON object",
            )),
        ),
        (
            "missing sub",
            open(),
            HEADER.into(),
            format!(r#"{{"role":"super_admin","iat":{iat},"exp":{exp}}}"#),
            Err(AuthError::MissingSubject),
        ),
        (
            "empty sub",
            open(),
            HEADER.into(),
            format!(r#"{{"sub":"","role":"super_admin","iat":{iat},"exp":{exp}}}"#),
            Err(AuthError::MissingSubject),
        ),
        (
            "blank sub",
            open(),
            HEADER.into(),
            format!(r#"{{"sub":"  ","role":"super_admin","iat":{iat},"exp":{exp}}}"#),
            Err(AuthError::MissingSubject),
        ),
        (
            "missing sub, member role: who comes before what",
            open(),
            HEADER.into(),
            format!(r#"{{"role":"member","iat":{iat},"exp":{exp}}}"#),
            Err(AuthError::MissingSubject),
        ),
        (
            "iss matches",
            issuer_only(),
            HEADER.into(),
            claims(&iss),
            Ok(()),
        ),
        (
            "wrong iss",
            issuer_only(),
            HEADER.into(),
            claims(r#","iss":"https://elsewhere.example""#),
            Err(AuthError::WrongIssuer),
        ),
        (
            "iss in another letter case",
            issuer_only(),
            HEADER.into(),
            claims(r#","iss":"HTTPS://ISSUER.EXAMPLE""#),
            Err(AuthError::WrongIssuer),
        ),
        (
            "missing iss when required",
            issuer_only(),
            HEADER.into(),
            claims(""),
            Err(AuthError::MissingIssuer),
        ),
        (
            "iss not a string, even when not required",
            open(),
            HEADER.into(),
            claims(r#","iss":["https://issuer.example"]"#),
            Err(AuthError::Malformed("iss is not a string")),
        ),
        (
            "any iss when none is required",
            open(),
            HEADER.into(),
            claims(r#","iss":"anyone""#),
            Ok(()),
        ),
        (
            "aud string match",
            audience_only(),
            HEADER.into(),
            claims(&format!(r#","aud":"{AUDIENCE}""#)),
            Ok(()),
        ),
        (
            "aud string mismatch",
            audience_only(),
            HEADER.into(),
            claims(r#","aud":"another-api""#),
            Err(AuthError::WrongAudience),
        ),
        (
            "aud list containing it",
            audience_only(),
            HEADER.into(),
            claims(&format!(r#","aud":["another-api","{AUDIENCE}"]"#)),
            Ok(()),
        ),
        (
            "aud list not containing it",
            audience_only(),
            HEADER.into(),
            claims(r#","aud":["another-api","a-third"]"#),
            Err(AuthError::WrongAudience),
        ),
        (
            "aud empty list",
            audience_only(),
            HEADER.into(),
            claims(r#","aud":[]"#),
            Err(AuthError::WrongAudience),
        ),
        (
            "missing aud when required",
            audience_only(),
            HEADER.into(),
            claims(""),
            Err(AuthError::MissingAudience),
        ),
        (
            "aud of wrong type: a number",
            audience_only(),
            HEADER.into(),
            claims(r#","aud":7"#),
            Err(aud_type.clone()),
        ),
        (
            "aud of wrong type: a list holding a number",
            audience_only(),
            HEADER.into(),
            claims(&format!(r#","aud":["{AUDIENCE}",7]"#)),
            Err(aud_type.clone()),
        ),
        (
            "aud of wrong type when none is required",
            open(),
            HEADER.into(),
            claims(r#","aud":{"name":"x"}"#),
            Err(aud_type.clone()),
        ),
        (
            "aud null",
            open(),
            HEADER.into(),
            claims(r#","aud":null"#),
            Err(aud_type),
        ),
        (
            "iss and aud both required and given",
            strict(),
            HEADER.into(),
            claims(&format!(r#"{iss},"aud":["{AUDIENCE}"]"#)),
            Ok(()),
        ),
        (
            "iss checked before aud",
            strict(),
            HEADER.into(),
            claims(r#","aud":"another-api""#),
            Err(AuthError::MissingIssuer),
        ),
        (
            "a wrong audience is 401 even for a member",
            strict(),
            HEADER.into(),
            format!(
                r#"{{"sub":"bob","role":"member","iat":{iat},"exp":{exp}{iss},"aud":"another-api"}}"#
            ),
            Err(AuthError::WrongAudience),
        ),
    ];
    for (name, policy, header, claims, expected) in rows {
        let verifier = AdminVerifier::new(&secret(), policy).unwrap();
        let header_value = format!("Bearer {}", token_from_json(&header, &claims));
        let got = verifier.authorize(Some(&header_value), now()).map(|_| ());
        assert_eq!(got, expected, "{name}");
        if let Err(error) = got {
            assert!(!error.denies_permission(), "{name}: a 401");
        }
    }
}

#[test]
fn a_repeated_key_in_a_nested_object_is_not_looked_for() {
    let claims = format!(
        r#"{{"sub":"alice","role":"super_admin","iat":{},"exp":{},"extra":{{"a":1,"a":2}}}}"#,
        NOW - 60,
        NOW + 300
    );
    let token = token_from_json(r#"{"alg":"HS256"}"#, &claims);
    assert!(authorize_token(&token).is_ok());
}

#[test]
fn a_blank_secret_can_neither_verify_nor_sign() {
    for blank in ["", "   ", "\n"] {
        assert_eq!(
            AdminVerifier::new(&Secret::new(blank), AdminPolicy::default()).unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            sign_token(&Secret::new(blank), &claims(json!({}))),
            Err(SecretError::Empty)
        );
    }
}

#[test]
fn neither_the_secret_nor_the_token_shows_in_errors_or_debug_output() {
    let verifier = AdminVerifier::new(&secret(), AdminPolicy::default()).unwrap();
    let good = token(&claims(json!({})));
    let member = token(&claims(json!({ "role": "member" })));
    let foreign = sign_token(&Secret::new("other"), &claims(json!({}))).unwrap();
    let expired = token(&claims(json!({ "exp": 0 })));
    let agent = token(&claims(
        json!({ "agent_id": "a", "maturity": "SUPERVISED" }),
    ));
    let mut tampered = segments(&member);
    tampered[1] = segments(&good)[1].clone();
    let tampered = tampered.join(".");

    let mut shown = format!("{verifier:?} {:?}", verifier.clone());
    for token in [
        good.as_str(),
        &member,
        &foreign,
        &expired,
        &agent,
        &tampered,
        "garbage",
    ] {
        for header in [
            format!("Bearer {token}"),
            format!("Basic {token}"),
            token.to_owned(),
        ] {
            match verifier.authorize(Some(&header), now()) {
                Ok(admin) => shown += &format!(" {admin:?}"),
                Err(error) => shown += &format!(" {error} {error:?}"),
            }
        }
    }
    shown += &format!(" {} {:?}", SecretError::Empty, SecretError::Unusable);

    assert!(!shown.contains(SECRET), "{shown}");
    for token in [&good, &member, &foreign, &expired, &agent, &tampered] {
        for segment in segments(token) {
            assert!(!shown.contains(&segment), "{segment} in {shown}");
        }
    }
}

#[test]
fn a_signed_token_is_three_unpadded_base64url_segments_with_an_hs256_header() {
    let token = token(&claims(json!({})));
    let parts = segments(&token);
    assert_eq!(parts.len(), 3);
    assert!(!token.contains('='));
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({ "alg": "HS256", "typ": "JWT" }));
    assert_eq!(URL_SAFE_NO_PAD.decode(&parts[2]).unwrap().len(), 32);
}
