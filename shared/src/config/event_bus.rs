//! `RATING_SYNC_EVENT_BUS`: the EventBridge bus the sync's events go to
//! (see [`crate::events`]).

use super::env::Lookup;
use super::error::ConfigError;
use super::settings::EVENT_BUS;

/// The bus, if one is set: unset or blank means no events. A value that is
/// neither a bus name nor a bus ARN is an error that names the variable.
pub(super) fn event_bus(env: &Lookup<'_>) -> Result<Option<String>, ConfigError> {
    let Some(bus) = env.optional(&EVENT_BUS) else {
        return Ok(None);
    };
    match event_bus_problem(&bus) {
        None => Ok(Some(bus)),
        Some(reason) => Err(ConfigError::Invalid {
            name: EVENT_BUS.name,
            value: bus,
            reason,
        }),
    }
}

/// Why `bus` names no event bus: it must be a name (1 to 256 of
/// `A-Z a-z 0-9 . _ - /`) or an event bus ARN,
/// `arn:<partition>:events:<region>:<account>:event-bus/<name>`.
fn event_bus_problem(bus: &str) -> Option<String> {
    if !bus.starts_with("arn:") {
        return name_problem(bus);
    }
    let parts: Vec<&str> = bus.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return Some(
            "an ARN must read arn:<partition>:events:<region>:<account>:event-bus/<name>".into(),
        );
    };
    let lower = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !partition.starts_with("aws") || !lower(partition) {
        return Some(format!("{partition:?} is not an AWS partition"));
    }
    if service != "events" {
        return Some(format!("an ARN of {service:?}, not of an event bus"));
    }
    if !lower(region) {
        return Some(format!("{region:?} is not a region"));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("{account:?} is not a 12-digit account id"));
    }
    let Some(name) = resource.strip_prefix("event-bus/") else {
        return Some("the ARN's resource must be event-bus/<name>".into());
    };
    name_problem(name).map(|reason| format!("the ARN's bus name: {reason}"))
}

fn name_problem(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if name.is_empty() || name.chars().count() > 256 {
        return Some("a bus name is 1 to 256 characters".into());
    }
    name.chars().find(|&c| !allowed(c)).map(|bad| {
        format!(
            "{bad:?} may not be in a bus name (letters, digits, . _ - / only), nor is it an ARN"
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{Config, ConfigError, FromEnvironment};

    fn with_bus(bus: Option<&str>) -> Result<Config, ConfigError> {
        let mut map: HashMap<&str, &str> = HashMap::from([
            ("ATOM_SAAS_API_URL", "https://marketplace.example/api"),
            ("ATOM_SAAS_API_TOKEN", "tok-123"),
            ("ATOM_INSTANCE_ID", "inst-1"),
        ]);
        if let Some(bus) = bus {
            map.insert("RATING_SYNC_EVENT_BUS", bus);
        }
        Config::from_lookup(|name| map.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn unset_or_blank_means_no_events() {
        for bus in [None, Some(""), Some("   ")] {
            assert_eq!(with_bus(bus).unwrap().event_bus, None, "{bus:?}");
        }
    }

    #[test]
    fn a_bus_name_or_a_bus_arn_is_taken_as_given() {
        let longest = "b".repeat(256);
        for bus in [
            "default",
            "atom-rating-sync",
            "aws.partner/example.com/123/events_1",
            longest.as_str(),
            "arn:aws:events:eu-west-1:123456789012:event-bus/atom-rating-sync",
            "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/default",
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/aws.partner/x/y",
        ] {
            assert_eq!(
                with_bus(Some(bus)).unwrap().event_bus.as_deref(),
                Some(bus),
                "{bus}"
            );
        }
        assert_eq!(
            with_bus(Some("  atom-bus \n"))
                .unwrap()
                .event_bus
                .as_deref(),
            Some("atom-bus"),
            "trimmed like every setting"
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_variable() {
        let too_long = "b".repeat(257);
        for (bus, says) in [
            ("atom bus", "may not be in a bus name"),
            ("bus:name", "may not be in a bus name"),
            ("büs", "may not be in a bus name"),
            (too_long.as_str(), "1 to 256 characters"),
            ("arn:aws:events:eu-west-1:123456789012", "arn:<partition>"),
            (
                "arn:aws:sqs:eu-west-1:123456789012:event-bus/x",
                "not of an event bus",
            ),
            (
                "arn:gcp:events:eu-west-1:123456789012:event-bus/x",
                "not an AWS partition",
            ),
            (
                "arn:aws:events:EU-WEST-1:123456789012:event-bus/x",
                "not a region",
            ),
            (
                "arn:aws:events:eu-west-1:12345:event-bus/x",
                "12-digit account",
            ),
            (
                "arn:aws:events:eu-west-1:123456789012:rule/x",
                "event-bus/<name>",
            ),
            (
                "arn:aws:events:eu-west-1:123456789012:event-bus/",
                "the ARN's bus name",
            ),
            (
                "arn:aws:events:eu-west-1:123456789012:event-bus/a b",
                "the ARN's bus name",
            ),
        ] {
            match with_bus(Some(bus)) {
                Err(ConfigError::Invalid {
                    name,
                    value,
                    reason,
                }) => {
                    assert_eq!(name, "RATING_SYNC_EVENT_BUS");
                    assert_eq!(value, bus);
                    assert!(reason.contains(says), "{bus}: {reason}");
                }
                other => panic!("{bus}: {other:?}"),
            }
        }
    }
}
