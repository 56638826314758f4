//! The IAM policy language as AWS KMS and IAM use it: parse a key policy or an identity policy
//! once, then evaluate it per request without parsing again.
//!
//! This crate owns the grammar, the parser, the evaluator and the condition operators. It knows
//! nothing of KMS storage, HTTP or the rest of Trent; the admission gate supplies the caller, the
//! action, the resource ARN and the condition keys through [`Request`] and [`Context`].
//!
//! The size limit of a document is the caller's to enforce (KMS: [`KEY_POLICY_MAX_BYTES`]).
//!
//! What the caller provides: the [`PrincipalInfo`] of the caller, the action (`kms:Encrypt`), the
//! resource ARN (`*` for operations that name no key), and a [`Context`] holding every condition
//! key the request carries, stored under [`context_key`]'s name (the whole key lowercased: AWS
//! compares key names, encryption-context and tag keys included, without regard to case). Policy
//! variables read the same context, so it should also hold `aws:username` (IAM users only),
//! `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount` and `aws:PrincipalType`
//! ([`MapContext::with_principal`] fills all but `aws:userid`).
//!
//! ```
//! use trent_policy::{Allow, MapContext, Policy, PolicyKind, PrincipalInfo, Request};
//!
//! let policy = Policy::parse(
//!     r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
//!         "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}"#,
//!     PolicyKind::Resource,
//! )?;
//! let alice = PrincipalInfo {
//!     arn: "arn:aws:iam::111122223333:user/alice",
//!     account: "111122223333",
//!     role_arn: None,
//! };
//! let context = MapContext::with_principal(&alice);
//! let outcome = policy.evaluate(&Request {
//!     principal: &alice,
//!     action: "kms:Encrypt",
//!     resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
//!     context: &context,
//! });
//! // The default key policy delegates to the account: alice's identity policy decides.
//! assert_eq!(outcome.allow, Allow::Account);
//! assert!(!outcome.explicit_deny);
//! # Ok::<(), trent_policy::PolicyError>(())
//! ```

use std::fmt;

mod condition;
mod context;
mod evaluate;
mod json;
mod parse;
mod pattern;
mod principal;
mod scalar;
mod variables;

pub use context::{context_key, Context, MapContext, Values};

/// AWS KMS's limit on a key policy document, in bytes (not adjustable). Enforced by the caller,
/// which answers `LimitExceededException` above it.
pub const KEY_POLICY_MAX_BYTES: usize = 32 * 1024;

/// Which grammar rules apply: a key policy (resource-based: every statement needs Principal or
/// NotPrincipal) or an identity policy (IAM: Principal/NotPrincipal forbidden).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Resource,
    Identity,
}

/// A parsed, validated policy. Immutable, Send + Sync, cheap to share behind Arc.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<evaluate::Statement>,
    named: Vec<String>,
}

/// Why a document was refused. `message()` is a sentence fit for
/// MalformedPolicyDocumentException. Display = message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    message: String,
}

impl PolicyError {
    fn new(message: String) -> PolicyError {
        PolicyError { message }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// Parses and validates a document. The size limit is the caller's to enforce first.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let parsed = parse::parse(json, kind)?;
        Ok(Policy {
            statements: parsed.statements,
            named: parsed.named,
        })
    }

    /// Every principal ARN / account id named in Principal or NotPrincipal ("AWS" member), as
    /// written, so the caller can check they exist.
    pub fn named_principals(&self) -> Vec<&str> {
        self.named.iter().map(String::as_str).collect()
    }

    /// Decides one request against this policy alone. Both fields are always computed, so an
    /// explicit deny still reports what the Allow statements would have granted.
    pub fn evaluate(&self, req: &Request<'_>) -> Evaluation {
        evaluate::evaluate(&self.statements, req)
    }
}

/// Who is asking. All ARNs are full strings.
#[derive(Debug, Clone, Copy)]
pub struct PrincipalInfo<'a> {
    /// The caller's ARN as AWS reports it: `arn:aws:iam::<acct>:root`,
    /// `arn:aws:iam::<acct>:user/<path/>name`, or for a role session
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub arn: &'a str,
    pub account: &'a str,
    /// For a role session: the role's ARN `arn:aws:iam::<acct>:role/<path/>name`, which a
    /// policy's Principal may name instead of the session. None otherwise.
    pub role_arn: Option<&'a str>,
}

/// One request to decide.
pub struct Request<'a> {
    pub principal: &'a PrincipalInfo<'a>,
    /// "kms:Encrypt"; matched case-insensitively with * and ? wildcards.
    pub action: &'a str,
    /// The key ARN (or alias ARN, or "*" for identity-only operations).
    pub resource: &'a str,
    pub context: &'a dyn Context,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("principal", self.principal)
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// The outcome of one policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Some statement with Effect Deny matched.
    pub explicit_deny: bool,
    pub allow: Allow,
}

/// What the Allow statements that matched amount to. Ordered: `Principal` wins over `Account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Allow {
    /// No Allow statement matched.
    None,
    /// Allowed only through a statement whose principal is an account (`arn:aws:iam::<acct>:root`
    /// or the bare 12-digit id) naming the caller's account: AWS's "delegate to IAM". The gate then
    /// also needs the caller's identity policy to allow (the account root passes on its own).
    Account,
    /// Allowed by a statement naming the caller (its ARN, its role ARN for a role session, "*" or
    /// {"AWS":"*"}), or, in an identity policy, any matching Allow statement.
    Principal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Policy>();
        shareable::<PolicyError>();
    }

    #[test]
    fn error_display_is_the_message() {
        let e = Policy::parse("{}", PolicyKind::Resource).unwrap_err();
        assert_eq!(e.to_string(), e.message());
        assert_eq!(e.message(), "The policy has no Statement.");
    }
}
