//! The grammar: what is accepted, what is refused and with which sentence.

mod common;

use common::*;
use trent_policy::{Allow, MapContext, Policy, PolicyKind};

const ID: PolicyKind = PolicyKind::Identity;
const KP: PolicyKind = PolicyKind::Resource;

fn key_policy(statement: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#)
}

#[test]
fn versions() {
    let body = r#""Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#;
    for ok in [
        format!(r#"{{"Version":"2012-10-17",{body}}}"#),
        format!(r#"{{"Version":"2008-10-17",{body}}}"#),
        format!(r#"{{{body}}}"#),
    ] {
        assert!(Policy::parse(&ok, ID).is_ok(), "{ok}");
    }
    for (bad, needle) in [
        (
            format!(r#"{{"Version":"2012-10-18",{body}}}"#),
            "Version \"2012-10-18\" is not supported",
        ),
        (format!(r#"{{"Version":"",{body}}}"#), "is not supported"),
        (
            format!(r#"{{"Version":20121017,{body}}}"#),
            "Version must be a string",
        ),
    ] {
        let e = refusal(&bad, ID);
        assert!(e.contains(needle), "{bad}: {e}");
    }
}

#[test]
fn statement_as_object_or_list() {
    let one = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#;
    let list = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
    let none = MapContext::default();
    for json in [one, list] {
        let p = parse(json, ID);
        assert_eq!(
            eval(&p, &ALICE, "kms:Encrypt", KEY, &none).allow,
            Allow::Principal
        );
        assert_eq!(eval(&p, &ALICE, "kms:Sign", KEY, &none).allow, Allow::None);
    }
    let p = parse(list, ID);
    assert!(eval(&p, &ALICE, "kms:Decrypt", KEY, &none).explicit_deny);
}

#[test]
fn document_level_refusals() {
    for (bad, needle) in [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        (r#"{"Statement":[]} trailing"#, "not valid JSON"),
        ("[]", "must be a JSON object"),
        (r#""policy""#, "must be a JSON object"),
        (r#"{"Version":"2012-10-17"}"#, "has no Statement"),
        (
            r#"{"Version":"2012-10-17","Statement":[]}"#,
            "Statement list is empty",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":"Allow"}"#,
            "object or a list of objects",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":["Allow"]}"#,
            "Each statement must be an object",
        ),
        (
            r#"{"Version":"2012-10-17","Statment":[]}"#,
            "unknown element: Statment",
        ),
        (
            r#"{"Version":"2012-10-17","Id":7,"Statement":[]}"#,
            "Id must be a string",
        ),
        (
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            "\"Version\" appears twice",
        ),
    ] {
        let e = refusal(bad, ID);
        assert!(e.contains(needle), "{bad}: {e}");
    }
}

#[test]
fn statement_level_refusals() {
    let p = r#""Principal":{"AWS":"111122223333"}"#;
    for (statement, kind, needle) in [
        (r#"{"Action":"*","Resource":"*"}"#, ID, "needs an Effect"),
        (
            r#"{"Effect":"allow","Action":"*","Resource":"*"}"#,
            ID,
            "must be \"Allow\" or \"Deny\"",
        ),
        (
            r#"{"Effect":true,"Action":"*","Resource":"*"}"#,
            ID,
            "Effect must be a string",
        ),
        (
            r#"{"Effect":"Allow","Resource":"*"}"#,
            ID,
            "needs an Action",
        ),
        (r#"{"Effect":"Allow","Action":"*"}"#, ID, "needs a Resource"),
        (
            r#"{"Effect":"Allow","Action":"*","NotAction":"kms:Sign","Resource":"*"}"#,
            ID,
            "both Action and NotAction",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}"#,
            ID,
            "both Resource and NotResource",
        ),
        (
            r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#,
            ID,
            "non-empty list",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":[]}"#,
            ID,
            "non-empty list",
        ),
        (
            r#"{"Effect":"Allow","Action":["kms:Encrypt",1],"Resource":"*"}"#,
            ID,
            "a list holding a number",
        ),
        (
            r#"{"Effect":"Allow","Action":{"a":"b"},"Resource":"*"}"#,
            ID,
            "not an object",
        ),
        (
            r#"{"Effect":"Allow","Action":"Encrypt","Resource":"*"}"#,
            ID,
            "invalid action \"Encrypt\"",
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:","Resource":"*"}"#,
            ID,
            "invalid action",
        ),
        (
            r#"{"Effect":"Allow","Action":":Encrypt","Resource":"*"}"#,
            ID,
            "invalid action",
        ),
        (
            r#"{"Effect":"Allow","Action":"kms:Encrypt:x","Resource":"*"}"#,
            ID,
            "invalid action",
        ),
        (
            r#"{"Effect":"Allow","Action":"k*s:Encrypt","Resource":"*"}"#,
            ID,
            "invalid action",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"key/1234"}"#,
            ID,
            "invalid resource \"key/1234\"",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"arn:aws:kms:us-west-2:111122223333"}"#,
            ID,
            "invalid resource",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condtion":{}}"#,
            ID,
            "unknown element: Condtion",
        ),
        (
            r#"{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}"#,
            ID,
            "\"Effect\" appears twice",
        ),
        (
            r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#,
            ID,
            "identity policy cannot have a Principal",
        ),
        (
            r#"{"Effect":"Deny","NotPrincipal":"*","Action":"*","Resource":"*"}"#,
            ID,
            "identity policy cannot have a NotPrincipal",
        ),
        (
            r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
            KP,
            "needs a Principal or NotPrincipal",
        ),
        (
            r#"{"Sid":"a b","Effect":"Allow","Action":"*","Resource":"*"}"#,
            ID,
            "only letters and digits",
        ),
    ] {
        let json = key_policy(statement);
        let e = refusal(&json, kind);
        assert!(e.contains(needle), "{statement}: {e}");
    }
    let both = format!(
        r#"{{"Effect":"Allow",{p},"NotPrincipal":{{"AWS":"111122223333"}},"Action":"*","Resource":"*"}}"#
    );
    assert!(refusal(&key_policy(&both), KP).contains("both Principal and NotPrincipal"));
}

#[test]
fn sids_unique_in_identity_policies_free_in_key_policies() {
    let dup = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"One","Effect":"Allow","Action":"*","Resource":"*"},
        {"Sid":"One","Effect":"Deny","Action":"kms:Sign","Resource":"*"}]}"#;
    assert!(refusal(dup, ID).contains("\"One\" appears in more than one statement"));
    let key = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"*","Resource":"*"},
        {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}]}"#;
    assert!(Policy::parse(key, KP).is_ok());
}

#[test]
fn key_policy_statement_without_action_or_resource_is_inert() {
    let json = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"*"}]}"#;
    let p = parse(json, KP);
    let e = eval(&p, &ALICE, "kms:Encrypt", KEY, &MapContext::default());
    assert_eq!(e.allow, Allow::None);
    assert!(!e.explicit_deny);
}

#[test]
fn principal_refusals_use_awss_sentence() {
    const INVALID: &str = "Policy contains a statement with one or more invalid principals.";
    for principal in [
        r#""arn:aws:iam::111122223333:root""#,
        r#"{}"#,
        r#"[]"#,
        r#"{"AWS":[]}"#,
        r#"{"AWS":"alice"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:group/Admins"}"#,
        r#"{"AWS":"AIDAJQABLZS4A3QDU576Q"}"#,
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
        r#"{"Service":"*"}"#,
        r#"{"Service":""}"#,
        r#"{"Unknown":"x"}"#,
        r#"{"AWS":1}"#,
    ] {
        let json = key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}"#
        ));
        assert_eq!(refusal(&json, KP), INVALID, "{principal}");
    }
}

#[test]
fn named_principals_lists_aws_members_as_written() {
    let json = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/alice","*"],"Service":"logs.amazonaws.com"},"Action":"*","Resource":"*"},
           {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::444455556666:role/App"},"Action":"kms:Sign","Resource":"*"},
           {"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}"#,
    );
    let p = parse(&json, KP);
    assert_eq!(
        p.named_principals(),
        vec![
            "111122223333",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::444455556666:role/App"
        ]
    );
}

#[test]
fn overly_permissive_for_all_values_refused_in_key_policies() {
    for key in ["kms:EncryptionContext:Dept", "aws:RequestTag/Owner"] {
        let json = key_policy(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{{"ForAllValues:StringEquals":{{"{key}":"x"}}}}}}"#
        ));
        let e = refusal(&json, KP);
        assert!(e.starts_with("OverlyPermissiveCondition:"), "{key}: {e}");
    }
    let fine = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"x"}}}"#,
    );
    assert!(Policy::parse(&fine, KP).is_ok());
}

#[test]
fn kms_key_policy_size_constant() {
    assert_eq!(trent_policy::KEY_POLICY_MAX_BYTES, 32_768);
}
