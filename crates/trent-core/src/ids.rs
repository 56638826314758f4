//! Identifiers: key ids, alias names, the account/region scope and the four ways a client names
//! a key (`KeyRef`). Parsing lives here once; each dialect renders errors its own way.

use std::fmt;

use crate::error::{KmsError, NotFound};

/// The partition of every ARN this server issues and the only one it resolves.
pub const PARTITION: &str = "aws";

/// A key's id: a UUID, rendered lowercase and hyphenated as AWS does, or for a multi-Region key
/// `mrk-` and the same 16 bytes as 32 lowercase hex digits. A multi-Region key's copies in
/// several Regions share one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId {
    uuid: uuid::Uuid,
    multi_region: bool,
}

/// The byte that ends a multi-Region key id's storage form (see [`KeyId::storage_bytes`]).
const MULTI_REGION_MARK: u8 = b'M';

/// A new key's UUID: version 7, the creation time's milliseconds followed by 74 random bits.
///
/// Keys created one after another get ids in ascending order, so that within an account and
/// Region a new key's rows land after the last new key's in both indexes ordered by id (the
/// keys' primary key and their material's), in pages the last keys' rows already made dirty.
/// With random (version 4) ids each new key dirtied a page of its own in each of them, and
/// every commit wrote those pages (CreateKey on SQLite: +40 to +60 % with the trail on,
/// docs/BENCHMARK-ANALYSIS.md). The id tells when the key was created, to the millisecond, to
/// anyone who sees the id (ListKeys, ListAliases, a key ARN), not only to those who may call
/// DescribeKey (DESIGN.md, "New key ids ascend"). It stays unguessable: 74 random bits, drawn
/// anew for every id (no counter within a millisecond, unlike `Uuid::now_v7`, so one id does
/// not give away the next).
fn new_uuid() -> uuid::Uuid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // Ten bytes of a version 4 UUID that are all random (its bytes 6 and 8 carry the version
    // and variant): the uuid crate's thread-local CSPRNG, as `new_v4` itself draws.
    let v4 = uuid::Uuid::new_v4().into_bytes();
    let mut random = [0u8; 10];
    random[..6].copy_from_slice(&v4[..6]);
    random[6..].copy_from_slice(&v4[9..13]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

impl KeyId {
    pub fn generate() -> Self {
        Self {
            uuid: new_uuid(),
            multi_region: false,
        }
    }

    /// A new multi-Region key id (`mrk-…`).
    pub fn generate_multi_region() -> Self {
        Self {
            uuid: new_uuid(),
            multi_region: true,
        }
    }

    /// A key id as clients write it: the 36-character hyphenated UUID, or `mrk-` and 32
    /// lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        if is_multi_region_id(s) {
            let hex = &s[MULTI_REGION_PREFIX.len()..];
            return uuid::Uuid::parse_str(hex).ok().map(|uuid| Self {
                uuid,
                multi_region: true,
            });
        }
        // AWS ids are exactly the 36-character hyphenated form.
        if s.len() != 36 {
            return None;
        }
        uuid::Uuid::parse_str(s).ok().map(|uuid| Self {
            uuid,
            multi_region: false,
        })
    }

    /// An ordinary (single-Region) key id from its 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self {
            uuid: uuid::Uuid::from_bytes(b),
            multi_region: false,
        }
    }

    /// A key id from its 16 bytes and whether it is a multi-Region id.
    pub fn from_parts(b: [u8; 16], multi_region: bool) -> Self {
        Self {
            uuid: uuid::Uuid::from_bytes(b),
            multi_region,
        }
    }

    /// The 16 bytes of the id (the same for `mrk-` ids; [`KeyId::is_multi_region`] tells them
    /// apart).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.uuid.as_bytes()
    }

    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// How stores keep the id: the 16 bytes, and for a multi-Region id one more byte, so the two
    /// kinds never collide. [`KeyId`]'s order is the byte order of this form.
    pub fn storage_bytes(&self) -> Vec<u8> {
        let mut out = self.as_bytes().to_vec();
        if self.multi_region {
            out.push(MULTI_REGION_MARK);
        }
        out
    }

    /// The inverse of [`KeyId::storage_bytes`].
    pub fn from_storage(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            16 => Some(Self::from_parts(bytes.try_into().ok()?, false)),
            17 if bytes[16] == MULTI_REGION_MARK => {
                Some(Self::from_parts(bytes[..16].try_into().ok()?, true))
            }
            _ => None,
        }
    }
}

impl PartialOrd for KeyId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyId {
    /// The order of the storage form, so that a store's byte order is the id order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes()
            .cmp(other.as_bytes())
            .then(self.multi_region.cmp(&other.multi_region))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multi_region {
            write!(f, "{MULTI_REGION_PREFIX}{}", self.uuid.simple())
        } else {
            self.uuid.hyphenated().fmt(f)
        }
    }
}

/// An account id: 12 digits for AWS, 16 for an Alibaba Cloud uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub String);

impl AccountId {
    /// AWS account ids are 12 digits.
    pub const AWS_DIGITS: usize = 12;
    /// Alibaba Cloud account ids (uids) are 16 digits.
    pub const ALIYUN_DIGITS: usize = 16;

    /// A configured account id: 12 digits (usable by both dialects, as it always was) or 16 (an
    /// Alibaba uid, usable by Alibaba requests only: see [`AccountId::serves_aws`]).
    pub fn parse(s: &str) -> Option<Self> {
        let digits = s.bytes().all(|b| b.is_ascii_digit());
        (digits && [Self::AWS_DIGITS, Self::ALIYUN_DIGITS].contains(&s.len()))
            .then(|| Self(s.to_owned()))
    }

    /// Whether AWS requests may act in this account. AWS ARNs carry exactly 12 digits, so an
    /// account of any other length is never an AWS caller's scope.
    pub fn serves_aws(&self) -> bool {
        Self::is_aws(&self.0)
    }

    /// Whether `s` is an AWS account id (12 digits).
    pub fn is_aws(s: &str) -> bool {
        s.len() == Self::AWS_DIGITS && s.bytes().all(|b| b.is_ascii_digit())
    }
}

/// A region name such as `us-east-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(pub String);

/// Keys and aliases live per account and region; nothing crosses a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: AccountId(account.into()),
            region: Region(region.into()),
        }
    }

    pub fn key_arn(&self, id: &KeyId) -> String {
        self.key_arn_of(id)
    }

    /// The ARN of the key whose id is written `id` (a key id, or a multi-Region key id).
    pub fn key_arn_of(&self, id: impl fmt::Display) -> String {
        format!(
            "arn:{PARTITION}:kms:{}:{}:key/{}",
            self.region.0, self.account.0, id
        )
    }

    pub fn alias_arn(&self, name: &AliasName) -> String {
        format!(
            "arn:{PARTITION}:kms:{}:{}:{}",
            self.region.0, self.account.0, name.0
        )
    }

    pub fn root_principal(&self) -> String {
        format!("arn:{PARTITION}:iam::{}:root", self.account.0)
    }
}

/// The prefix every alias name carries.
pub const ALIAS_PREFIX: &str = "alias/";
/// Aliases under this prefix belong to AWS-managed keys and cannot be created by clients.
pub const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";

/// An alias name including its `alias/` prefix, e.g. `alias/app`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(pub String);

impl AliasName {
    /// Validates AWS's alias-name rules: `alias/` prefix, 1–256 characters of `[a-zA-Z0-9:/_-]`.
    pub fn parse(s: &str) -> Result<Self, KmsError> {
        if !s.starts_with(ALIAS_PREFIX) {
            return Err(KmsError::Validation(
                "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into(),
            ));
        }
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'));
        if s.len() > 256 || s.len() == ALIAS_PREFIX.len() || !valid_chars {
            return Err(KmsError::InvalidAliasName(format!(
                "Alias name {s} is not valid: it must be 1-256 characters of [a-zA-Z0-9:/_-] after \"alias/\"."
            )));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn is_reserved(&self) -> bool {
        self.0.starts_with(RESERVED_ALIAS_PREFIX)
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The four ways a request can name a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(KeyId),
    KeyArn { scope: Scope, id: KeyId },
    Alias(AliasName),
    AliasArn { scope: Scope, name: AliasName },
}

/// The prefix of AWS's multi-Region key ids.
pub const MULTI_REGION_PREFIX: &str = "mrk-";

/// Whether `s` is a well-formed multi-Region key id: `mrk-` and 32 lowercase hex digits.
fn is_multi_region_id(s: &str) -> bool {
    s.strip_prefix(MULTI_REGION_PREFIX).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Which forms an operation accepts (AWS documents this per operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefForms {
    /// Key id, key ARN, alias name or alias ARN.
    Any,
    /// Key id or key ARN only.
    KeyOnly,
}

impl KeyRef {
    /// Parses a client's `KeyId` value. Malformed values are `NotFound` as in AWS
    /// (`Invalid keyId '...'`), not validation errors.
    pub fn parse(raw: &str, forms: KeyRefForms) -> Result<Self, KmsError> {
        let parsed = if let Some(rest) = raw.strip_prefix("arn:") {
            Self::parse_arn(raw, rest)?
        } else if raw.starts_with(ALIAS_PREFIX) {
            KeyRef::Alias(AliasName::parse(raw).map_err(|_| KmsError::invalid_key_id(raw))?)
        } else {
            KeyRef::Id(KeyId::parse(raw).ok_or_else(|| KmsError::invalid_key_id(raw))?)
        };
        match (&parsed, forms) {
            (KeyRef::Alias(name), KeyRefForms::KeyOnly) => {
                Err(KmsError::NotFound(NotFound::AliasNotAccepted {
                    name: name.0.clone(),
                }))
            }
            (KeyRef::AliasArn { .. }, KeyRefForms::KeyOnly) => Err(KmsError::InvalidArn(
                "Key Aliases are not supported for this operation.".into(),
            )),
            _ => Ok(parsed),
        }
    }

    fn parse_arn(raw: &str, rest: &str) -> Result<Self, KmsError> {
        // arn:<partition>:kms:<region>:<account>:<resource>
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(KmsError::invalid_arn(raw));
        };
        if partition.is_empty() || service != "kms" || region.is_empty() || account.is_empty() {
            return Err(KmsError::invalid_arn(raw));
        }
        let scope = Scope::new(account, region);
        // Keys live in one partition, like a region's keys: an ARN of another partition
        // (`arn:aws-cn:`, `arn:aws-us-gov:`) names a resource that does not exist here, exactly
        // as an ARN of another region or account does.
        let elsewhere = partition != PARTITION;
        if let Some(id) = resource.strip_prefix("key/") {
            let id = KeyId::parse(id).ok_or_else(|| KmsError::invalid_key_id(raw))?;
            if elsewhere {
                return Err(KmsError::NotFound(NotFound::Key {
                    arn: raw.to_owned(),
                }));
            }
            Ok(KeyRef::KeyArn { scope, id })
        } else if resource.starts_with(ALIAS_PREFIX) {
            let name = AliasName::parse(resource).map_err(|_| KmsError::invalid_arn(raw))?;
            if elsewhere {
                return Err(KmsError::NotFound(NotFound::Alias {
                    arn: raw.to_owned(),
                }));
            }
            Ok(KeyRef::AliasArn { scope, name })
        } else {
            Err(KmsError::invalid_arn(raw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn new_ids_ascend_with_their_creation_time_and_are_each_new() {
        let millis = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let stamp = |id: &KeyId| {
            let mut b = [0u8; 8];
            b[2..].copy_from_slice(&id.as_bytes()[..6]);
            u64::from_be_bytes(b)
        };
        let before = millis();
        let mut ids: Vec<KeyId> = Vec::new();
        // Ids over at least three milliseconds.
        while ids.len() < 2000 || millis() < before + 3 {
            ids.push(KeyId::generate());
        }
        let after = millis();
        let distinct: std::collections::HashSet<_> = ids.iter().map(|id| *id.as_bytes()).collect();
        assert_eq!(distinct.len(), ids.len());
        for id in &ids {
            // The creation time (a wall clock that stepped back meanwhile aside).
            assert!((before..=after).contains(&stamp(id)), "{id}");
            let text = id.to_string();
            assert_eq!(text.len(), 36);
            assert_eq!(&text[14..15], "7", "{text}");
            assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
            assert_eq!(KeyId::parse(&text), Some(*id));
        }
        // Storage order is what the indexes sort by: an id of a later millisecond sorts after.
        for pair in ids.windows(2) {
            if stamp(&pair[0]) < stamp(&pair[1]) {
                assert!(pair[0].storage_bytes() < pair[1].storage_bytes());
            }
        }
        assert!(stamp(&ids[0]) < stamp(ids.last().unwrap()));
        // Within one millisecond ids differ in their random bits, not by a counter: the last
        // 62 bits of two ids created back to back are not one apart (a chance of 2^-62).
        let (a, b) = (KeyId::generate(), KeyId::generate());
        let low = |id: &KeyId| u64::from_be_bytes(id.as_bytes()[8..].try_into().unwrap());
        assert_ne!(low(&b).wrapping_sub(low(&a)), 1);
        let mrk = KeyId::generate_multi_region();
        assert!(mrk.to_string().starts_with("mrk-"));
        assert_eq!(KeyId::parse(&mrk.to_string()), Some(mrk));
        assert!(stamp(&mrk) >= before);
    }

    #[test]
    fn parses_all_four_forms() {
        let id = KeyId::parse(ID).unwrap();
        let scope = Scope::new("111122223333", "us-west-2");
        assert_eq!(KeyRef::parse(ID, KeyRefForms::Any).unwrap(), KeyRef::Id(id));
        assert_eq!(
            KeyRef::parse(&scope.key_arn(&id), KeyRefForms::KeyOnly).unwrap(),
            KeyRef::KeyArn {
                scope: scope.clone(),
                id
            }
        );
        let name = AliasName::parse("alias/app").unwrap();
        assert_eq!(
            KeyRef::parse("alias/app", KeyRefForms::Any).unwrap(),
            KeyRef::Alias(name.clone())
        );
        assert_eq!(
            KeyRef::parse(&scope.alias_arn(&name), KeyRefForms::Any).unwrap(),
            KeyRef::AliasArn { scope, name }
        );
    }

    #[test]
    fn rejects_malformed_ids_as_not_found() {
        for raw in [
            "",
            "fake-key-id",
            "1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:x",
        ] {
            let err = KeyRef::parse(raw, KeyRefForms::Any).unwrap_err();
            assert!(
                matches!(err, KmsError::NotFound(_) | KmsError::InvalidArn(_)),
                "{raw}: {err:?}"
            );
        }
    }

    #[test]
    fn arns_of_another_partition_name_nothing_here() {
        let key = format!("arn:aws-cn:kms:us-east-1:111122223333:key/{ID}");
        assert_eq!(
            KeyRef::parse(&key, KeyRefForms::Any),
            Err(KmsError::NotFound(NotFound::Key { arn: key.clone() }))
        );
        let alias = "arn:aws-us-gov:kms:us-east-1:111122223333:alias/app";
        assert_eq!(
            KeyRef::parse(alias, KeyRefForms::Any),
            Err(KmsError::NotFound(NotFound::Alias {
                arn: alias.to_owned()
            }))
        );
    }

    #[test]
    fn account_ids_are_aws_or_alibaba_shaped() {
        let aws = AccountId::parse("111122223333").unwrap();
        assert!(aws.serves_aws());
        let uid = AccountId::parse("1234567890123456").unwrap();
        assert!(!uid.serves_aws());
        for bad in [
            "",
            "12",
            "1111222233334",
            "11112222333a",
            "12345678901234567",
            "+11122223333",
        ] {
            assert_eq!(AccountId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn aliases_refused_where_only_keys_are_accepted() {
        assert!(matches!(
            KeyRef::parse("alias/app", KeyRefForms::KeyOnly),
            Err(KmsError::NotFound(NotFound::AliasNotAccepted { .. }))
        ));
        let arn = "arn:aws:kms:us-east-1:111122223333:alias/app";
        assert!(matches!(
            KeyRef::parse(arn, KeyRefForms::KeyOnly),
            Err(KmsError::InvalidArn(_))
        ));
    }

    #[test]
    fn multi_region_ids_are_well_formed_or_invalid() {
        let id = "mrk-1234abcd12ab34cd56ef1234567890ab";
        let parsed = KeyId::parse(id).unwrap();
        assert!(parsed.is_multi_region());
        assert_eq!(parsed.to_string(), id);
        assert_eq!(KeyId::from_storage(&parsed.storage_bytes()), Some(parsed));
        assert_eq!(
            KeyRef::parse(id, KeyRefForms::KeyOnly).unwrap(),
            KeyRef::Id(parsed)
        );
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
        assert!(matches!(
            KeyRef::parse(&arn, KeyRefForms::Any).unwrap(),
            KeyRef::KeyArn { id, .. } if id == parsed
        ));
        // The same 16 bytes as an ordinary id are another key.
        let plain = KeyId::from_bytes(*parsed.as_bytes());
        assert_ne!(plain, parsed);
        assert_ne!(plain.storage_bytes(), parsed.storage_bytes());
        let fresh = KeyId::generate_multi_region();
        assert_eq!(KeyId::parse(&fresh.to_string()), Some(fresh));
        for bad in [
            "mrk-fake",
            "mrk-1234ABCD12ab34cd56ef1234567890ab",
            "mrk-1234abcd",
        ] {
            assert!(matches!(
                KeyRef::parse(bad, KeyRefForms::Any),
                Err(KmsError::NotFound(NotFound::InvalidKeyId { .. }))
            ));
        }
    }

    #[test]
    fn alias_name_rules() {
        assert!(AliasName::parse("alias/a-b_c:d/e").is_ok());
        assert!(matches!(
            AliasName::parse("app"),
            Err(KmsError::Validation(_))
        ));
        assert!(matches!(
            AliasName::parse("alias/"),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert!(matches!(
            AliasName::parse("alias/sp ace"),
            Err(KmsError::InvalidAliasName(_))
        ));
        let long = format!("alias/{}", "a".repeat(251));
        assert!(matches!(
            AliasName::parse(&long),
            Err(KmsError::InvalidAliasName(_))
        ));
        assert!(AliasName::parse("alias/aws/x").unwrap().is_reserved());
    }
}
