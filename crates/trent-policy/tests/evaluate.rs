//! Evaluation: action and resource wildcards, principal forms and what they yield, the Not*
//! elements, variables in Resource, and how statements combine.

mod common;

use common::*;
use trent_policy::{Allow, Evaluation, MapContext, PolicyKind, PrincipalInfo};

fn none() -> MapContext {
    MapContext::default()
}

fn identity(statements: &str) -> trent_policy::Policy {
    parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
        PolicyKind::Identity,
    )
}

fn key_policy(statements: &str) -> trent_policy::Policy {
    parse(
        &format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#),
        PolicyKind::Resource,
    )
}

fn allows(policy: &trent_policy::Policy, action: &str, resource: &str) -> bool {
    eval(policy, &ALICE, action, resource, &none()).allow == Allow::Principal
}

#[test]
fn action_wildcards_are_case_insensitive() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("*", &["kms:Encrypt", "iam:GetUser"], &[]),
        (
            "kms:*",
            &["kms:Encrypt", "kms:CreateGrant"],
            &["iam:GetUser", "kmsx:Encrypt"],
        ),
        (
            "kms:Encrypt",
            &["kms:Encrypt", "KMS:ENCRYPT", "kms:encrypt"],
            &["kms:EncryptX", "kms:Decrypt"],
        ),
        ("KMS:encrypt", &["kms:Encrypt"], &[]),
        (
            "kms:Generate*",
            &[
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyPairWithoutPlaintext",
                "kms:GenerateMac",
                "kms:GenerateRandom",
            ],
            &["kms:Encrypt", "kms:ReGenerate"],
        ),
        (
            "kms:ReEncrypt*",
            &["kms:ReEncryptFrom", "kms:ReEncryptTo"],
            &["kms:Encrypt"],
        ),
        (
            "kms:*Key*",
            &["kms:DescribeKey", "kms:GenerateDataKey", "kms:ListKeys"],
            &["kms:Sign"],
        ),
        ("kms:?ign", &["kms:Sign"], &["kms:Verify", "kms:Siign"]),
        (
            "kms:List*",
            &["kms:ListAliases", "kms:ListKeys"],
            &["kms:GetKeyPolicy"],
        ),
    ];
    for (pattern, yes, no) in cases {
        let p = identity(&format!(
            r#"{{"Effect":"Allow","Action":"{pattern}","Resource":"*"}}"#
        ));
        for a in *yes {
            assert!(allows(&p, a, KEY), "{pattern} should match {a}");
        }
        for a in *no {
            assert!(!allows(&p, a, KEY), "{pattern} should not match {a}");
        }
    }
    let list =
        identity(r#"{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#);
    assert!(allows(&list, "kms:Decrypt", KEY));
    assert!(!allows(&list, "kms:Sign", KEY));
}

#[test]
fn resource_arns_match_segment_by_segment() {
    let alias = "arn:aws:kms:us-west-2:111122223333:alias/finance";
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("*", &[KEY, alias, "*"], &[]),
        (
            KEY,
            &[KEY],
            &[alias, "arn:aws:kms:us-west-2:111122223333:key/other"],
        ),
        ("arn:aws:kms:us-west-2:111122223333:key/*", &[KEY], &[alias]),
        (
            "arn:aws:kms:*:111122223333:key/*",
            &[KEY],
            &["arn:aws:kms:eu-west-1:444455556666:key/x"],
        ),
        ("arn:aws:kms:*:111122223333:*", &[KEY, alias], &["*"]),
        (
            "arn:aws:kms:us-west-2:111122223333:alias/fin*",
            &[alias],
            &[KEY],
        ),
        ("arn:aws:kms:us-west-?:111122223333:key/*", &[KEY], &[]),
        (
            "arn:aws:kms:us-west-2:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab",
            &[],
            &[KEY],
        ),
        ("arn:*:*:*:*:*", &[KEY, alias], &["*"]),
    ];
    for (pattern, yes, no) in cases {
        let p = identity(&format!(
            r#"{{"Effect":"Allow","Action":"kms:*","Resource":"{pattern}"}}"#
        ));
        for r in *yes {
            assert!(allows(&p, "kms:Encrypt", r), "{pattern} should match {r}");
        }
        for r in *no {
            assert!(
                !allows(&p, "kms:Encrypt", r),
                "{pattern} should not match {r}"
            );
        }
    }
}

#[test]
fn not_action_applies_to_every_other_action() {
    let p = identity(
        r#"{"Effect":"Allow","NotAction":["kms:ScheduleKeyDeletion","kms:Put*"],"Resource":"*"}"#,
    );
    assert!(allows(&p, "kms:Encrypt", KEY));
    assert!(allows(&p, "iam:GetUser", KEY));
    assert!(!allows(&p, "kms:ScheduleKeyDeletion", KEY));
    assert!(!allows(&p, "kms:PutKeyPolicy", KEY));
    // with Deny: deny everything except
    let p = identity(
        r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"kms:Describe*","Resource":"*"}"#,
    );
    assert!(eval(&p, &ALICE, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(!eval(&p, &ALICE, "kms:DescribeKey", KEY, &none()).explicit_deny);
}

#[test]
fn not_resource_applies_to_every_other_resource() {
    let other = "arn:aws:kms:us-west-2:111122223333:key/other";
    let p = identity(&format!(
        r#"{{"Effect":"Allow","Action":"kms:*","NotResource":"{KEY}"}}"#
    ));
    assert!(!allows(&p, "kms:Encrypt", KEY));
    assert!(allows(&p, "kms:Encrypt", other));
    assert!(allows(&p, "kms:ListKeys", "*"));
    let p = identity(
        r#"{"Effect":"Deny","Action":"kms:*","NotResource":"arn:aws:kms:*:111122223333:key/*"}"#,
    );
    assert!(
        eval(
            &p,
            &ALICE,
            "kms:Encrypt",
            "arn:aws:kms:us-west-2:444455556666:key/x",
            &none()
        )
        .explicit_deny
    );
    assert!(!eval(&p, &ALICE, "kms:Encrypt", KEY, &none()).explicit_deny);
}

#[test]
fn resource_variables_under_2012_and_literal_under_2008() {
    let statement = r#""Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*"}"#;
    let mut ctx = MapContext::with_principal(&ALICE);
    let p = parse(
        &format!(r#"{{"Version":"2012-10-17",{statement}}}"#),
        PolicyKind::Identity,
    );
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", KEY, &ctx).allow,
        Allow::Principal
    );
    let foreign = "arn:aws:kms:us-west-2:444455556666:key/x";
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", foreign, &ctx).allow,
        Allow::None
    );
    // the key is absent: the Resource matches nothing
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", KEY, &none()).allow,
        Allow::None
    );
    for legacy in [
        format!(r#"{{"Version":"2008-10-17",{statement}}}"#),
        format!(r#"{{{statement}}}"#),
    ] {
        let p = parse(&legacy, PolicyKind::Identity);
        assert_eq!(
            eval(&p, &ALICE, "kms:Encrypt", KEY, &ctx).allow,
            Allow::None
        );
        let literal = "arn:aws:kms:us-west-2:${aws:PrincipalAccount}:key/x";
        assert_eq!(
            eval(&p, &ALICE, "kms:Encrypt", literal, &ctx).allow,
            Allow::Principal
        );
    }
    // ${aws:username} with a default, and ${aws:userid}
    let p = identity(
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:alias/${aws:username, 'shared'}-*"}"#,
    );
    let alias = |name: &str| format!("arn:aws:kms:us-west-2:111122223333:alias/{name}");
    assert!(eval(&p, &ALICE, "kms:CreateAlias", &alias("alice-1"), &ctx).allow == Allow::Principal);
    assert!(eval(&p, &ALICE, "kms:CreateAlias", &alias("bob-1"), &ctx).allow == Allow::None);
    assert!(
        eval(&p, &ALICE, "kms:CreateAlias", &alias("shared-1"), &none()).allow == Allow::Principal
    );
    ctx.insert("aws:userid", "AIDAEXAMPLE");
    let p = identity(
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:*:alias/${aws:userid}"}"#,
    );
    assert!(
        eval(&p, &ALICE, "kms:CreateAlias", &alias("AIDAEXAMPLE"), &ctx).allow == Allow::Principal
    );
}

fn level(policy: &trent_policy::Policy, who: &PrincipalInfo<'_>) -> Allow {
    eval(policy, who, "kms:Encrypt", KEY, &none()).allow
}

#[test]
fn principal_forms_and_what_they_yield() {
    let callers = [&ROOT, &ALICE, &APP_SESSION, &OUTSIDER];
    let cases: &[(&str, [Allow; 4])] = &[
        (r#""*""#, [Allow::Principal; 4]),
        (r#"{"AWS":"*"}"#, [Allow::Principal; 4]),
        (
            r#"{"AWS":"111122223333"}"#,
            [Allow::Account, Allow::Account, Allow::Account, Allow::None],
        ),
        (
            r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
            [Allow::Account, Allow::Account, Allow::Account, Allow::None],
        ),
        (
            r#"{"AWS":"arn:aws:iam::444455556666:root"}"#,
            [Allow::None, Allow::None, Allow::None, Allow::Account],
        ),
        (
            r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
            [Allow::None, Allow::Principal, Allow::None, Allow::None],
        ),
        (
            r#"{"AWS":"arn:aws:iam::111122223333:role/App"}"#,
            [Allow::None, Allow::None, Allow::Principal, Allow::None],
        ),
        (
            r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/App/AKIDAPP"}"#,
            [Allow::None, Allow::None, Allow::Principal, Allow::None],
        ),
        (
            r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/App/other"}"#,
            [Allow::None; 4],
        ),
        (
            r#"{"AWS":"arn:aws:iam::444455556666:user/mallory"}"#,
            [Allow::None, Allow::None, Allow::None, Allow::Principal],
        ),
        (
            r#"{"AWS":["111122223333","arn:aws:iam::111122223333:user/alice"]}"#,
            [
                Allow::Account,
                Allow::Principal,
                Allow::Account,
                Allow::None,
            ],
        ),
        (
            r#"{"Service":"logs.us-west-2.amazonaws.com"}"#,
            [Allow::None; 4],
        ),
        (
            r#"{"Federated":"cognito-identity.amazonaws.com"}"#,
            [Allow::None; 4],
        ),
    ];
    for (principal, want) in cases {
        let p = key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"kms:*","Resource":"*"}}"#
        ));
        for (caller, want) in callers.iter().zip(want) {
            assert_eq!(level(&p, caller), *want, "{principal} for {}", caller.arn);
        }
    }
}

#[test]
fn principal_wins_over_account_whatever_the_order() {
    let account =
        r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#;
    let alice = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"}"#;
    for order in [format!("{account},{alice}"), format!("{alice},{account}")] {
        let p = key_policy(&order);
        assert_eq!(level(&p, &ALICE), Allow::Principal);
        assert_eq!(level(&p, &BOB), Allow::Account);
        assert_eq!(
            eval(&p, &ALICE, "kms:Decrypt", KEY, &none()).allow,
            Allow::Account
        );
    }
}

#[test]
fn explicit_deny_is_reported_alongside_allow() {
    let p = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"},
           {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}"#,
    );
    assert_eq!(
        eval(&p, &ALICE, "kms:ScheduleKeyDeletion", KEY, &none()),
        Evaluation {
            explicit_deny: true,
            allow: Allow::Principal
        }
    );
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", KEY, &none()),
        Evaluation {
            explicit_deny: false,
            allow: Allow::Principal
        }
    );
    assert_eq!(
        eval(&p, &BOB, "kms:ScheduleKeyDeletion", KEY, &none()),
        Evaluation {
            explicit_deny: false,
            allow: Allow::None
        }
    );
    // a Deny naming the account applies to every principal of it
    let p = key_policy(
        r#"{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}"#,
    );
    for who in [&ROOT, &ALICE, &APP_SESSION] {
        assert!(
            eval(&p, who, "kms:Decrypt", KEY, &none()).explicit_deny,
            "{}",
            who.arn
        );
    }
    assert!(!eval(&p, &OUTSIDER, "kms:Decrypt", KEY, &none()).explicit_deny);
}

#[test]
fn not_principal_with_deny() {
    // AWS's example: deny everyone but Bob, listing his account too (else his account is denied)
    let p = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
           {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/bob","arn:aws:iam::111122223333:root"]},"Action":"kms:*","Resource":"*"}"#,
    );
    assert!(!eval(&p, &BOB, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(!eval(&p, &ROOT, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(eval(&p, &ALICE, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(eval(&p, &APP_SESSION, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(eval(&p, &OUTSIDER, "kms:Encrypt", KEY, &none()).explicit_deny);
    // naming only the user does not exclude him: his account is still denied
    let p = key_policy(
        r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}"#,
    );
    assert!(eval(&p, &BOB, "kms:Encrypt", KEY, &none()).explicit_deny);
    // a role session is excluded through its role ARN plus the account
    let p = key_policy(
        r#"{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:role/App","111122223333"]},"Action":"kms:*","Resource":"*"}"#,
    );
    assert!(!eval(&p, &APP_SESSION, "kms:Encrypt", KEY, &none()).explicit_deny);
    assert!(eval(&p, &ALICE, "kms:Encrypt", KEY, &none()).explicit_deny);
}

#[test]
fn not_principal_with_allow_admits_everyone_else() {
    let p = key_policy(
        r#"{"Effect":"Allow","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/bob","111122223333"]},"Action":"kms:Encrypt","Resource":"*"}"#,
    );
    assert_eq!(level(&p, &BOB), Allow::None);
    assert_eq!(level(&p, &ALICE), Allow::Principal);
    assert_eq!(level(&p, &OUTSIDER), Allow::Principal);
}

#[test]
fn identity_policy_allow_is_principal() {
    let p = identity(r#"{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}"#);
    for who in [&ROOT, &ALICE, &APP_SESSION, &OUTSIDER] {
        assert_eq!(level(&p, who), Allow::Principal);
    }
}
