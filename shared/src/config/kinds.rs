//! The kinds of entry of the catalogue ([`super::settings`]), each with what
//! the configuration page shows of it ([`Setting`]). A loader reads an
//! entry by its kind (`Lookup` in `env.rs`), so it cannot read one as
//! another: a number of seconds only as a [`Duration`], a secret only as a
//! [`Secret`](crate::secrets::Secret).

use std::time::Duration;

/// `name` and `doc` of a kind, each a field of the same name: every kind
/// has both.
macro_rules! name_and_doc {
    () => {
        fn name(&self) -> &'static str {
            self.name
        }
        fn doc(&self) -> &'static str {
            self.doc
        }
    };
}

/// What the configuration page's table shows of an entry.
pub trait Setting {
    /// The environment variable.
    fn name(&self) -> &'static str;
    /// What it is, in one line.
    fn doc(&self) -> &'static str;
    /// The default cell of its row: the default as the page shows it.
    fn shown_default(&self) -> String;
    /// The values a number may take, `(min, max)`; `None` for the others.
    fn bounds(&self) -> Option<(u32, u32)> {
        None
    }
    /// The bounds as the page's meaning cell gives them: `(min..max)`.
    fn shown_bounds(&self) -> Option<String> {
        self.bounds().map(|(min, max)| format!("({min}..{max})"))
    }
}

/// The unit of a [`Number`] that counts things (ratings, requests, bytes,
/// days): read as a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count;

/// The unit of a [`Number`] of seconds: read as a [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds;

/// The unit of a [`Number`] of milliseconds: read as a [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis;

/// A whole number within `min..=max`, `default` when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<U> {
    /// The variable.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// What it counts.
    pub unit: U,
    /// The value when unset.
    pub default: u32,
    /// The smallest value accepted.
    pub min: u32,
    /// The largest value accepted.
    pub max: u32,
}

impl Number<Seconds> {
    /// The default, as a duration.
    pub const fn default_duration(&self) -> Duration {
        Duration::from_secs(self.default as u64)
    }
}

impl Number<Millis> {
    /// The default, as a duration.
    pub const fn default_duration(&self) -> Duration {
        Duration::from_millis(self.default as u64)
    }
}

impl<U> Setting for Number<U> {
    name_and_doc!();
    fn shown_default(&self) -> String {
        self.default.to_string()
    }
    fn bounds(&self) -> Option<(u32, u32)> {
        Some((self.min, self.max))
    }
}

/// A whole number within `min..=max`, or nothing when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalNumber {
    /// The variable.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// What unset means.
    pub unset: &'static str,
    /// The smallest value accepted.
    pub min: u32,
    /// The largest value accepted.
    pub max: u32,
}

impl Setting for OptionalNumber {
    name_and_doc!();
    fn shown_default(&self) -> String {
        shown_unset(self.unset)
    }
    fn bounds(&self) -> Option<(u32, u32)> {
        Some((self.min, self.max))
    }
}

/// Text, `default` when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// The variable.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// The value when unset.
    pub default: &'static str,
}

impl Setting for Text {
    name_and_doc!();
    fn shown_default(&self) -> String {
        format!("`{}`", self.default)
    }
}

/// Text a function cannot start without ([`ConfigError::Missing`](super::ConfigError::Missing)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Required {
    /// The variable.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
}

impl Setting for Required {
    name_and_doc!();
    fn shown_default(&self) -> String {
        "required".into()
    }
}

/// A secret: required, read from Secrets Manager when its `arn` entry names
/// a secret (see [`crate::secrets`]), from the variable itself otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSetting {
    /// The variable, and the name the secret is known by.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// The variable that names its Secrets Manager secret.
    pub arn: &'static Optional,
}

impl Setting for SecretSetting {
    name_and_doc!();
    fn shown_default(&self) -> String {
        format!("required unless `{}` is set", self.arn.name)
    }
}

/// Text that may be unset, which means `unset` (nothing when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Optional {
    /// The variable.
    pub name: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// What unset means.
    pub unset: &'static str,
}

impl Setting for Optional {
    name_and_doc!();
    fn shown_default(&self) -> String {
        shown_unset(self.unset)
    }
}

/// A variable of the configuration page that this crate does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadElsewhere {
    /// The variable.
    pub name: &'static str,
    /// What it is, and who reads it.
    pub doc: &'static str,
    /// The page's default cell.
    pub shown: &'static str,
}

impl Setting for ReadElsewhere {
    name_and_doc!();
    fn shown_default(&self) -> String {
        self.shown.into()
    }
}

/// `unset`, or `unset (meaning)`.
fn shown_unset(meaning: &str) -> String {
    if meaning.is_empty() {
        "unset".into()
    } else {
        format!("unset ({meaning})")
    }
}
