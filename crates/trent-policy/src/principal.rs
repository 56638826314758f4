//! The `Principal` and `NotPrincipal` elements: which principal forms are valid, and how a
//! caller ([`PrincipalInfo`]) matches them.
//!
//! Matching follows AWS for resource-based policies: `"*"` and `{"AWS": "*"}` name everyone;
//! an account (`123456789012` or `arn:aws:iam::123456789012:root`) names the account, which for
//! an Allow means "delegate to that account's IAM policies" ([`Allow::Account`]); a user, role,
//! assumed-role session or federated user ARN names exactly that principal, a role naming
//! every session of the role. No wildcards inside ARNs. Service and federated principals are
//! valid but match no Trent caller (Trent has none). `CanonicalUser` (an S3 notion that KMS
//! does not accept) is refused as an invalid principal.

use crate::{Allow, PrincipalInfo};

/// One member of `{"AWS": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    /// `"*"`.
    Any,
    /// An account, by bare id (any partition) or by its root ARN.
    Account {
        partition: Option<Box<str>>,
        account: Box<str>,
    },
    /// A user, role, assumed-role session or federated user, by full ARN.
    Arn(Box<str>),
}

impl AwsPrincipal {
    /// None when the text is not a valid AWS principal (AWS: "invalid principals").
    pub(crate) fn parse(text: &str) -> Option<AwsPrincipal> {
        if text == "*" {
            return Some(AwsPrincipal::Any);
        }
        if is_account_id(text) {
            return Some(AwsPrincipal::Account {
                partition: None,
                account: text.into(),
            });
        }
        let mut parts = text.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !is_partition(partition) || !is_account_id(account) {
            return None;
        }
        if text.contains(['*', '?']) || text.chars().any(char::is_whitespace) {
            return None;
        }
        let valid = match service {
            "iam" if resource == "root" => {
                return Some(AwsPrincipal::Account {
                    partition: Some(partition.into()),
                    account: account.into(),
                })
            }
            "iam" => named(resource, "user/") || named(resource, "role/"),
            "sts" => {
                resource.strip_prefix("assumed-role/").is_some_and(|rest| {
                    rest.split_once('/').is_some_and(|(role, session)| {
                        !role.is_empty() && !session.is_empty() && !session.contains('/')
                    })
                }) || named(resource, "federated-user/")
            }
            _ => false,
        };
        valid.then(|| AwsPrincipal::Arn(text.into()))
    }

    /// How this entry names the caller, if at all.
    fn level(&self, caller: &PrincipalInfo<'_>) -> Allow {
        match self {
            AwsPrincipal::Any => Allow::Principal,
            AwsPrincipal::Account { partition, account } => {
                let partition_ok = partition
                    .as_deref()
                    .is_none_or(|p| arn_partition(caller.arn) == Some(p));
                if partition_ok && **account == *caller.account {
                    Allow::Account
                } else {
                    Allow::None
                }
            }
            AwsPrincipal::Arn(arn) => {
                if **arn == *caller.arn || caller.role_arn == Some(arn) {
                    Allow::Principal
                } else {
                    Allow::None
                }
            }
        }
    }
}

/// `user/<path/>name`-shaped: the prefix, then a non-empty last segment.
fn named(resource: &str, prefix: &str) -> bool {
    resource
        .strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/') && !rest.starts_with('/'))
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(text: &str) -> bool {
    text.starts_with("aws")
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn arn_partition(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.next())
        .flatten()
}

/// A `Service` or `Federated` member: a name or provider ARN, without wildcards.
pub(crate) fn valid_other(text: &str) -> bool {
    !text.is_empty() && !text.contains(['*', '?']) && !text.chars().any(char::is_whitespace)
}

/// A statement's `Principal` or `NotPrincipal`, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Principals {
    /// `"*"` (the string form) or `{"AWS": "*"}` among the members.
    pub(crate) everyone: bool,
    pub(crate) aws: Vec<AwsPrincipal>,
}

impl Principals {
    /// For `Principal`: the strongest way any member names the caller.
    pub(crate) fn level(&self, caller: &PrincipalInfo<'_>) -> Allow {
        if self.everyone {
            return Allow::Principal;
        }
        self.aws
            .iter()
            .map(|p| p.level(caller))
            .max()
            .unwrap_or(Allow::None)
    }

    /// For `NotPrincipal`: whether the members exclude the caller, i.e. name every identity in
    /// its chain. AWS checks the account as well as the user or session: excluding only
    /// `user/Bob` still applies the statement to Bob, through his account. So the account must
    /// be listed (by id or root ARN) and, unless the caller is the root, the caller itself (its
    /// ARN, or for a role session the session's or the role's ARN).
    pub(crate) fn exclude(&self, caller: &PrincipalInfo<'_>) -> bool {
        if self.everyone {
            return true;
        }
        let mut account = false;
        let mut identity = is_root(caller.arn);
        for p in &self.aws {
            match p.level(caller) {
                Allow::Account => account = true,
                Allow::Principal => identity = true,
                Allow::None => {}
            }
        }
        account && identity
    }
}

fn is_root(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    parts.nth(2) == Some("iam") && parts.nth(2) == Some("root")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: PrincipalInfo<'static> = PrincipalInfo {
        arn: "arn:aws:iam::111122223333:user/dev/alice",
        account: "111122223333",
        role_arn: None,
    };
    const SESSION: PrincipalInfo<'static> = PrincipalInfo {
        arn: "arn:aws:sts::111122223333:assumed-role/App/AKIDAPP",
        account: "111122223333",
        role_arn: Some("arn:aws:iam::111122223333:role/svc/App"),
    };
    const ROOT: PrincipalInfo<'static> = PrincipalInfo {
        arn: "arn:aws:iam::111122223333:root",
        account: "111122223333",
        role_arn: None,
    };
    const OTHER: PrincipalInfo<'static> = PrincipalInfo {
        arn: "arn:aws:iam::444455556666:user/alice",
        account: "444455556666",
        role_arn: None,
    };

    fn level(text: &str, caller: &PrincipalInfo<'_>) -> Allow {
        AwsPrincipal::parse(text).unwrap().level(caller)
    }

    #[test]
    fn valid_forms() {
        for ok in [
            "*",
            "111122223333",
            "arn:aws:iam::111122223333:root",
            "arn:aws-cn:iam::111122223333:root",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:user/path/to/alice",
            "arn:aws:iam::111122223333:role/App",
            "arn:aws:sts::111122223333:assumed-role/App/session-1",
            "arn:aws:sts::111122223333:federated-user/bob",
        ] {
            assert!(AwsPrincipal::parse(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn invalid_forms() {
        for bad in [
            "",
            "11112222333",
            "alice",
            "AIDAEXAMPLEUNIQUEID",
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::111122223333:role/dev-?",
            "arn:aws:iam::*:root",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam:us-east-1:111122223333:user/alice",
            "arn:aws:kms:us-east-1:111122223333:key/x",
            "arn:aws:sts::111122223333:assumed-role/App",
            "arn:aws:sts::111122223333:assumed-role/App/a/b",
            "arn:foo:iam::111122223333:root",
            "arn:aws:iam::111122223333:user/al ice",
        ] {
            assert!(AwsPrincipal::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn account_forms_delegate_to_the_callers_account_only() {
        assert_eq!(level("111122223333", &ALICE), Allow::Account);
        assert_eq!(
            level("arn:aws:iam::111122223333:root", &ALICE),
            Allow::Account
        );
        assert_eq!(
            level("arn:aws:iam::111122223333:root", &ROOT),
            Allow::Account
        );
        assert_eq!(
            level("arn:aws:iam::111122223333:root", &SESSION),
            Allow::Account
        );
        assert_eq!(level("111122223333", &OTHER), Allow::None);
        assert_eq!(
            level("arn:aws-cn:iam::111122223333:root", &ALICE),
            Allow::None
        );
    }

    #[test]
    fn arns_name_exactly_the_caller_or_its_role() {
        assert_eq!(
            level("arn:aws:iam::111122223333:user/dev/alice", &ALICE),
            Allow::Principal
        );
        assert_eq!(
            level("arn:aws:iam::111122223333:user/alice", &ALICE),
            Allow::None
        );
        assert_eq!(
            level("arn:aws:iam::444455556666:user/alice", &ALICE),
            Allow::None
        );
        assert_eq!(
            level("arn:aws:iam::111122223333:role/svc/App", &SESSION),
            Allow::Principal
        );
        assert_eq!(
            level(
                "arn:aws:sts::111122223333:assumed-role/App/AKIDAPP",
                &SESSION
            ),
            Allow::Principal
        );
        assert_eq!(
            level("arn:aws:sts::111122223333:assumed-role/App/other", &SESSION),
            Allow::None
        );
        assert_eq!(
            level("arn:aws:iam::111122223333:role/App", &SESSION),
            Allow::None
        );
        assert_eq!(level("*", &OTHER), Allow::Principal);
    }

    fn set(members: &[&str]) -> Principals {
        Principals {
            everyone: false,
            aws: members
                .iter()
                .map(|m| AwsPrincipal::parse(m).unwrap())
                .collect(),
        }
    }

    #[test]
    fn strongest_member_wins() {
        let both = set(&["111122223333", "arn:aws:iam::111122223333:user/dev/alice"]);
        assert_eq!(both.level(&ALICE), Allow::Principal);
        assert_eq!(both.level(&SESSION), Allow::Account);
        assert_eq!(both.level(&OTHER), Allow::None);
        assert_eq!(set(&[]).level(&ALICE), Allow::None);
    }

    #[test]
    fn not_principal_excludes_only_a_fully_named_chain() {
        let bob_only = set(&["arn:aws:iam::111122223333:user/dev/alice"]);
        assert!(!bob_only.exclude(&ALICE));
        let with_account = set(&[
            "arn:aws:iam::111122223333:user/dev/alice",
            "arn:aws:iam::111122223333:root",
        ]);
        assert!(with_account.exclude(&ALICE));
        assert!(with_account.exclude(&ROOT));
        assert!(!with_account.exclude(&SESSION));
        assert!(!with_account.exclude(&OTHER));
        let role = set(&["arn:aws:iam::111122223333:role/svc/App", "111122223333"]);
        assert!(role.exclude(&SESSION));
        let everyone = Principals {
            everyone: true,
            aws: vec![],
        };
        assert!(everyone.exclude(&OTHER));
    }
}
