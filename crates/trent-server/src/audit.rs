//! The audit trail's server side: rendering each request as a CloudTrail record, handing it to
//! the engine so that it commits with the request's change (or on its own, before the answer),
//! and appending committed records to the JSON-lines sink.
//!
//! Owns the CloudTrail record shape (`userIdentity`, `resources`, the fixed members) and the rule
//! of what may never be recorded: request and response members that carry plaintext,
//! ciphertext, key material, signatures, MACs or import tokens are dropped by name, in both
//! dialects ([`SECRET_MEMBERS`]). Must not decide anything about keys.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Map, Value};
use trent_core::audit::{AuditAttribute, AuditEvent, AuditHook};
use trent_core::engine::Caller;
use trent_core::store::Write;
use trent_core::{Identity, PrincipalType, Timestamp};

/// The CloudTrail record version Trent writes.
pub const EVENT_VERSION: &str = "1.08";
/// `eventSource` of AWS requests.
pub const AWS_EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventSource` of Alibaba Cloud requests.
pub const ALIYUN_EVENT_SOURCE: &str = "kms.aliyuncs.com";
/// CloudTrail's resource type of a KMS key.
pub const KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";
/// Default retention, as CloudTrail's event history.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

/// Request and response members never recorded, whatever the operation or dialect: they carry
/// plaintext, ciphertext, key material, signatures, MACs, secrets or import tokens. Matched
/// case-insensitively on the member name, at any depth.
pub const SECRET_MEMBERS: &[&str] = &[
    // AWS
    "Plaintext",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "SharedSecretCiphertextBlob",
    "Message",
    "Signature",
    "Mac",
    "ImportToken",
    "EncryptedKeyMaterial",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "PublicKey",
    "SharedSecret",
    "Recipient",
    "GrantTokens",
    "KeyStorePassword",
    "XksProxyAuthenticationCredential",
    // Alibaba
    "Digest",
    "Value",
    "PublicKeyBlob",
    "SecretData",
    "Aad",
    "EncryptedPrivateKey",
    "KeyPairBlob",
    // Signing parameters of Alibaba's RPC requests (not secrets, but not the request either).
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
];

/// Alibaba RPC common parameters that are not the operation's own.
const ALIYUN_COMMON: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "AccessKeyId",
    "SecurityToken",
];

fn is_secret(name: &str) -> bool {
    SECRET_MEMBERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// CloudTrail's member names: the wire name with its first letter in lower case.
fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A request or response JSON object as CloudTrail logs it: secret members dropped, names in
/// camel case (except inside encryption contexts, whose keys are the caller's data).
pub fn sanitize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if is_secret(k) {
                    continue;
                }
                let v = if k.starts_with("EncryptionContext") {
                    v.clone()
                } else {
                    sanitize(v)
                };
                out.insert(camel(k), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sanitize).collect()),
        other => other.clone(),
    }
}

/// An Alibaba request's parameters as requestParameters: the operation's own, secrets dropped.
pub fn sanitize_params<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut out = Map::new();
    for (k, v) in params {
        if is_secret(k) || ALIYUN_COMMON.contains(&k) {
            continue;
        }
        out.insert(camel(k), Value::String(v.to_owned()));
    }
    Value::Object(out)
}

/// `2026-12-04T17:46:30Z`.
pub fn event_time(t: Timestamp) -> String {
    let basic = trent_aws::sigv4::format_amz_date(t.0.div_euclid(1000));
    // YYYYMMDDTHHMMSSZ -> YYYY-MM-DDTHH:MM:SSZ
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &basic[0..4],
        &basic[4..6],
        &basic[6..8],
        &basic[9..11],
        &basic[11..13],
        &basic[13..15]
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (or with fractional seconds) or epoch seconds.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some(Timestamp((secs * 1000.0) as i64));
    }
    let s = s.trim_end_matches('Z');
    let s = s.split('.').next()?;
    let basic: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    trent_aws::sigv4::parse_amz_date(&format!("{basic}Z")).map(|secs| Timestamp(secs * 1000))
}

/// Who made a request, as far as it is known.
#[derive(Debug, Clone)]
pub enum Who {
    /// Authenticated.
    Caller(Arc<Identity>, String),
    /// Not authenticated: the access key it claimed (if any) and that key's account (if the key
    /// exists).
    Claimed {
        access_key_id: Option<String>,
        account: Option<String>,
    },
}

impl Who {
    pub fn of(caller: &Caller) -> Who {
        Who::Caller(caller.identity.clone(), caller.access_key_id.clone())
    }

    fn account(&self) -> String {
        match self {
            Who::Caller(identity, _) => identity.principal.account().to_owned(),
            Who::Claimed { account, .. } => account.clone().unwrap_or_default(),
        }
    }

    fn access_key_id(&self) -> Option<&str> {
        match self {
            Who::Caller(_, key) => Some(key),
            Who::Claimed { access_key_id, .. } => access_key_id.as_deref(),
        }
    }

    /// CloudTrail's `Username` of the event: "root", the user's name, or the role session's.
    fn username(&self) -> Option<String> {
        let Who::Caller(identity, _) = self else {
            return None;
        };
        let p = &identity.principal;
        Some(match p.kind() {
            PrincipalType::Account => "root".to_owned(),
            PrincipalType::User => p.username().unwrap_or_default().to_owned(),
            PrincipalType::AssumedRole => p.arn().rsplit('/').next().unwrap_or_default().to_owned(),
        })
    }

    fn user_identity<'a>(&'a self, time: &'a str) -> UserIdentity<'a> {
        match self {
            Who::Claimed {
                access_key_id,
                account,
            } => UserIdentity {
                kind: "Unknown",
                account_id: account.as_deref(),
                access_key_id: access_key_id.as_deref(),
                ..UserIdentity::default()
            },
            Who::Caller(identity, access_key_id) => {
                let p = &identity.principal;
                let mut v = UserIdentity {
                    kind: match p.kind() {
                        PrincipalType::Account => "Root",
                        PrincipalType::User => "IAMUser",
                        PrincipalType::AssumedRole => "AssumedRole",
                    },
                    principal_id: Some(p.userid()),
                    arn: Some(p.arn()),
                    account_id: Some(p.account()),
                    access_key_id: Some(access_key_id),
                    ..UserIdentity::default()
                };
                match p.kind() {
                    PrincipalType::User => v.user_name = Some(p.username()),
                    PrincipalType::AssumedRole => {
                        let role_arn = p.role_arn().unwrap_or_default();
                        v.session_context = Some(SessionContext {
                            session_issuer: SessionIssuer {
                                kind: "Role",
                                principal_id: p.userid().split(':').next().unwrap_or_default(),
                                arn: role_arn,
                                account_id: p.account(),
                                user_name: role_arn.rsplit('/').next().unwrap_or_default(),
                            },
                            attributes: SessionAttributes {
                                creation_date: time,
                                mfa_authenticated: "false",
                            },
                        });
                    }
                    PrincipalType::Account => {}
                }
                v
            }
        }
    }
}

/// CloudTrail's `userIdentity`, members in the order CloudTrail writes them.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    /// An IAM user's name (null for a user without one, as before).
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    session_issuer: SessionIssuer<'a>,
    attributes: SessionAttributes<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes<'a> {
    creation_date: &'a str,
    mfa_authenticated: &'a str,
}

/// One record as CloudTrail writes it, members in CloudTrail's order, serialized straight from
/// the request's parts (no intermediate JSON tree).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'a str,
    user_identity: UserIdentity<'a>,
    event_time: &'a str,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Value,
    response_elements: &'a Value,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    /// One GUID on every account's copy of a call that used another account's key.
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    shared_event_id: Option<&'a str>,
    read_only: bool,
    resources: Vec<Resource<'a>>,
    event_type: &'a str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'a str,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

/// What the server knows of a request before it runs.
#[derive(Debug, Clone)]
pub struct Draft {
    pub time: Timestamp,
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    pub event_source: &'static str,
    pub region: String,
    pub who: Who,
    /// Unknown when the request could not even be read far enough to name its operation.
    pub event_name: Option<String>,
    pub read_only: bool,
    pub request_parameters: Value,
    /// Key ARNs the request names (before it runs; an alias is not a key ARN).
    pub request_keys: Vec<String>,
}

/// How a request ended, for its record.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// (errorCode, errorMessage) of a failure.
    pub error: Option<(String, String)>,
    pub response_elements: Value,
    /// Key ARNs the response or the change names.
    pub keys: Vec<String>,
}

impl Draft {
    /// The request's records, complete: the caller's account's, and for a call that succeeded
    /// with keys of `others` (accounts whose keys the gate admitted for it, never accounts the
    /// caller merely named), each such account's copy too. CloudTrail delivers a successful
    /// cross-account call to both accounts, each copy with its own eventID and
    /// recipientAccountId and one sharedEventID; a refused or failed call only to the caller's.
    pub fn finish(&self, mut outcome: Outcome, others: &[String]) -> Vec<AuditEvent> {
        let account = self.who.account();
        let mut keys = std::mem::take(&mut outcome.keys);
        for k in &self.request_keys {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        let mut recipients = vec![account.clone()];
        if outcome.error.is_none() {
            for owner in others {
                if !recipients.contains(owner) {
                    recipients.push(owner.clone());
                }
            }
        }
        let shared = (recipients.len() > 1).then(|| uuid::Uuid::new_v4().to_string());
        recipients
            .into_iter()
            .map(|recipient| self.render(&outcome, &keys, &account, recipient, shared.as_deref()))
            .collect()
    }

    /// One account's copy of the record.
    fn render(
        &self,
        outcome: &Outcome,
        keys: &[String],
        account: &str,
        recipient: String,
        shared_event_id: Option<&str>,
    ) -> AuditEvent {
        let time = event_time(self.time);
        // Time-ordered (v7), so the EventId index is appended to rather than written at random.
        let event_id = uuid::Uuid::now_v7().to_string();
        let event_name = self.event_name.clone().unwrap_or_default();
        let record = Record {
            event_version: EVENT_VERSION,
            user_identity: self.who.user_identity(&time),
            event_time: &time,
            event_source: self.event_source,
            event_name: &event_name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: &self.user_agent,
            error_code: outcome
                .error
                .as_ref()
                .map(|(code, _)| bounded(code, ERROR_MAX)),
            error_message: outcome
                .error
                .as_ref()
                .map(|(_, message)| bounded(message, ERROR_MAX)),
            request_parameters: &self.request_parameters,
            response_elements: &outcome.response_elements,
            request_id: &self.request_id,
            event_id: &event_id,
            shared_event_id,
            read_only: self.read_only,
            resources: keys
                .iter()
                .map(|arn| Resource {
                    account_id: arn.split(':').nth(4).unwrap_or(account),
                    kind: KEY_RESOURCE_TYPE,
                    arn,
                })
                .collect(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: &recipient,
            event_category: "Management",
        };
        // Serializing borrowed strings and JSON values into a String cannot fail.
        let mut body = serde_json::to_string(&record).unwrap_or_default();
        // Only a record past the limit can hold a field past it: the common record is
        // serialized once.
        if body.len() > ELEMENTS_MAX {
            let omitted = serde_json::json!({ "omitted": true });
            let within =
                |v: &'_ Value| serde_json::to_vec(v).map_or(0, |b| b.len()) <= ELEMENTS_MAX;
            let record = Record {
                request_parameters: if within(record.request_parameters) {
                    record.request_parameters
                } else {
                    &omitted
                },
                response_elements: if within(record.response_elements) {
                    record.response_elements
                } else {
                    &omitted
                },
                ..record
            };
            body = serde_json::to_string(&record).unwrap_or_default();
        } else {
            drop(record);
        }

        let mut attributes = vec![
            (AuditAttribute::EventId, event_id.clone()),
            (AuditAttribute::EventName, event_name),
            (AuditAttribute::ReadOnly, self.read_only.to_string()),
            (AuditAttribute::EventSource, self.event_source.to_owned()),
        ];
        if let Some(u) = self.who.username() {
            attributes.push((AuditAttribute::Username, u));
        }
        if let Some(k) = self.who.access_key_id() {
            attributes.push((AuditAttribute::AccessKeyId, k.to_owned()));
        }
        if !keys.is_empty() {
            attributes.push((AuditAttribute::ResourceType, KEY_RESOURCE_TYPE.to_owned()));
        }
        attributes.extend(
            keys.iter()
                .map(|arn| (AuditAttribute::ResourceName, arn.clone())),
        );
        AuditEvent {
            account: recipient,
            time: self.time,
            event_id,
            body,
            attributes,
        }
    }
}

/// Key ARNs a change touches.
pub fn keys_of(writes: &[Write]) -> Vec<String> {
    let mut keys = Vec::new();
    for w in writes {
        let arn = match w {
            Write::InsertKey(r) | Write::UpdateKey { record: r, .. } => r.arn(),
            Write::DeleteKey { scope, id, .. } => scope.key_arn(id),
            Write::InsertAlias(a) | Write::RetargetAlias { alias: a, .. } => {
                a.scope.key_arn(&a.target)
            }
            Write::DeleteAlias {
                scope,
                expected_target,
                ..
            } => scope.key_arn(expected_target),
            Write::Audit(_) => continue,
        };
        if !keys.contains(&arn) {
            keys.push(arn);
        }
    }
    keys
}

/// The request's hook: the engine asks it for the records when it commits a change.
pub struct RequestAudit {
    draft: Draft,
    /// Accounts other than the caller's whose keys the gate admitted (`used_key_of`).
    others: Mutex<Vec<String>>,
    pending: Mutex<Vec<AuditEvent>>,
    committed: Mutex<Vec<AuditEvent>>,
}

impl std::fmt::Debug for RequestAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestAudit")
            .field("request_id", &self.draft.request_id)
            .finish_non_exhaustive()
    }
}

impl RequestAudit {
    pub fn new(draft: Draft) -> Self {
        RequestAudit {
            draft,
            others: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
            committed: Mutex::new(Vec::new()),
        }
    }

    pub fn draft(&self) -> &Draft {
        &self.draft
    }

    /// The request's records (see [`Draft::finish`]).
    pub fn finish(&self, outcome: Outcome) -> Vec<AuditEvent> {
        let others = self.others.lock().clone();
        self.draft.finish(outcome, &others)
    }

    /// The records committed with the request's change, if there was one.
    pub fn take_committed(&self) -> Option<Vec<AuditEvent>> {
        let records = std::mem::take(&mut *self.committed.lock());
        (!records.is_empty()).then_some(records)
    }

    pub fn is_committed(&self) -> bool {
        !self.committed.lock().is_empty()
    }
}

impl AuditHook for RequestAudit {
    fn record_for(&self, writes: &[Write]) -> Vec<AuditEvent> {
        if self.is_committed() {
            return Vec::new();
        }
        let records = self.finish(Outcome {
            error: None,
            response_elements: change_elements(
                self.draft.event_name.as_deref().unwrap_or_default(),
                writes,
            ),
            keys: keys_of(writes),
        });
        self.pending.lock().clone_from(&records);
        records
    }

    fn used_key_of(&self, account: &str) {
        let mut others = self.others.lock();
        if !others.iter().any(|a| a == account) {
            others.push(account.to_owned());
        }
    }

    fn committed(&self) {
        let records = std::mem::take(&mut *self.pending.lock());
        if !records.is_empty() {
            *self.committed.lock() = records;
        }
    }
}

/// The trail's settings and its JSON-lines sink.
#[derive(Debug)]
pub struct AuditTrail {
    sink: Option<Mutex<std::fs::File>>,
}

impl AuditTrail {
    /// A trail appending to `sink` (created if missing) when given.
    pub fn open(sink: Option<&Path>) -> Result<Self, String> {
        let sink = sink
            .map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(Mutex::new)
                    .map_err(|e| format!("cannot open audit log {}: {e}", path.display()))
            })
            .transpose()?;
        Ok(AuditTrail { sink })
    }

    /// Appends a committed record to the sink (one JSON line). A sink failure is logged: the
    /// record is already durable in the store, which is the trail of record.
    pub fn emit(&self, event: &AuditEvent) {
        if let Some(sink) = &self.sink {
            let mut file = sink.lock();
            if let Err(e) = writeln!(file, "{}", event.body) {
                tracing::error!(cause = %e, "cannot append to the audit log");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_dropped_and_names_camel_cased() {
        let v = json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "EncryptionContext": {"Dept": "x"},
                       "Tags": [{"TagKey": "a", "TagValue": "b"}], "GrantTokens": ["t"],
                       "SharedSecretCiphertextBlob": "Y2lwaGVy"});
        assert_eq!(
            sanitize(&v),
            json!({"keyId": "k", "encryptionContext": {"Dept": "x"},
                   "tags": [{"tagKey": "a", "tagValue": "b"}]})
        );
        let p = sanitize_params(
            [
                ("Action", "Encrypt"),
                ("KeyId", "k"),
                ("Plaintext", "s"),
                ("SignatureNonce", "n"),
            ]
            .into_iter(),
        );
        assert_eq!(p, json!({"keyId": "k"}));
    }

    #[test]
    fn times_render_and_parse() {
        let t = Timestamp(1_764_870_390_000);
        assert_eq!(event_time(t), "2025-12-04T17:46:30Z");
        assert_eq!(parse_time("2025-12-04T17:46:30Z"), Some(t));
        assert_eq!(parse_time("1764870390"), Some(t));
    }
}

/// CloudTrail's `readOnly`: whether the operation only reads (cryptographic operations
/// included, as AWS marks them), by its name, in either dialect.
pub fn read_only(event_name: &str) -> bool {
    const READS: &[&str] = &[
        "Describe",
        "Get",
        "List",
        "Generate",
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "Sign",
        "Verify",
        "Derive",
        "Asymmetric",
        "Open",
        "Export",
    ];
    READS.iter().any(|p| event_name.starts_with(p))
}

/// The response elements AWS logs for a committed change: CreateKey's key metadata, and the
/// deletion schedule of ScheduleKeyDeletion/CancelKeyDeletion; null for everything else.
pub fn change_elements(event_name: &str, writes: &[Write]) -> Value {
    let record = writes.iter().find_map(|w| match w {
        Write::InsertKey(r) | Write::UpdateKey { record: r, .. } => Some(r),
        _ => None,
    });
    let Some(r) = record else {
        return Value::Null;
    };
    match event_name {
        "CreateKey" => json!({
            "keyMetadata": sanitize(&serde_json::to_value(trent_aws::ops::metadata(r)).unwrap_or(Value::Null))
        }),
        "ScheduleKeyDeletion" => json!({
            "keyId": r.arn(),
            "keyState": r.meta.state.as_str(),
            "deletionDate": r.meta.deletion_date.map(event_time),
            "pendingWindowInDays": r.meta.pending_window_days,
        }),
        "CancelKeyDeletion" => json!({ "keyId": r.arn() }),
        _ => Value::Null,
    }
}

/// Key ARNs named by the members of a request or response (`KeyId` and its kin), in the
/// caller's scope for bare key ids. Aliases and malformed values name no key.
pub fn key_arns<'a>(
    values: impl Iterator<Item = &'a str>,
    scope: Option<&trent_core::Scope>,
) -> Vec<String> {
    let mut out = Vec::new();
    for v in values {
        let arn = match trent_core::KeyRef::parse(v, trent_core::KeyRefForms::Any) {
            Ok(trent_core::KeyRef::Id(id)) => scope.map(|s| s.key_arn(&id)),
            Ok(trent_core::KeyRef::KeyArn { scope, id }) => Some(scope.key_arn(&id)),
            _ => None,
        };
        if let Some(arn) = arn.filter(|a| !out.contains(a)) {
            out.push(arn);
        }
    }
    out
}

/// Members that name keys.
const KEY_MEMBERS: &[&str] = &["KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"];

/// Key-naming string values of a JSON object (top level and `KeyMetadata`).
pub fn json_keys(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for obj in [Some(v), v.get("KeyMetadata")].into_iter().flatten() {
        for m in KEY_MEMBERS {
            if let Some(s) = obj.get(*m).and_then(Value::as_str) {
                out.push(s);
            }
        }
    }
    out
}

/// The access key a request claims (SigV4 or ACS `Credential=`, or Alibaba's `AccessKeyId`
/// parameter), and the region its credential scope names, read without trusting them.
pub fn claimed_credential(
    authorization: Option<&str>,
    access_key_param: Option<&str>,
) -> (Option<String>, Option<String>) {
    if let Some(cred) = authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or_default())
    {
        let mut parts = cred.split('/');
        let key = parts.next().filter(|k| !k.is_empty()).map(str::to_owned);
        let region = parts.nth(1).map(str::to_owned);
        return (key, region);
    }
    (access_key_param.map(str::to_owned), None)
}

/// The most characters kept of what an unadmitted request claims (its operation, access key
/// and region: AWS's access key ids are at most 128 characters, operation names and regions
/// far shorter), so that a stranger cannot make the trail store megabytes a request.
pub const CLAIM_MAX: usize = 128;
/// The most characters kept of a request's `User-Agent`.
pub const USER_AGENT_MAX: usize = 1024;

/// The most bytes of a record's `errorCode`, and of its `errorMessage`, as CloudTrail keeps.
pub const ERROR_MAX: usize = 1024;
/// The most bytes of a record's `requestParameters`, and of its `responseElements`, as JSON.
/// CloudTrail's limit: a larger one is replaced by `{"omitted": true}`, as CloudTrail marks a
/// field it cut.
pub const ELEMENTS_MAX: usize = 100 * 1024;

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncated(mut s: String, max: usize) -> String {
    let end = bounded(&s, max).len();
    s.truncate(end);
    s
}

/// The longest start of `s` of at most `max` bytes that ends at a character boundary.
fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a request claims about itself before it is admitted.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub event_name: Option<String>,
    pub access_key_id: Option<String>,
    pub region: Option<String>,
}

/// What the server knows of every request as it arrives.
#[derive(Debug, Clone)]
pub struct Facts {
    pub time: Timestamp,
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
}

impl Facts {
    pub fn of(state: &crate::AppState, parts: &axum::http::request::Parts, id: &str) -> Facts {
        Facts {
            time: state.kms.now(),
            request_id: id.to_owned(),
            source_ip: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip().to_string())
                .unwrap_or_default(),
            user_agent: truncated(
                parts
                    .headers
                    .get(axum::http::header::USER_AGENT)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
                USER_AGENT_MAX,
            ),
        }
    }

    pub fn draft(
        &self,
        who: Who,
        event_source: &'static str,
        region: String,
        event_name: Option<String>,
        request_parameters: Value,
        request_keys: Vec<String>,
    ) -> Draft {
        Draft {
            time: self.time,
            request_id: self.request_id.clone(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            event_source,
            region,
            read_only: event_name.as_deref().is_some_and(read_only),
            who,
            event_name,
            request_parameters,
            request_keys,
        }
    }

    /// The draft of a request that was not admitted: who it claimed to be (the claimed key's
    /// account, if the key exists), no parameters.
    pub fn unadmitted(&self, state: &crate::AppState, claim: Claim, source: &'static str) -> Draft {
        use trent_aws::sigv4::CredentialStore as _;
        let account = claim
            .access_key_id
            .as_deref()
            .and_then(|k| state.credentials.lookup(k))
            .map(|c| c.account_id.clone());
        // Unproven and sent by anyone: kept only as long as a real one can be.
        let bound = |s: Option<String>| s.map(|s| truncated(s, CLAIM_MAX));
        let claim = Claim {
            event_name: bound(claim.event_name),
            access_key_id: bound(claim.access_key_id),
            region: bound(claim.region),
        };
        self.draft(
            Who::Claimed {
                access_key_id: claim.access_key_id,
                account,
            },
            source,
            claim.region.unwrap_or_default(),
            claim.event_name,
            Value::Null,
            vec![],
        )
    }
}
