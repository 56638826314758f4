//! Helpers shared by the policy tests: callers, and one-line evaluation.
#![allow(dead_code)]

use trent_policy::{
    Allow, Context, Evaluation, MapContext, Policy, PolicyKind, PrincipalInfo, Request,
};

pub const ACCOUNT: &str = "111122223333";
pub const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub const ROOT: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:iam::111122223333:root",
    account: "111122223333",
    role_arn: None,
};
pub const ALICE: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:iam::111122223333:user/alice",
    account: "111122223333",
    role_arn: None,
};
pub const BOB: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:iam::111122223333:user/bob",
    account: "111122223333",
    role_arn: None,
};
pub const APP_SESSION: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:sts::111122223333:assumed-role/App/AKIDAPP",
    account: "111122223333",
    role_arn: Some("arn:aws:iam::111122223333:role/App"),
};
pub const OUTSIDER: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:iam::444455556666:user/mallory",
    account: "444455556666",
    role_arn: None,
};

pub fn parse(json: &str, kind: PolicyKind) -> Policy {
    Policy::parse(json, kind).unwrap_or_else(|e| panic!("policy refused: {e}\n{json}"))
}

pub fn eval(
    policy: &Policy,
    principal: &PrincipalInfo<'_>,
    action: &str,
    resource: &str,
    context: &dyn Context,
) -> Evaluation {
    policy.evaluate(&Request {
        principal,
        action,
        resource,
        context,
    })
}

/// Whether an identity policy with one Allow statement carrying `condition` allows
/// kms:Encrypt on KEY in `ctx`.
pub fn condition_holds(condition: &str, ctx: &MapContext) -> bool {
    condition_holds_in(condition, ctx, "2012-10-17")
}

pub fn condition_holds_in(condition: &str, ctx: &MapContext, version: &str) -> bool {
    let json = format!(
        r#"{{"Version":"{version}","Statement":{{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{condition}}}}}"#
    );
    let policy = parse(&json, PolicyKind::Identity);
    let e = eval(&policy, &ALICE, "kms:Encrypt", KEY, ctx);
    assert!(!e.explicit_deny);
    e.allow == Allow::Principal
}

pub fn ctx(pairs: &[(&str, &str)]) -> MapContext {
    let mut c = MapContext::default();
    for (k, v) in pairs {
        c.insert(k, *v);
    }
    c
}

pub fn refusal(json: &str, kind: PolicyKind) -> String {
    match Policy::parse(json, kind) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.message().to_owned(),
    }
}
