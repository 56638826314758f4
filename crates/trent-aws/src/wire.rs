//! Wire types and validation helpers for AWS JSON 1.1: base64 blobs (secret ones zeroized),
//! epoch-second timestamps, and validation errors in AWS's own "1 validation error detected"
//! wording.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use trent_core::model::Timestamp;
use trent_core::KmsError;

pub use crate::enums::WireEnum;
pub use trent_dialect::blob::{Blob, SecretBlob};

/// Epoch seconds, as AWS JSON renders timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch(pub Timestamp);

impl Serialize for Epoch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.epoch_seconds())
    }
}

pub type Context = BTreeMap<String, String>;

/// `1 validation error detected: <detail>` as AWS's front end words it.
pub fn validation(detail: impl fmt::Display) -> KmsError {
    KmsError::Validation(format!("1 validation error detected: {detail}"))
}

/// A required member that is absent.
pub fn required<'a, T>(value: &'a Option<T>, member: &str) -> Result<&'a T, KmsError> {
    value.as_ref().ok_or_else(|| {
        validation(format_args!(
            "Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// Length bounds on a string member; `show` = whether AWS echoes the value (it never echoes
/// secrets).
pub fn check_len(
    len: usize,
    min: usize,
    max: usize,
    member: &str,
    value: Option<&str>,
) -> Result<(), KmsError> {
    let shown = || match value {
        Some(v) => format!("Value '{v}' at '{member}'"),
        None => format!("Value at '{member}'"),
    };
    if len < min {
        let shown = shown();
        return Err(validation(format_args!(
            "{shown} failed to satisfy constraint: Member must have length greater than or equal to {min}"
        )));
    }
    if len > max {
        let shown = shown();
        return Err(validation(format_args!(
            "{shown} failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

/// Numeric range on an integer member.
pub fn check_range(value: i64, min: i64, max: i64, member: &str) -> Result<(), KmsError> {
    if value < min {
        return Err(validation(format_args!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
        )));
    }
    if value > max {
        return Err(validation(format_args!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(())
}

/// Parses an enum member whose values are `values` (in AWS's message order), with AWS's
/// enum-set message on failure.
pub fn parse_enum_of<T: WireEnum>(value: &str, member: &str, values: &[T]) -> Result<T, KmsError> {
    values
        .iter()
        .copied()
        .find(|v| v.to_string() == value)
        .ok_or_else(|| {
            let set = values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            validation(format_args!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{set}]"
            ))
        })
}

/// Parses an enum member, with AWS's enum-set message on failure.
pub fn parse_enum<T: WireEnum>(value: &str, member: &str) -> Result<T, KmsError> {
    parse_enum_of(value, member, T::MESSAGE_ORDER)
}

/// A required enum member.
pub fn required_enum<T: WireEnum>(value: &Option<String>, member: &str) -> Result<T, KmsError> {
    parse_enum(required(value, member)?, member)
}

/// An optional enum member.
pub fn optional_enum<T: WireEnum>(
    value: &Option<String>,
    member: &str,
) -> Result<Option<T>, KmsError> {
    value.as_deref().map(|v| parse_enum(v, member)).transpose()
}

/// A string member that must match a regular expression AWS documents; `allowed` is that
/// expression's character class, `pattern` its text for the message.
pub fn check_pattern(
    value: &str,
    member: &str,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), KmsError> {
    if value.is_empty() || !value.chars().all(allowed) {
        return Err(validation(format_args!(
            "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
        )));
    }
    Ok(())
}

/// Optional `Limit` with the operation's documented range and default.
pub fn limit(value: Option<i64>, max: i64, default: usize) -> Result<usize, KmsError> {
    match value {
        None => Ok(default),
        Some(v) => {
            check_range(v, 1, max, "limit")?;
            Ok(v as usize)
        }
    }
}

/// Optional `Marker`: 1–1024 characters in `[\u0020-\u00FF]`.
pub fn marker(value: &Option<String>) -> Result<Option<&str>, KmsError> {
    match value {
        None => Ok(None),
        Some(m) => {
            check_len(m.chars().count(), 1, 1024, "marker", Some(m))?;
            if m.chars().any(|c| !('\u{20}'..='\u{FF}').contains(&c)) {
                return Err(KmsError::InvalidMarker);
            }
            Ok(Some(m))
        }
    }
}
