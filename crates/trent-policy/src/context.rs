//! What a request carries into conditions and variables: the [`Context`] trait the gate
//! implements, the [`Values`] it hands back, the one naming rule for keys ([`context_key`]), and
//! [`MapContext`], a plain owned implementation.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::PrincipalInfo;

/// Condition values the request carries. Keys are looked up under the name [`context_key`]
/// gives (the evaluator normalizes every key it reads from a policy that way before calling
/// `get`), so implementations store their keys under that name too.
pub trait Context {
    /// None = the key is absent from the request (matters for IfExists, Null, and set operators).
    fn get(&self, key: &str) -> Option<Values<'_>>;
}

/// The value(s) of one condition key, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values<'a> {
    /// Strings, numbers, dates, bools, IPs, ARNs: textual.
    One(Cow<'a, str>),
    /// Multi-valued keys (kms:EncryptionContextKeys, aws:TagKeys, kms:GrantOperations,
    /// kms:ResourceAliases). An empty list is a present, empty set.
    Many(Vec<Cow<'a, str>>),
}

/// The name under which a condition key is stored in and looked up from a [`Context`]: the
/// whole key in ASCII lowercase.
///
/// AWS compares condition key names case-insensitively, including the part after
/// `kms:EncryptionContext:` and after `aws:RequestTag/`, `aws:ResourceTag/` and
/// `aws:PrincipalTag/` ("a policy cannot tell `Dept` from `dept`"; a policy that must pin the
/// case of encryption-context keys tests the values of `kms:EncryptionContextKeys`, which
/// keep their case). So a request whose context has two keys differing only in case presents
/// both values under one name; the gate decides how (AWS advises against such contexts).
pub fn context_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// A simple owned implementation of [`Context`] for callers and tests.
#[derive(Debug, Default, Clone)]
pub struct MapContext {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    One(String),
    Many(Vec<String>),
}

impl MapContext {
    /// Sets a single-valued key (replacing any earlier value).
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries
            .insert(context_key(key).into_owned(), Entry::One(value.into()));
    }

    /// Sets a multi-valued key (an empty list is a present, empty set).
    pub fn insert_many(&mut self, key: &str, values: Vec<String>) {
        self.entries
            .insert(context_key(key).into_owned(), Entry::Many(values));
    }

    /// The principal keys AWS puts in every signed request, derived from the caller:
    /// `aws:PrincipalArn` (the role's ARN for a role session), `aws:PrincipalAccount`,
    /// `aws:PrincipalType` and, for an IAM user, `aws:username`. `aws:userid` needs the
    /// principal's unique id, which only the caller knows; insert it separately.
    pub fn with_principal(principal: &PrincipalInfo<'_>) -> MapContext {
        let mut ctx = MapContext::default();
        ctx.insert(
            "aws:PrincipalArn",
            principal.role_arn.unwrap_or(principal.arn),
        );
        ctx.insert("aws:PrincipalAccount", principal.account);
        let resource = principal.arn.splitn(6, ':').nth(5).unwrap_or("");
        let kind = if principal.role_arn.is_some() || resource.starts_with("assumed-role/") {
            "AssumedRole"
        } else if resource == "root" {
            "Account"
        } else if resource.starts_with("federated-user/") {
            "FederatedUser"
        } else {
            "User"
        };
        ctx.insert("aws:PrincipalType", kind);
        if kind == "User" {
            if let Some(name) = resource.rsplit('/').next() {
                ctx.insert("aws:username", name);
            }
        }
        ctx
    }
}

impl Context for MapContext {
    fn get(&self, key: &str) -> Option<Values<'_>> {
        Some(match self.entries.get(key)? {
            Entry::One(v) => Values::One(Cow::Borrowed(v.as_str())),
            Entry::Many(vs) => Values::Many(vs.iter().map(|v| Cow::Borrowed(v.as_str())).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_case_insensitive_throughout() {
        assert_eq!(context_key("aws:SourceIp"), "aws:sourceip");
        assert_eq!(
            context_key("kms:EncryptionContext:Dept"),
            "kms:encryptioncontext:dept"
        );
        assert!(matches!(context_key("kms:callerAccount"), Cow::Owned(_)));
        assert!(matches!(context_key("kms:calleraccount"), Cow::Borrowed(_)));
    }

    #[test]
    fn map_context_distinguishes_absent_one_and_many() {
        let mut ctx = MapContext::default();
        ctx.insert("aws:SourceIp", "10.0.0.1");
        ctx.insert_many("aws:TagKeys", vec![]);
        assert_eq!(
            ctx.get("aws:sourceip"),
            Some(Values::One("10.0.0.1".into()))
        );
        assert_eq!(ctx.get("aws:tagkeys"), Some(Values::Many(vec![])));
        assert_eq!(ctx.get("aws:username"), None);
    }

    #[test]
    fn principal_keys_for_each_caller_kind() {
        let user = PrincipalInfo {
            arn: "arn:aws:iam::111122223333:user/dev/alice",
            account: "111122223333",
            role_arn: None,
        };
        let ctx = MapContext::with_principal(&user);
        assert_eq!(ctx.get("aws:username"), Some(Values::One("alice".into())));
        assert_eq!(
            ctx.get("aws:principaltype"),
            Some(Values::One("User".into()))
        );

        let session = PrincipalInfo {
            arn: "arn:aws:sts::111122223333:assumed-role/App/s1",
            account: "111122223333",
            role_arn: Some("arn:aws:iam::111122223333:role/ops/App"),
        };
        let ctx = MapContext::with_principal(&session);
        assert_eq!(
            ctx.get("aws:principalarn"),
            Some(Values::One("arn:aws:iam::111122223333:role/ops/App".into()))
        );
        assert_eq!(
            ctx.get("aws:principaltype"),
            Some(Values::One("AssumedRole".into()))
        );
        assert_eq!(ctx.get("aws:username"), None);

        let root = PrincipalInfo {
            arn: "arn:aws:iam::111122223333:root",
            account: "111122223333",
            role_arn: None,
        };
        let ctx = MapContext::with_principal(&root);
        assert_eq!(
            ctx.get("aws:principaltype"),
            Some(Values::One("Account".into()))
        );
        assert_eq!(
            ctx.get("aws:principalaccount"),
            Some(Values::One("111122223333".into()))
        );
    }
}
