//! The Alibaba Cloud KMS dialect, API version `2016-01-20`, as Alibaba's SDKs speak it: RPC
//! style (`Action`, `Version` and parameters in the query string or a form body, or the action
//! in `x-acs-action`), ACS3/ACS4-HMAC-SHA256 and HMAC-SHA1 signatures, JSON responses carrying
//! `RequestId`, errors as `{"RequestId","HostId","Code","Message","Recommend"}` with Alibaba's
//! HTTP status.
//!
//! Owns the wire shapes, Alibaba's names (KeySpec `Aliyun_AES_256`, `acs:kms:` ARNs, key
//! versions) and the `KmsError` → Alibaba code mapping. Calls `trent-core` for every decision
//! about keys, with `Dialect::Aliyun` so the state table and transitions follow Alibaba. Must
//! not know HTTP servers or storage.

pub mod auth;
pub mod error;
pub mod ops;
pub mod params;
pub mod time;

pub use auth::{NonceClaim, Verified, Verifier};
pub use error::AliyunError;
pub use ops::{dispatch, Action, Ctx};
pub use params::Params;

use trent_core::Scope;

/// The only API version served.
pub const API_VERSION: &str = "2016-01-20";
/// The region of requests that name none: the current SDK's ACS3 signature carries no region.
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// Alibaba's JSON content type. (An XML content type would switch the Tea SDK's parser.)
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// Whether a request is in Alibaba's dialect: an ACS authorization, an `x-acs-action` header or
/// an `Action` parameter. (AWS's KMS protocol has none of these.)
pub fn is_aliyun_request(headers: &[(&str, &str)], params: &Params) -> bool {
    headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("x-acs-action")
            || (name.eq_ignore_ascii_case("authorization") && value.starts_with("ACS"))
    }) || params.get("Action").is_some()
}

/// The operation a verified request signed.
pub fn action(verified: &Verified) -> Result<Action, AliyunError> {
    if verified.version != API_VERSION {
        return Err(AliyunError::invalid("Version"));
    }
    if let Some(action) = Action::from_name(&verified.action) {
        return Ok(action);
    }
    if ops::NOT_YET_SERVED.contains(&verified.action.as_str()) {
        return Err(AliyunError::unsupported(&verified.action));
    }
    Err(AliyunError::new(
        404,
        "InvalidApi.NotFound",
        "Specified api is not found, please check your url and method.",
    ))
}

/// Where the caller acts: the credential's account, in the region the request names
/// (`RegionId`, or an ACS4 scope), else `default_region`.
pub fn scope(
    verified: &Verified,
    params: &Params,
    default_region: &str,
) -> Result<Scope, AliyunError> {
    let region = match (&verified.region, params.get("RegionId")) {
        (Some(scoped), Some(named)) if scoped != named => {
            return Err(AliyunError::invalid("RegionId"))
        }
        (Some(region), _) => region.as_str(),
        (None, Some(named)) => named,
        (None, None) => default_region,
    };
    let well_formed = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Err(AliyunError::invalid("RegionId"));
    }
    Ok(Scope::new(verified.account_id.clone(), region))
}
