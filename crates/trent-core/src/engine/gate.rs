//! The admission gate: the only way a use-case obtains a key, and the only place that consults
//! the key policy, the caller's identity policy and the key-state table.
//!
//! Order, as AWS decides (its "Policy evaluation logic" and KMS's "Troubleshooting key access"):
//! permission first (an explicit `Deny` in the key policy or the identity policy wins; then the
//! key policy may allow the caller directly, or delegate to its account, whose identity policy
//! must then allow too; the account root passes that part on its own; another account's caller
//! always needs its identity policy too), then the operation's own precondition, then the state
//! table. A caller refused learns nothing of the key's state; a caller of another account
//! learns nothing of whether the key exists.
//!
//! Condition keys are computed only when a policy asks for one ([`RequestContext`]), so the
//! default policy costs a principal match and an action match per request. Parsed key policies
//! are cached per key and policy text.
//!
//! Must not: parse a policy per request, or let a dialect decide anything here.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use trent_policy::{
    Allow, Context, Evaluation, Policy, PolicyKind, PrincipalInfo, Request, Values,
};

use super::cache::CACHE_CAPACITY;
use super::{Caller, Kms, LoadedKey};
use crate::blob::EncryptionContext;
use crate::error::{Denied, DenyReason, KmsError};
use crate::ids::{AliasName, KeyRef, Scope};
use crate::model::*;
use crate::state::{self, Authority, Dialect, KeyOp};

/// A check of a key record an operation makes before the state table.
pub type Precondition = dyn Fn(&KeyRecord) -> Result<(), KmsError> + Sync;

/// What a request says that conditions may test, beyond who asks and which key.
#[derive(Default, Clone, Copy)]
pub struct Facts<'a> {
    pub encryption_context: Option<&'a EncryptionContext>,
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    pub signing_algorithm: Option<SigningAlgorithm>,
    /// CreateKey's requested key properties (key operations read them from the key).
    pub key_spec: Option<KeySpec>,
    pub key_usage: Option<KeyUsage>,
    pub origin: Option<Origin>,
    /// Tags the request sets (`aws:RequestTag/<k>`, `aws:TagKeys`).
    pub tags: Option<&'a [(String, String)]>,
    /// Tag keys the request removes (`aws:TagKeys`).
    pub tag_keys: Option<&'a [String]>,
    pub bypass_lockout: Option<bool>,
    /// CreateKey's `MultiRegion` (key operations read it from the key).
    pub multi_region: Option<bool>,
    /// ReplicateKey's `ReplicaRegion` (`kms:ReplicaRegion`).
    pub replica_region: Option<&'a str>,
    /// UpdatePrimaryRegion's `PrimaryRegion` (`kms:PrimaryRegion`).
    pub primary_region: Option<&'a str>,
    /// The alias an alias operation changes.
    pub alias: Option<&'a AliasName>,
    /// CreateGrant: the grant asked for (its condition keys; a sub-grant's narrowing).
    pub new_grant: Option<&'a Grant>,
    /// RetireGrant: the id of the grant to retire.
    pub grant_id: Option<&'a str>,
    /// CreateGrant, ListGrants, RevokeGrant: `kms:GrantIsForAWSResource` is present (false:
    /// no AWS service calls Trent).
    pub grant_call: bool,
    /// ScheduleKeyDeletion's `PendingWindowInDays`
    /// (`kms:ScheduleKeyDeletionPendingWindowInDays`).
    pub pending_window_days: Option<u32>,
    /// EnableKeyRotation's `RotationPeriodInDays` (`kms:RotationPeriodInDays`).
    pub rotation_period_days: Option<u32>,
    /// Sign and Verify's `MessageType` (`kms:MessageType`).
    pub message_type: Option<MessageType>,
    /// ReEncrypt: whether its source and destination are one key (`kms:ReEncryptOnSameKey`).
    pub same_key: Option<bool>,
    /// GenerateDataKeyPair's `KeyPairSpec` (`kms:DataKeyPairSpec`).
    pub data_key_pair_spec: Option<DataKeyPairSpec>,
    /// GenerateMac and VerifyMac's `MacAlgorithm` (`kms:MacAlgorithm`).
    pub mac_algorithm: Option<MacAlgorithm>,
    /// DeriveSharedSecret's `KeyAgreementAlgorithm` (`kms:KeyAgreementAlgorithm`).
    pub key_agreement_algorithm: Option<KeyAgreementAlgorithm>,
    /// GetParametersForImport's `WrappingAlgorithm` and `WrappingKeySpec`
    /// (`kms:WrappingAlgorithm`, `kms:WrappingKeySpec`).
    pub wrapping: Option<(WrappingAlgorithm, WrappingKeySpec)>,
    /// ImportKeyMaterial's `ValidTo`, `None` for KEY_MATERIAL_DOES_NOT_EXPIRE
    /// (`kms:ExpirationModel`, and `kms:ValidTo` when it expires).
    pub import_valid_to: Option<Option<Timestamp>>,
    /// ScheduleKeyDeletion and DisableKey: `kms:TrailingDaysWithoutKeyUsage` is present.
    pub usage_days: bool,
    /// A check of the key that the operation makes before the state table (a key of the wrong
    /// kind is refused whatever its state).
    pub precondition: Option<&'a Precondition>,
}

/// What the request carries must be within Trent's limits before a policy reads it. An
/// encryption context a new ciphertext will be bound to is at most
/// [`crate::blob::CONTEXT_MAX_BYTES`] and holds no two keys that differ only in letter case: a
/// policy names a context key without regard to case (`kms:EncryptionContext:app` reads `App`
/// too), so with both `App` and `app` it could read only one of them, and a caller could pick
/// the one a Deny does not test. Decrypt and ReEncrypt's source read ciphertexts made before
/// these rules, so there a context is bounded only by [`crate::blob::CONTEXT_READ_MAX_BYTES`]
/// (what it costs the conditions that read it), and keeps its keys: it can no longer be made.
fn check_facts(op: KeyOp, facts: &Facts<'_>) -> Result<(), KmsError> {
    let Some(context) = facts.encryption_context else {
        return Ok(());
    };
    let opens = matches!(op, KeyOp::Decrypt | KeyOp::ReEncryptFrom);
    let limit = if opens {
        crate::blob::CONTEXT_READ_MAX_BYTES
    } else {
        crate::blob::CONTEXT_MAX_BYTES
    };
    if !crate::blob::context_within(context, limit) {
        return Err(KmsError::Validation(format!(
            "The encryption context must not be longer than {limit} bytes (its keys and values together)."
        )));
    }
    if !opens {
        if let Some(k) = crate::blob::key_equal_but_for_case(context) {
            return Err(KmsError::Validation(format!(
                "The encryption context has keys that differ only in letter case ({k} and another): a key policy cannot tell them apart."
            )));
        }
    }
    Ok(())
}

impl fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facts")
            .field("encryption_algorithm", &self.encryption_algorithm)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

/// A key policy as the gate uses it: parsed, or `None` for a stored document not in AWS's
/// grammar (one set through the Alibaba dialect, in Alibaba's grammar), which the gate decides
/// as AWS's default policy: the key's account delegates to its identity policies.
pub(super) type KeyPolicy = Option<Arc<Policy>>;

impl Kms {
    /// Admits `op` for `caller` on the key `key` names (or, for operations that name no key,
    /// on `*` / the alias in `facts`): permission, then precondition, then the state table.
    pub(super) fn admit(
        &self,
        caller: &Caller,
        op: KeyOp,
        key: Option<&KeyRef>,
        facts: &Facts<'_>,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        check_facts(op, facts)?;
        let Some(key) = key else {
            let access = state::access(op);
            let resource = match (access.authority, facts.alias) {
                (Authority::AliasAndKey, Some(alias)) => caller.scope.alias_arn(alias),
                _ => "*".to_owned(),
            };
            let ctx = RequestContext::new(self, caller, None, None, facts);
            authorize_identity(caller, access.action, &resource, &ctx)?;
            return Ok(None);
        };
        // An operation AWS offers in the key's own account only refuses another account's key
        // before looking it up, alike whether it exists or not.
        if is_foreign(caller, key) && !state::access(op).authority.allows_other_accounts() {
            return Err(self.refuse_foreign(caller, op, key, facts));
        }
        let (scope, id) = self.resolve_admissible(caller, key, op, facts)?;
        let hide = |e| self.hide_foreign(caller, key, op, facts, e);
        let mut loaded = self.load(&scope, &id).map_err(hide)?;
        let foreign = scope.account != caller.scope.account;
        let decide = |loaded: &LoadedKey| {
            self.decide(
                caller,
                op,
                &loaded.record,
                &loaded.arn,
                &loaded.policy,
                request_alias(key),
                facts,
            )
        };
        let mut decision = decide(&loaded);
        let store_may_allow = matches!(
            &decision,
            Err(KmsError::AccessDenied(d)) if d.reason != DenyReason::ExplicitIdentityDeny
        );
        if store_may_allow && self.shares_store() {
            // A grant or key policy committed on another node may not have reached this
            // node's cache yet; a grant is usable at once with its token, as AWS documents.
            // A refusal the key's record could lift is therefore checked against the store
            // before it is given. If the store cannot answer, the refusal stands.
            if let Ok(fresh) = self.reload(&scope, &id) {
                decision = decide(&fresh);
                loaded = fresh;
            }
        }
        decision.map_err(|e| match e {
            // Refused as named: another account's caller does not learn which key an alias
            // ARN points at.
            KmsError::AccessDenied(d) if foreign => KmsError::AccessDenied(Denied {
                resource: key_ref_arn(key),
                ..d
            }),
            e => e,
        })?;
        if foreign {
            if let Some(hook) = &caller.audit {
                hook.used_key_of(&scope.account.0);
            }
        }
        Ok(Some(loaded))
    }

    /// The scope and id of the key `key` names, as the gate answers: another account's caller
    /// learns nothing of whether that key or alias exists (a missing one is refused as a key
    /// it may not use would be).
    pub(super) fn resolve_admissible(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        facts: &Facts<'_>,
    ) -> Result<(Scope, crate::KeyId), KmsError> {
        check_facts(op, facts)?;
        self.resolve_scoped(caller, key)
            .map_err(|e| self.hide_foreign(caller, key, op, facts, e))
    }

    /// The refusal of another account's key or alias, named as the request named it, alike
    /// whether it exists or not: the caller's own identity policy is evaluated either way, so
    /// that its explicit `Deny` is named as it is for a key that exists (a key that exists and
    /// whose policy does not name the caller's account is refused for want of a resource
    /// policy, as a missing one is).
    fn refuse_foreign(
        &self,
        caller: &Caller,
        op: KeyOp,
        key: &KeyRef,
        facts: &Facts<'_>,
    ) -> KmsError {
        let resource = key_ref_arn(key);
        let action = state::access(op).action;
        let ctx = RequestContext::new(self, caller, None, request_alias(key), facts);
        match authorize_identity(caller, action, &resource, &ctx) {
            Err(
                e @ KmsError::AccessDenied(Denied {
                    reason: DenyReason::ExplicitIdentityDeny,
                    ..
                }),
            ) => e,
            _ => refuse(caller, action, &resource, DenyReason::NoResourcePolicy),
        }
    }

    /// A NotFound for another account's key, as the refusal its caller gets for a key it may
    /// not use.
    fn hide_foreign(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        facts: &Facts<'_>,
        e: KmsError,
    ) -> KmsError {
        match e {
            KmsError::NotFound(_) if is_foreign(caller, key) => {
                self.refuse_foreign(caller, op, key, facts)
            }
            e => e,
        }
    }

    /// [`Kms::admit`] for operations that name a key.
    pub(super) fn admit_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        facts: &Facts<'_>,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        self.admit(caller, op, Some(key), facts)?
            .ok_or_else(|| KmsError::internal("admission of a key returned none"))
    }

    /// The decision on one key record, whose ARN is `arn` (also run on every fresh record
    /// inside a compare-and-set loop).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decide(
        &self,
        caller: &Caller,
        op: KeyOp,
        record: &KeyRecord,
        arn: &str,
        policy: &KeyPolicy,
        request_alias: Option<&AliasName>,
        facts: &Facts<'_>,
    ) -> Result<(), KmsError> {
        debug_assert_eq!(arn, record.arn(), "the ARN given is the record's");
        let access = state::access(op);
        let ctx = RequestContext::new(self, caller, Some(record), request_alias, facts);
        if record.scope.account != caller.scope.account && !access.authority.allows_other_accounts()
        {
            return Err(denied(caller, op, arn, DenyReason::NoResourcePolicy));
        }
        match access.authority {
            Authority::Identity => authorize_identity(caller, access.action, "*", &ctx)?,
            Authority::Grant => authorize_retire(caller, access.action, record, arn, &ctx)?,
            Authority::Key => authorize_key(caller, access.action, record, arn, policy, &ctx)?,
            Authority::OwnKey => authorize_key(caller, access.action, record, arn, policy, &ctx)?,
            Authority::AliasAndKey => {
                if let Some(alias) = facts.alias {
                    let alias_arn = caller.scope.alias_arn(alias);
                    authorize_identity(caller, access.action, &alias_arn, &ctx.without_key())?;
                }
                authorize_key(caller, access.action, record, arn, policy, &ctx)?;
            }
        }
        let check_state = || {
            state::check(caller.dialect, op, record.meta.state).map_err(|rejection| {
                KmsError::KeyState {
                    arn: arn.to_owned(),
                    rejection,
                }
            })
        };
        let precondition = || facts.precondition.map_or(Ok(()), |check| check(record));
        if state::state_before_precondition(caller.dialect, op) {
            check_state()?;
            precondition()
        } else {
            precondition()?;
            check_state()
        }
    }

    /// [`Kms::decide`] for a record read from the store (inside a compare-and-set loop): its
    /// policy and ARN taken from it, no alias named by the request.
    pub(super) fn decide_stored(
        &self,
        caller: &Caller,
        op: KeyOp,
        record: &KeyRecord,
        facts: &Facts<'_>,
    ) -> Result<(), KmsError> {
        let policy = self.key_policy(record);
        self.decide(caller, op, record, &record.arn(), &policy, None, facts)
    }

    /// The parsed policy of a key record, from the cache when its text is unchanged.
    pub(super) fn key_policy(&self, record: &KeyRecord) -> KeyPolicy {
        let mut hasher = DefaultHasher::new();
        record.meta.policy.hash(&mut hasher);
        let fingerprint = hasher.finish();
        if let Some((f, policy)) = self.policies.read().get(&record.id) {
            if *f == fingerprint {
                return policy.clone();
            }
        }
        let policy = Policy::parse(&record.meta.policy, PolicyKind::Resource)
            .ok()
            .map(Arc::new);
        let mut cache = self.policies.write();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(record.id, (fingerprint, policy.clone()));
        policy
    }

    /// Whether `caller` could still call PutKeyPolicy on the key under `policy` (AWS's policy
    /// lockout safety check).
    pub(super) fn lockout_check(
        &self,
        caller: &Caller,
        record: &KeyRecord,
        policy: &Arc<Policy>,
    ) -> Result<(), KmsError> {
        let facts = Facts::default();
        let ctx = RequestContext::new(self, caller, Some(record), None, &facts);
        authorize_key(
            caller,
            "kms:PutKeyPolicy",
            record,
            &record.arn(),
            &Some(policy.clone()),
            &ctx,
        )
        .map_err(|_| {
            KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .into(),
            )
        })
    }

    /// Checks a key policy document for CreateKey or PutKeyPolicy in `scope`: size, grammar,
    /// and that every principal of the key's account it names exists. A document that comes
    /// through the Alibaba dialect in Alibaba's grammar is stored as given (`None`) and never
    /// enforced; one in AWS's grammar is enforced whichever dialect stored it (see
    /// [`Kms::key_policy`]), so it is checked as AWS checks it, lockout check included (the
    /// caller runs it on `Some`), or the other dialect would be a way around the check.
    pub(super) fn checked_policy(
        &self,
        caller: &Caller,
        scope: &Scope,
        text: &str,
    ) -> Result<Option<Arc<Policy>>, KmsError> {
        if caller.dialect == Dialect::Aliyun
            && text.len() <= trent_policy::KEY_POLICY_MAX_BYTES
            && Policy::parse(text, PolicyKind::Resource).is_err()
        {
            return Ok(None);
        }
        self.parse_key_policy(scope, text).map(Some)
    }

    pub(super) fn parse_key_policy(
        &self,
        scope: &Scope,
        text: &str,
    ) -> Result<Arc<Policy>, KmsError> {
        if text.len() > trent_policy::KEY_POLICY_MAX_BYTES {
            return Err(KmsError::LimitExceeded(format!(
                "The key policy exceeds the maximum size of {} bytes.",
                trent_policy::KEY_POLICY_MAX_BYTES
            )));
        }
        let policy = Policy::parse(text, PolicyKind::Resource)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.message().to_owned()))?;
        let account = &scope.account.0;
        for named in policy.named_principals() {
            if named == "*" || !self.principal_exists(account, named) {
                if named == "*" {
                    continue;
                }
                return Err(KmsError::MalformedPolicyDocument(
                    "Policy contains a statement with one or more invalid principals.".into(),
                ));
            }
        }
        Ok(Arc::new(policy))
    }

    /// Whether a principal named in a key policy of `account` exists: anything of another
    /// account (Trent cannot see into it), the account itself, and the users, roles and role
    /// sessions the configuration names.
    fn principal_exists(&self, account: &str, named: &str) -> bool {
        if named == account || named == format!("arn:aws:iam::{account}:root") {
            return true;
        }
        let iam = format!("arn:aws:iam::{account}:");
        let sts = format!("arn:aws:sts::{account}:assumed-role/");
        if let Some(session) = named.strip_prefix(&sts) {
            let role = session.split('/').next().unwrap_or_default();
            return self.principals.iter().any(|p| {
                p.strip_prefix(&iam)
                    .and_then(|r| r.strip_prefix("role/"))
                    .is_some_and(|r| r.rsplit('/').next() == Some(role))
            });
        }
        if named.starts_with(&iam) {
            return self.principals.contains(named);
        }
        // Other accounts' principals and forms Trent does not check (services) pass.
        !named.contains(&format!(":{account}:"))
    }
}

/// Whether `key` names another account's key or alias.
pub(super) fn is_foreign(caller: &Caller, key: &KeyRef) -> bool {
    key_scope(key).is_some_and(|s| s.account != caller.scope.account)
}

/// The scope an ARN reference names, if any.
fn key_scope(key: &KeyRef) -> Option<&Scope> {
    match key {
        KeyRef::KeyArn { scope, .. } | KeyRef::AliasArn { scope, .. } => Some(scope),
        _ => None,
    }
}

fn key_ref_arn(key: &KeyRef) -> String {
    match key {
        KeyRef::KeyArn { scope, id } => scope.key_arn(id),
        KeyRef::AliasArn { scope, name } => scope.alias_arn(name),
        KeyRef::Id(id) => id.to_string(),
        KeyRef::Alias(name) => name.0.clone(),
    }
}

/// `kms:RequestAlias`: the alias name the request used for the key.
fn request_alias(key: &KeyRef) -> Option<&AliasName> {
    match key {
        KeyRef::Alias(name) | KeyRef::AliasArn { name, .. } => Some(name),
        _ => None,
    }
}

fn principal_info(caller: &Caller) -> PrincipalInfo<'_> {
    let p = &caller.identity.principal;
    PrincipalInfo {
        arn: p.arn(),
        account: p.account(),
        role_arn: p.role_arn(),
    }
}

fn denied(caller: &Caller, op: KeyOp, resource: &str, reason: DenyReason) -> KmsError {
    KmsError::AccessDenied(Denied {
        principal: caller.identity.principal.arn().to_owned(),
        action: state::access(op).action,
        resource: resource.to_owned(),
        reason,
    })
}

fn refuse(caller: &Caller, action: &'static str, resource: &str, reason: DenyReason) -> KmsError {
    KmsError::AccessDenied(Denied {
        principal: caller.identity.principal.arn().to_owned(),
        action,
        resource: resource.to_owned(),
        reason,
    })
}

/// The identity policy's verdict; a principal without one has no allow (and no deny).
fn identity_evaluation(caller: &Caller, req: &Request<'_>) -> Evaluation {
    caller
        .identity
        .policy
        .as_ref()
        .map(|p| p.evaluate(req))
        .unwrap_or(Evaluation {
            explicit_deny: false,
            allow: Allow::None,
        })
}

/// Operations decided by the identity policy alone (the account root passes on its own).
fn authorize_identity(
    caller: &Caller,
    action: &'static str,
    resource: &str,
    ctx: &RequestContext<'_>,
) -> Result<(), KmsError> {
    let principal = principal_info(caller);
    let ctx = ctx.for_identity();
    let req = Request {
        principal: &principal,
        action,
        resource,
        context: &ctx,
    };
    let verdict = identity_evaluation(caller, &req);
    if verdict.explicit_deny {
        return Err(refuse(
            caller,
            action,
            resource,
            DenyReason::ExplicitIdentityDeny,
        ));
    }
    if caller.identity.principal.is_root() || verdict.allow != Allow::None {
        return Ok(());
    }
    Err(refuse(
        caller,
        action,
        resource,
        DenyReason::NoIdentityPolicy,
    ))
}

/// Operations on a key: key policy and identity policy together.
fn authorize_key(
    caller: &Caller,
    action: &'static str,
    record: &KeyRecord,
    resource: &str,
    policy: &KeyPolicy,
    ctx: &RequestContext<'_>,
) -> Result<(), KmsError> {
    let principal = principal_info(caller);
    let same_account = record.scope.account == caller.scope.account;
    let root = caller.identity.principal.is_root();
    let req = Request {
        principal: &principal,
        action,
        resource,
        context: ctx,
    };
    let key = match policy {
        Some(p) => p.evaluate(&req),
        None => Evaluation {
            explicit_deny: false,
            allow: if same_account {
                Allow::Account
            } else {
                Allow::None
            },
        },
    };
    if key.explicit_deny {
        return Err(refuse(
            caller,
            action,
            resource,
            DenyReason::ExplicitResourceDeny,
        ));
    }
    let identity_ctx = ctx.for_identity();
    let identity = identity_evaluation(
        caller,
        &Request {
            context: &identity_ctx,
            ..req
        },
    );
    if identity.explicit_deny {
        return Err(refuse(
            caller,
            action,
            resource,
            DenyReason::ExplicitIdentityDeny,
        ));
    }
    let identity_allows = root || identity.allow != Allow::None;
    let allowed = match key.allow {
        Allow::Principal => same_account || identity_allows,
        Allow::Account => identity_allows,
        Allow::None => false,
    } || granted(caller, action, record, ctx.facts);
    match (allowed, key.allow) {
        (true, _) => Ok(()),
        (false, Allow::None) => Err(refuse(
            caller,
            action,
            resource,
            DenyReason::NoResourcePolicy,
        )),
        (false, _) => Err(refuse(
            caller,
            action,
            resource,
            DenyReason::NoIdentityPolicy,
        )),
    }
}

/// Whether the grantee of a grant is the caller: its ARN, or its role's for a session.
fn is_caller(caller: &Caller, principal: &str) -> bool {
    let p = &caller.identity.principal;
    p.arn() == principal || p.role_arn() == Some(principal)
}

/// Whether a grant on the key allows `action` to the caller: the grant names the caller, lists
/// the operation, and its constraint holds for the request's encryption context (operations
/// without one ignore it). A grant's CreateGrant creates only narrower grants.
fn granted(caller: &Caller, action: &str, record: &KeyRecord, facts: &Facts<'_>) -> bool {
    let Some(op) = action.strip_prefix("kms:").and_then(GrantOperation::parse) else {
        return false;
    };
    record.meta.grants.iter().any(|g| {
        if !is_caller(caller, &g.grantee) || !g.operations.contains(&op) {
            return false;
        }
        if op == GrantOperation::CreateGrant {
            let Some(child) = facts.new_grant else {
                return false;
            };
            return child.operations.iter().all(|o| g.operations.contains(o))
                && g.constraint
                    .as_ref()
                    .is_none_or(|c| c.is_narrowed_by(child.constraint.as_ref()));
        }
        match (&g.constraint, facts.encryption_context) {
            (Some(c), Some(context)) => c.allows(context),
            _ => true,
        }
    })
}

/// RetireGrant: the grant's retiring principal, its grantee when it lists RetireGrant, or its
/// issuing account (the root, or a principal whose identity policy allows kms:RetireGrant).
/// An identity-policy `Deny` wins; key policies play no part (AWS ignores RetireGrant there).
fn authorize_retire(
    caller: &Caller,
    action: &'static str,
    record: &KeyRecord,
    resource: &str,
    ctx: &RequestContext<'_>,
) -> Result<(), KmsError> {
    let principal = principal_info(caller);
    let identity_ctx = ctx.for_identity();
    let identity = identity_evaluation(
        caller,
        &Request {
            principal: &principal,
            action,
            resource,
            context: &identity_ctx,
        },
    );
    if identity.explicit_deny {
        return Err(refuse(
            caller,
            action,
            resource,
            DenyReason::ExplicitIdentityDeny,
        ));
    }
    let Some(grant) = ctx
        .facts
        .grant_id
        .and_then(|id| record.meta.grants.iter().find(|g| g.id == id))
    else {
        // No such grant on the key: the use-case says so to the key's own account. Another
        // account's caller learns nothing of the key (not even that it exists).
        if record.scope.account != caller.scope.account {
            return Err(refuse(
                caller,
                action,
                resource,
                DenyReason::NoResourcePolicy,
            ));
        }
        return Ok(());
    };
    let retiring = grant
        .retiring
        .as_deref()
        .is_some_and(|r| is_caller(caller, r));
    let grantee = is_caller(caller, &grant.grantee)
        && grant.operations.contains(&GrantOperation::RetireGrant);
    let issuer = caller.identity.principal.account() == grant.issuing_account
        && (caller.identity.principal.is_root() || identity.allow != Allow::None);
    if retiring || grantee || issuer {
        Ok(())
    } else {
        Err(refuse(
            caller,
            action,
            resource,
            DenyReason::NoResourcePolicy,
        ))
    }
}

/// The condition keys of one request, computed on demand.
#[derive(Clone, Copy)]
struct RequestContext<'a> {
    kms: &'a Kms,
    caller: &'a Caller,
    key: Option<&'a KeyRecord>,
    request_alias: Option<&'a AliasName>,
    facts: &'a Facts<'a>,
    /// Evaluating an identity policy: keys AWS honours only there (`aws:ResourceTag/<k>`,
    /// `kms:ResourceAliases`) are present.
    identity: bool,
}

impl<'a> RequestContext<'a> {
    fn new(
        kms: &'a Kms,
        caller: &'a Caller,
        key: Option<&'a KeyRecord>,
        request_alias: Option<&'a AliasName>,
        facts: &'a Facts<'a>,
    ) -> Self {
        RequestContext {
            kms,
            caller,
            key,
            request_alias,
            facts,
            identity: false,
        }
    }

    fn for_identity(&self) -> Self {
        RequestContext {
            identity: true,
            ..*self
        }
    }

    fn without_key(&self) -> Self {
        RequestContext { key: None, ..*self }
    }

    fn resource_aliases(&self, key: &KeyRecord) -> Vec<Cow<'a, str>> {
        self.kms
            .store
            .list_aliases(&key.scope, Some(&key.id), None, 51)
            .unwrap_or_default()
            .into_iter()
            .map(|a| Cow::Owned(a.name.0))
            .collect()
    }
}

fn one(s: impl Into<String>) -> Option<Values<'static>> {
    Some(Values::One(Cow::Owned(s.into())))
}

fn borrowed(s: &str) -> Option<Values<'_>> {
    Some(Values::One(Cow::Borrowed(s)))
}

/// The entry of `map` whose key equals `name` ignoring ASCII case (AWS compares condition-key
/// suffixes that way).
fn folded<'m>(
    map: impl IntoIterator<Item = (&'m String, &'m String)>,
    name: &str,
) -> Option<&'m String> {
    map.into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

impl Context for RequestContext<'_> {
    fn get(&self, name: &str) -> Option<Values<'_>> {
        let principal = &self.caller.identity.principal;
        let facts = self.facts;
        if let Some(k) = name.strip_prefix("kms:encryptioncontext:") {
            return folded(facts.encryption_context?, k).map(|v| Values::One(Cow::Borrowed(v)));
        }
        if let Some(k) = name.strip_prefix("aws:requesttag/") {
            return facts
                .tags?
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(k))
                .map(|(_, v)| Values::One(Cow::Borrowed(v.as_str())));
        }
        if let Some(k) = name.strip_prefix("aws:resourcetag/") {
            if !self.identity {
                return None;
            }
            return folded(&self.key?.meta.tags, k).map(|v| Values::One(Cow::Borrowed(v)));
        }
        let key = self.key;
        match name {
            // An omitted or empty context leaves the key absent, as in AWS, so that
            // `"Null": {"kms:EncryptionContextKeys": "false"}` requires a context (AWS's own
            // policies pair it with ForAllValues, which an empty set satisfies).
            "kms:encryptioncontextkeys" => Some(Values::Many(
                facts
                    .encryption_context
                    .filter(|c| !c.is_empty())?
                    .keys()
                    .map(|k| Cow::Borrowed(k.as_str()))
                    .collect(),
            )),
            "kms:calleraccount" => borrowed(principal.account()),
            "kms:encryptionalgorithm" => borrowed(facts.encryption_algorithm?.as_str()),
            "kms:signingalgorithm" => borrowed(facts.signing_algorithm?.as_str()),
            "kms:keyspec" | "kms:customermasterkeyspec" => {
                borrowed(facts.key_spec.or(key.map(|k| k.meta.key_spec))?.as_str())
            }
            "kms:keyusage" | "kms:customermasterkeyusage" => {
                borrowed(facts.key_usage.or(key.map(|k| k.meta.key_usage))?.as_str())
            }
            "kms:keyorigin" => borrowed(facts.origin.or(key.map(|k| k.meta.origin))?.as_str()),
            "kms:multiregion" => facts
                .multi_region
                .or(key.map(|k| k.meta.multi_region))
                .map(|m| if m { "true" } else { "false" })
                .and_then(borrowed),
            "kms:multiregionkeytype" => borrowed(key?.multi_region_type()?.as_str()),
            "kms:replicaregion" => borrowed(facts.replica_region?),
            "kms:primaryregion" => borrowed(facts.primary_region?),
            "kms:requestalias" => borrowed(&self.request_alias?.0),
            "kms:resourcealiases" if self.identity => {
                Some(Values::Many(self.resource_aliases(key?)))
            }
            "kms:bypasspolicylockoutsafetycheck" => borrowed(if facts.bypass_lockout? {
                "true"
            } else {
                "false"
            }),
            "kms:grantoperations" => Some(Values::Many(
                facts
                    .new_grant?
                    .operations
                    .iter()
                    .map(|o| Cow::Borrowed(o.as_str()))
                    .collect(),
            )),
            "kms:granteeprincipal" => borrowed(&facts.new_grant?.grantee),
            "kms:retiringprincipal" => borrowed(facts.new_grant?.retiring.as_deref()?),
            "kms:grantconstrainttype" => borrowed(match facts.new_grant?.constraint.as_ref()? {
                GrantConstraint::Subset(_) => "EncryptionContextSubset",
                GrantConstraint::Equals(_) => "EncryptionContextEquals",
            }),
            "kms:schedulekeydeletionpendingwindowindays" => {
                one(facts.pending_window_days?.to_string())
            }
            "kms:rotationperiodindays" => one(facts.rotation_period_days?.to_string()),
            "kms:messagetype" => borrowed(facts.message_type?.as_str()),
            "kms:reencryptonsamekey" => borrowed(if facts.same_key? { "true" } else { "false" }),
            "kms:datakeypairspec" => borrowed(facts.data_key_pair_spec?.as_str()),
            "kms:macalgorithm" => borrowed(facts.mac_algorithm?.as_str()),
            "kms:keyagreementalgorithm" => borrowed(facts.key_agreement_algorithm?.as_str()),
            "kms:wrappingalgorithm" => borrowed(facts.wrapping?.0.as_str()),
            "kms:wrappingkeyspec" => borrowed(facts.wrapping?.1.as_str()),
            "kms:expirationmodel" => borrowed(match facts.import_valid_to? {
                Some(_) => "KEY_MATERIAL_EXPIRES",
                None => "KEY_MATERIAL_DOES_NOT_EXPIRE",
            }),
            // Epoch seconds, as AWS's example compares it (`NumericLessThanEquals`).
            "kms:validto" => one((facts.import_valid_to??.0.div_euclid(1000)).to_string()),
            // Whole days since the key's last use this node or the store knows of (or since
            // its use has been tracked, if never used).
            "kms:trailingdayswithoutkeyusage" if facts.usage_days => {
                let (last, since) = self.kms.last_use(key?);
                let from = last.map_or(since, |l| l.at);
                one(((self.kms.now().0 - from.0).max(0) / Timestamp::DAY_MS).to_string())
            }
            "kms:grantisforawsresource" => facts
                .grant_call
                .then_some(Values::One(Cow::Borrowed("false"))),
            // The Region the request acts in: ReplicateKey's kms:CreateKey is decided in the
            // replica's Region.
            "aws:requestedregion" => borrowed(&self.caller.scope.region.0),
            "aws:principalarn" => borrowed(principal.principal_arn()),
            "aws:principalaccount" => borrowed(principal.account()),
            "aws:principaltype" => borrowed(principal.kind().as_str()),
            "aws:username" => borrowed(principal.username()?),
            "aws:userid" => borrowed(principal.userid()),
            "aws:sourceip" => one(self.caller.connection.source_ip?.to_string()),
            "aws:securetransport" => borrowed(if self.caller.connection.secure {
                "true"
            } else {
                "false"
            }),
            "aws:currenttime" => one(iso8601(self.kms.now())),
            "aws:epochtime" => one((self.kms.now().0 / 1000).to_string()),
            "aws:tagkeys" => {
                let keys: Vec<Cow<'_, str>> = match (facts.tags, facts.tag_keys) {
                    (Some(tags), _) => tags
                        .iter()
                        .map(|(k, _)| Cow::Borrowed(k.as_str()))
                        .collect(),
                    (None, Some(keys)) => keys.iter().map(|k| Cow::Borrowed(k.as_str())).collect(),
                    (None, None) => return None,
                };
                // A request that sets or removes no tag has no aws:TagKeys (as above).
                (!keys.is_empty()).then_some(Values::Many(keys))
            }
            _ => None,
        }
    }
}

/// `2026-12-04T17:20:00Z` for `aws:CurrentTime`.
fn iso8601(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::KeyId;

    #[test]
    fn current_time_is_iso8601() {
        assert_eq!(iso8601(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(Timestamp(1_780_000_000_000)),
            "2026-05-28T20:26:40Z"
        );
    }

    #[test]
    fn key_ids_of_other_forms_are_named_as_given() {
        let id = KeyId::generate();
        assert_eq!(key_ref_arn(&KeyRef::Id(id)), id.to_string());
    }
}
