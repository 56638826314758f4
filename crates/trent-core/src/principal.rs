//! Who a credential acts as: the account root, an IAM user or a session of an IAM role, with the
//! ARN, unique id and type AWS reports for each (its "IAM identifiers" and global condition keys
//! pages), and the identity (IAM) policy attached to it.
//!
//! Owns parsing the configured principal ARN and deriving everything AWS derives from it. Must not
//! know credentials' secrets or any wire format.

use std::fmt;

use trent_policy::{Policy, PolicyKind};

use crate::ids::AccountId;

/// `aws:PrincipalType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// The account root user.
    Account,
    User,
    AssumedRole,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Account => "Account",
            PrincipalType::User => "User",
            PrincipalType::AssumedRole => "AssumedRole",
        }
    }
}

/// A caller, as AWS identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    account: String,
    kind: PrincipalType,
    /// The caller's ARN as AWS reports it (an assumed-role session's ARN for a role).
    arn: String,
    /// A role session's role ARN (with its path), which a policy may name instead.
    role_arn: Option<String>,
    /// `aws:userid`.
    userid: String,
    /// `aws:username`: IAM users only.
    username: Option<String>,
}

impl Principal {
    /// The root user of `account`.
    pub fn root(account: &str) -> Self {
        Principal {
            account: account.to_owned(),
            kind: PrincipalType::Account,
            arn: format!("arn:aws:iam::{account}:root"),
            role_arn: None,
            userid: account.to_owned(),
            username: None,
        }
    }

    /// The principal a credential of `account` names in its configuration:
    /// `arn:aws:iam::<account>:root`, `…:user/[path/]name` or `…:role/[path/]name`. A role's
    /// requests are a session named `session` (the access key id), as after AssumeRole.
    pub fn parse(configured: &str, account: &str, session: &str) -> Result<Self, String> {
        if !AccountId::is_aws(account) {
            return Err(
                "a principal needs an AWS (12-digit) account; Alibaba uids act as their account"
                    .into(),
            );
        }
        let prefix = format!("arn:aws:iam::{account}:");
        let resource = configured.strip_prefix(&prefix).ok_or_else(|| {
            format!("principal {configured:?} is not an IAM ARN of account {account} (arn:aws:iam::{account}:user/<name>, role/<name> or root)")
        })?;
        if resource == "root" {
            return Ok(Self::root(account));
        }
        let (kind, path_name) = if let Some(rest) = resource.strip_prefix("user/") {
            (PrincipalType::User, rest)
        } else if let Some(rest) = resource.strip_prefix("role/") {
            (PrincipalType::AssumedRole, rest)
        } else {
            return Err(format!(
                "principal {configured:?} must name root, a user/<name> or a role/<name>"
            ));
        };
        let name = path_name.rsplit('/').next().unwrap_or_default();
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        };
        if !path_name.split('/').all(valid) {
            return Err(format!(
                "principal {configured:?}: names and path segments are 1-64 characters of [A-Za-z0-9+=,.@_-]"
            ));
        }
        Ok(match kind {
            PrincipalType::User => Principal {
                account: account.to_owned(),
                kind,
                arn: configured.to_owned(),
                role_arn: None,
                userid: unique_id("AIDA", configured),
                username: Some(name.to_owned()),
            },
            _ => {
                if !(2..=64).contains(&session.len()) || !valid(session) {
                    return Err(format!(
                        "a role's session is named by the access key id, which must then be 2-64 characters of [A-Za-z0-9+=,.@_-], not {session:?}"
                    ));
                }
                Principal {
                    account: account.to_owned(),
                    kind,
                    arn: format!("arn:aws:sts::{account}:assumed-role/{name}/{session}"),
                    role_arn: Some(configured.to_owned()),
                    userid: format!("{}:{session}", unique_id("AROA", configured)),
                    username: None,
                }
            }
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn kind(&self) -> PrincipalType {
        self.kind
    }

    /// The caller's ARN as AWS reports it (GetCallerIdentity, refusals).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// For a role session: the role's ARN.
    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    /// `aws:PrincipalArn`: the role's ARN for a session, else the caller's ARN.
    pub fn principal_arn(&self) -> &str {
        self.role_arn.as_deref().unwrap_or(&self.arn)
    }

    pub fn userid(&self) -> &str {
        &self.userid
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalType::Account
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// A stable IAM-style unique id (`AIDA…` for users, `AROA…` for roles): the prefix and 17
/// characters of AWS's alphabet derived from the entity's ARN, so it survives restarts.
fn unique_id(prefix: &str, arn: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = trent_crypto::sha256(arn.as_bytes());
    let mut id = prefix.to_owned();
    id.extend(
        digest
            .iter()
            .take(17)
            .map(|b| ALPHABET[usize::from(b % 32)] as char),
    );
    id
}

/// What a credential acts as: its principal and its identity (IAM) policy.
#[derive(Debug)]
pub struct Identity {
    pub principal: Principal,
    /// The identity policy; `None` allows nothing (the account root needs none).
    pub policy: Option<Policy>,
}

impl Identity {
    pub fn root(account: &str) -> Self {
        Identity {
            principal: Principal::root(account),
            policy: None,
        }
    }

    /// An identity with its policy document checked against IAM's grammar.
    pub fn new(principal: Principal, policy: Option<&str>) -> Result<Self, String> {
        let policy = policy
            .map(|text| {
                Policy::parse(text, PolicyKind::Identity)
                    .map_err(|e| format!("identity policy: {}", e.message()))
            })
            .transpose()?;
        Ok(Identity { principal, policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_user_and_role_session_are_shaped_as_aws_reports_them() {
        let root =
            Principal::parse("arn:aws:iam::111122223333:root", "111122223333", "AK").unwrap();
        assert_eq!(root, Principal::root("111122223333"));
        assert_eq!(root.userid(), "111122223333");
        assert_eq!(root.kind().as_str(), "Account");

        let alice = Principal::parse(
            "arn:aws:iam::111122223333:user/dev/alice",
            "111122223333",
            "AK",
        )
        .unwrap();
        assert_eq!(alice.arn(), "arn:aws:iam::111122223333:user/dev/alice");
        assert_eq!(alice.username(), Some("alice"));
        assert!(alice.userid().starts_with("AIDA") && alice.userid().len() == 21);
        assert_eq!(alice.principal_arn(), alice.arn());

        let app = Principal::parse(
            "arn:aws:iam::111122223333:role/svc/App",
            "111122223333",
            "AKIDAPP",
        )
        .unwrap();
        assert_eq!(
            app.arn(),
            "arn:aws:sts::111122223333:assumed-role/App/AKIDAPP"
        );
        assert_eq!(
            app.principal_arn(),
            "arn:aws:iam::111122223333:role/svc/App"
        );
        assert!(app.userid().starts_with("AROA") && app.userid().ends_with(":AKIDAPP"));
        assert_eq!(app.username(), None);
    }

    #[test]
    fn bad_principals_are_refused() {
        for bad in [
            "arn:aws:iam::999999999999:user/alice",
            "arn:aws:iam::111122223333:group/devs",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/a*",
            "alice",
        ] {
            assert!(
                Principal::parse(bad, "111122223333", "AK").is_err(),
                "{bad}"
            );
        }
        assert!(Principal::parse(
            "arn:aws:iam::1234567890123456:user/a",
            "1234567890123456",
            "AK"
        )
        .is_err());
        assert!(
            Principal::parse("arn:aws:iam::111122223333:role/R", "111122223333", "a/b").is_err()
        );
    }
}
