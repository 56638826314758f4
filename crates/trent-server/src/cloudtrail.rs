//! CloudTrail's `LookupEvents` on the KMS endpoint: AWS JSON 1.1, SigV4 for the `cloudtrail`
//! service, `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`.
//!
//! Owns the LookupEvents request and response shapes and their validation in CloudTrail's
//! words. A caller sees only its own account's events, and of those the ones recorded in the
//! Region it calls (CloudTrail's event history is per Region); the call is allowed to account
//! roots and to principals whose identity policy allows `cloudtrail:LookupEvents`.
//! Lookups are not themselves recorded (the trail records the KMS API).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trent_aws::AwsError;
use trent_core::audit::{AuditAttribute, AuditQuery};
use trent_core::engine::{Caller, Kms};
use trent_core::Timestamp;

/// The X-Amz-Target prefix of CloudTrail's API.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// The SigV4 service name.
pub const SIGNING_SERVICE: &str = "cloudtrail";
/// CloudTrail's page size limit (and default).
pub const MAX_RESULTS: usize = 50;
/// The IAM action.
pub const ACTION: &str = "cloudtrail:LookupEvents";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsRequest {
    lookup_attributes: Option<Vec<LookupAttribute>>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    event_category: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsResponse {
    events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    event_id: String,
    event_name: String,
    read_only: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    event_time: f64,
    event_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    resources: Vec<Resource>,
    cloud_trail_event: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    resource_type: String,
    resource_name: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::client(code, message)
}

/// Whether the caller may look events up: the account root always; anyone else by an Allow
/// (and no Deny) in its identity policy.
fn allowed(caller: &Caller) -> bool {
    let principal = &caller.identity.principal;
    if principal.is_root() {
        return true;
    }
    let Some(policy) = &caller.identity.policy else {
        return false;
    };
    let info = trent_policy::PrincipalInfo {
        arn: principal.arn(),
        account: principal.account(),
        role_arn: principal.role_arn(),
    };
    let context = trent_policy::MapContext::with_principal(&info);
    let evaluation = policy.evaluate(&trent_policy::Request {
        principal: &info,
        action: ACTION,
        resource: "*",
        context: &context,
    });
    !evaluation.explicit_deny && evaluation.allow != trent_policy::Allow::None
}

/// Answers a LookupEvents request.
/// A lookup by ReadOnly, EventSource or ResourceType examines at most `scan` records
/// ([`trent_core::audit::lookup_page`]).
pub fn lookup_events(
    kms: &Kms,
    caller: &Caller,
    body: &[u8],
    scan: usize,
) -> Result<Vec<u8>, AwsError> {
    let req: LookupEventsRequest =
        serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
            .map_err(|e| AwsError::serialization(e.to_string()))?;
    if !allowed(caller) {
        let p = &caller.identity.principal;
        return Err(invalid(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {ACTION} because no identity-based policy allows the {ACTION} action",
                p.arn()
            ),
        ));
    }
    let attribute = match req.lookup_attributes.as_deref().unwrap_or_default() {
        [] => None,
        [a] => {
            let key = AuditAttribute::parse(&a.attribute_key).ok_or_else(|| {
                invalid(
                    "InvalidLookupAttributesException",
                    format!("Lookup attribute key {} is not valid.", a.attribute_key),
                )
            })?;
            if a.attribute_value.is_empty() || a.attribute_value.len() > 2000 {
                return Err(invalid(
                    "InvalidLookupAttributesException",
                    "Lookup attribute value must be 1 to 2000 characters.",
                ));
            }
            Some((key, a.attribute_value.clone()))
        }
        _ => {
            return Err(invalid(
                "InvalidLookupAttributesException",
                "You can specify only one lookup attribute.",
            ))
        }
    };
    if let Some(c) = &req.event_category {
        if c != "insight" {
            return Err(invalid(
                "InvalidEventCategoryException",
                format!("Event category {c} is not valid."),
            ));
        }
        // Trent records no Insights events.
        return Ok(serde_json::to_vec(&LookupEventsResponse {
            events: vec![],
            next_token: None,
        })
        .unwrap_or_default());
    }
    let limit = match req.max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(
                "InvalidMaxResultsException",
                format!("MaxResults {n} is not valid: it must be between 1 and {MAX_RESULTS}."),
            ))
        }
    };
    let ms = |s: f64| Timestamp((s * 1000.0) as i64);
    let (start, end) = (req.start_time.map(ms), req.end_time.map(ms));
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(invalid(
                "InvalidTimeRangeException",
                "The start time must be before the end time.",
            ));
        }
    }
    let account = caller.identity.principal.account().to_owned();
    let after = req
        .next_token
        .as_deref()
        .map(|t| decode_token(t, &account))
        .transpose()?;
    let page = kms
        .audit_lookup(
            &AuditQuery {
                account: account.clone(),
                attribute,
                start,
                end,
                after,
                down_to: None,
                limit,
            },
            &caller.scope.region.0,
            scan,
        )
        .map_err(|e| AwsError::internal_with(e.to_string()))?;
    let next_token = page.resume.map(|last| encode_token(last, &account));
    let events = page
        .events
        .into_iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.body).unwrap_or_default();
            let s = |path: &[&str]| {
                path.iter()
                    .try_fold(&v, |v, k| v.get(*k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let resources = v
                .get("resources")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|r| {
                            Some(Resource {
                                resource_type: r.get("type")?.as_str()?.to_owned(),
                                resource_name: r.get("ARN")?.as_str()?.to_owned(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Event {
                event_id: e.event_id.clone(),
                event_name: s(&["eventName"]).unwrap_or_default(),
                read_only: v
                    .get("readOnly")
                    .and_then(Value::as_bool)
                    .unwrap_or_default()
                    .to_string(),
                access_key_id: s(&["userIdentity", "accessKeyId"]),
                event_time: e.time.epoch_seconds().floor(),
                event_source: s(&["eventSource"]).unwrap_or_default(),
                username: username(&v),
                resources,
                cloud_trail_event: e.body,
            }
        })
        .collect();
    serde_json::to_vec(&LookupEventsResponse { events, next_token })
        .map_err(|e| AwsError::internal_with(e.to_string()))
}

/// CloudTrail's `Username`: "root", the IAM user's name, or the role session's name.
fn username(v: &Value) -> Option<String> {
    let id = v.get("userIdentity")?;
    match id.get("type")?.as_str()? {
        "Root" => Some("root".into()),
        "IAMUser" => id.get("userName")?.as_str().map(str::to_owned),
        "AssumedRole" => id
            .get("arn")?
            .as_str()?
            .rsplit('/')
            .next()
            .map(str::to_owned),
        _ => None,
    }
}

/// The token names the last event returned and the account, so a token is useless to another
/// account.
fn encode_token((time, seq): (Timestamp, u64), account: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{account}/{}/{seq}", time.0))
}

fn decode_token(token: &str, account: &str) -> Result<(Timestamp, u64), AwsError> {
    let bad = || invalid("InvalidNextTokenException", "The NextToken is not valid.");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.split('/');
    let (Some(a), Some(t), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if a != account {
        return Err(bad());
    }
    Ok((
        Timestamp(t.parse().map_err(|_| bad())?),
        s.parse().map_err(|_| bad())?,
    ))
}
