//! Every condition operator, IfExists, the set operators (absent keys and empty sets), Null,
//! how several values, keys and operators combine, and policy variables in conditions.

mod common;

use common::*;
use trent_policy::{MapContext, PolicyKind};

fn holds(condition: &str, pairs: &[(&str, &str)]) -> bool {
    condition_holds(condition, &ctx(pairs))
}

#[test]
fn string_equals_is_exact_and_case_sensitive() {
    let c = r#"{"StringEquals":{"kms:CallerAccount":"111122223333"}}"#;
    assert!(holds(c, &[("kms:CallerAccount", "111122223333")]));
    assert!(!holds(c, &[("kms:CallerAccount", "444455556666")]));
    assert!(!holds(c, &[]));
    let c = r#"{"StringEquals":{"aws:username":"johndoe"}}"#;
    assert!(!holds(c, &[("aws:username", "JohnDoe")]));
    // `*` is literal for StringEquals
    let c = r#"{"StringEquals":{"aws:username":"j*"}}"#;
    assert!(!holds(c, &[("aws:username", "johndoe")]));
    assert!(holds(c, &[("aws:username", "j*")]));
}

#[test]
fn several_values_for_one_key_are_ored() {
    let c =
        r#"{"StringEquals":{"kms:EncryptionAlgorithm":["RSAES_OAEP_SHA_1","RSAES_OAEP_SHA_256"]}}"#;
    assert!(holds(
        c,
        &[("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256")]
    ));
    assert!(holds(c, &[("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_1")]));
    assert!(!holds(
        c,
        &[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]
    ));
}

#[test]
fn string_not_equals_is_nor_and_true_when_absent() {
    let c = r#"{"StringNotEquals":{"kms:CallerAccount":["111122223333","444455556666"]}}"#;
    assert!(holds(c, &[("kms:CallerAccount", "999999999999")]));
    assert!(!holds(c, &[("kms:CallerAccount", "111122223333")]));
    assert!(!holds(c, &[("kms:CallerAccount", "444455556666")]));
    assert!(holds(c, &[]));
}

#[test]
fn ignore_case_variants() {
    let c = r#"{"StringEqualsIgnoreCase":{"aws:username":"JohnDoe"}}"#;
    assert!(holds(c, &[("aws:username", "johndoe")]));
    assert!(holds(c, &[("aws:username", "JOHNDOE")]));
    assert!(!holds(c, &[("aws:username", "john")]));
    assert!(!holds(c, &[]));
    let c = r#"{"StringNotEqualsIgnoreCase":{"aws:username":"JohnDoe"}}"#;
    assert!(!holds(c, &[("aws:username", "johnDOE")]));
    assert!(holds(c, &[("aws:username", "jane")]));
    assert!(holds(c, &[]));
}

#[test]
fn string_like_and_not_like() {
    let c = r#"{"StringLike":{"kms:RequestAlias":"alias/finance-*"}}"#;
    assert!(holds(c, &[("kms:RequestAlias", "alias/finance-key")]));
    assert!(!holds(c, &[("kms:RequestAlias", "alias/Finance-key")]));
    assert!(!holds(c, &[("kms:RequestAlias", "alias/hr")]));
    assert!(!holds(c, &[]));
    let c = r#"{"StringLike":{"kms:RequestAlias":"alias/app-?"}}"#;
    assert!(holds(c, &[("kms:RequestAlias", "alias/app-1")]));
    assert!(!holds(c, &[("kms:RequestAlias", "alias/app-12")]));
    // StringLike's `*` spans colons, unlike ArnLike
    let c = r#"{"StringLike":{"aws:PrincipalArn":"arn:aws:*"}}"#;
    assert!(holds(
        c,
        &[("aws:PrincipalArn", "arn:aws:iam::111122223333:user/x")]
    ));
    let c = r#"{"StringNotLike":{"kms:RequestAlias":["alias/test-*","alias/tmp-*"]}}"#;
    assert!(holds(c, &[("kms:RequestAlias", "alias/prod")]));
    assert!(!holds(c, &[("kms:RequestAlias", "alias/tmp-1")]));
    assert!(holds(c, &[]));
}

#[test]
fn numeric_operators() {
    let key = "kms:ScheduleKeyDeletionPendingWindowInDays";
    let cases = [
        ("NumericEquals", [false, true, false]),
        ("NumericNotEquals", [true, false, true]),
        ("NumericLessThan", [true, false, false]),
        ("NumericLessThanEquals", [true, true, false]),
        ("NumericGreaterThan", [false, false, true]),
        ("NumericGreaterThanEquals", [false, true, true]),
    ];
    for (op, expect) in cases {
        let c = format!(r#"{{"{op}":{{"{key}":"14"}}}}"#);
        for (value, want) in ["7", "14.0", "30"].iter().zip(expect) {
            assert_eq!(holds(&c, &[(key, value)]), want, "{op} {value}");
        }
        assert_eq!(holds(&c, &[]), op == "NumericNotEquals", "{op} absent");
        // a request value that is not a number matches nothing
        assert_eq!(
            holds(&c, &[(key, "ten")]),
            op == "NumericNotEquals",
            "{op} ten"
        );
    }
    // JSON numbers and decimals in the policy
    let c = r#"{"NumericLessThanEquals":{"kms:ValidTo":1546257599.0}}"#;
    assert!(holds(c, &[("kms:ValidTo", "1546257599")]));
    assert!(!holds(c, &[("kms:ValidTo", "1546257600")]));
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"k:n":"ten"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("is not a number"), "{e}");
}

#[test]
fn date_operators_with_iso_and_epoch_values() {
    let cases = [
        ("DateEquals", [false, true, false]),
        ("DateNotEquals", [true, false, true]),
        ("DateLessThan", [true, false, false]),
        ("DateLessThanEquals", [true, true, false]),
        ("DateGreaterThan", [false, false, true]),
        ("DateGreaterThanEquals", [false, true, true]),
    ];
    for (op, expect) in cases {
        for policy_value in ["\"2020-06-30T00:00:00Z\"", "\"1593475200\"", "1593475200"] {
            let c = format!(r#"{{"{op}":{{"aws:CurrentTime":{policy_value}}}}}"#);
            let requests = [
                "2020-06-29T23:59:59Z",
                "2020-06-30T02:00:00+02:00",
                "1593475201",
            ];
            for (value, want) in requests.iter().zip(expect) {
                assert_eq!(
                    holds(&c, &[("aws:CurrentTime", value)]),
                    want,
                    "{op} {policy_value} {value}"
                );
            }
            assert_eq!(holds(&c, &[]), op == "DateNotEquals");
        }
    }
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("is not a date"), "{e}");
}

#[test]
fn bool_operator() {
    for c in [
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        r#"{"Bool":{"aws:SecureTransport":true}}"#,
    ] {
        assert!(holds(c, &[("aws:SecureTransport", "true")]));
        assert!(holds(c, &[("aws:SecureTransport", "TRUE")]));
        assert!(!holds(c, &[("aws:SecureTransport", "false")]));
        assert!(!holds(c, &[]));
    }
    let c = r#"{"Bool":{"kms:GrantIsForAWSResource":"false"}}"#;
    assert!(holds(c, &[("kms:GrantIsForAWSResource", "false")]));
    assert!(!holds(c, &[("kms:GrantIsForAWSResource", "true")]));
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("true or false"), "{e}");
}

#[test]
fn binary_equals_compares_bytes() {
    // "QmluYXJ5VmFsdWU=" is base64 of "BinaryValue"
    let c = r#"{"BinaryEquals":{"k:bin":"QmluYXJ5VmFsdWU="}}"#;
    assert!(holds(c, &[("k:bin", "QmluYXJ5VmFsdWU=")]));
    assert!(!holds(c, &[("k:bin", "T3RoZXI=")]));
    assert!(!holds(c, &[("k:bin", "not base64!")]));
    assert!(!holds(c, &[]));
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BinaryEquals":{"k:bin":"***"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("base64"), "{e}");
}

#[test]
fn ip_address_and_not_ip_address() {
    let c = r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#;
    assert!(holds(c, &[("aws:SourceIp", "203.0.113.10")]));
    assert!(holds(c, &[("aws:SourceIp", "2001:db8:1234:5678::1")]));
    assert!(!holds(c, &[("aws:SourceIp", "198.51.100.1")]));
    assert!(!holds(c, &[]));
    let c = r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#;
    assert!(holds(c, &[("aws:SourceIp", "192.0.2.1")]));
    assert!(!holds(c, &[("aws:SourceIp", "10.1.2.3")]));
    assert!(holds(c, &[]));
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("IP address"), "{e}");
}

#[test]
fn arn_operators_match_segment_by_segment() {
    let arn = "arn:aws:iam::111122223333:role/Admin";
    for op in ["ArnEquals", "ArnLike"] {
        let c = format!(r#"{{"{op}":{{"aws:PrincipalArn":"arn:aws:iam::*:role/Adm*"}}}}"#);
        assert!(holds(&c, &[("aws:PrincipalArn", arn)]), "{op}");
        assert!(!holds(
            &c,
            &[("aws:PrincipalArn", "arn:aws:iam::111122223333:user/Admin")]
        ));
        assert!(!holds(&c, &[("aws:PrincipalArn", "not-an-arn")]));
        assert!(!holds(&c, &[]));
    }
    // `*` in ArnLike stays within its segment; StringLike's spans colons
    let spanning = "arn:aws:iam::111122223333:x:role/Admin";
    assert!(!holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Admin"}}"#,
        &[("aws:PrincipalArn", spanning)]
    ));
    assert!(holds(
        r#"{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Admin"}}"#,
        &[("aws:PrincipalArn", spanning)]
    ));
    // fewer than six segments is not an ARN
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:*:role/Admin"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("is not an ARN"), "{e}");
    for op in ["ArnNotEquals", "ArnNotLike"] {
        let c = format!(r#"{{"{op}":{{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}}}"#);
        assert!(!holds(&c, &[("aws:PrincipalArn", arn)]), "{op}");
        assert!(holds(
            &c,
            &[("aws:PrincipalArn", "arn:aws:iam::111122223333:user/x")]
        ));
        assert!(holds(&c, &[]));
    }
}

#[test]
fn null_tests_presence() {
    let c = r#"{"Null":{"aws:TokenIssueTime":"true"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]));
    let c = r#"{"Null":{"aws:TokenIssueTime":false}}"#;
    assert!(!holds(c, &[]));
    assert!(holds(c, &[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]));
    let mut tags = MapContext::default();
    tags.insert_many("aws:TagKeys", vec![]);
    assert!(condition_holds(
        r#"{"Null":{"aws:TagKeys":"false"}}"#,
        &tags
    ));
}

#[test]
fn if_exists_passes_absent_keys_and_tests_present_ones() {
    let c = r#"{"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#;
    assert!(holds(c, &[]));
    assert!(holds(
        c,
        &[("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")]
    ));
    assert!(!holds(
        c,
        &[("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256")]
    ));
    let c = r#"{"NotIpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:SourceIp", "10.0.0.1")]));
    let c = r#"{"NumericLessThanIfExists":{"k:n":"5"}}"#;
    assert!(holds(c, &[]));
    assert!(holds(c, &[("k:n", "4")]));
    assert!(!holds(c, &[("k:n", "5")]));
    let c = r#"{"DateGreaterThanIfExists":{"aws:TokenIssueTime":"2020-01-01"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:TokenIssueTime", "2019-01-01")]));
    let c = r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:MultiFactorAuthPresent", "false")]));
    let c = r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#;
    assert!(holds(c, &[]));
    assert!(!holds(c, &[("aws:SourceArn", "arn:aws:s3:::other")]));
    let c = r#"{"BinaryEqualsIfExists":{"k:bin":"QQ=="}}"#;
    assert!(holds(c, &[]));
    assert!(holds(c, &[("k:bin", "QQ==")]));
    let e = refusal(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"k:x":"true"}}}}"#,
        PolicyKind::Identity,
    );
    assert!(e.contains("Null has no IfExists"), "{e}");
}

fn set_ctx(key: &str, values: Option<&[&str]>) -> MapContext {
    let mut c = MapContext::default();
    if let Some(values) = values {
        c.insert_many(key, values.iter().map(|v| v.to_string()).collect());
    }
    c
}

#[test]
fn for_all_values_true_for_absent_and_empty_sets() {
    let c = r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName","FilePath"]}}"#;
    let k = "kms:EncryptionContextKeys";
    assert!(condition_holds(c, &set_ctx(k, None)));
    assert!(condition_holds(c, &set_ctx(k, Some(&[]))));
    assert!(condition_holds(c, &set_ctx(k, Some(&["AppName"]))));
    assert!(condition_holds(
        c,
        &set_ctx(k, Some(&["AppName", "FilePath"]))
    ));
    assert!(!condition_holds(
        c,
        &set_ctx(k, Some(&["AppName", "Other"]))
    ));
    // case-sensitive values: this is how a policy pins the case of context keys
    assert!(!condition_holds(c, &set_ctx(k, Some(&["appname"]))));
    // a single value counts as a set of one
    assert!(condition_holds(c, &ctx(&[(k, "FilePath")])));
}

#[test]
fn for_any_value_false_for_absent_and_empty_sets() {
    let c = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner","CostCenter"]}}"#;
    let k = "aws:TagKeys";
    assert!(!condition_holds(c, &set_ctx(k, None)));
    assert!(!condition_holds(c, &set_ctx(k, Some(&[]))));
    assert!(condition_holds(c, &set_ctx(k, Some(&["Project", "Owner"]))));
    assert!(!condition_holds(c, &set_ctx(k, Some(&["Project"]))));
    let c = r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"Owner"}}"#;
    assert!(condition_holds(c, &set_ctx(k, None)));
    assert!(!condition_holds(c, &set_ctx(k, Some(&[]))));
}

#[test]
fn negated_set_operators() {
    let k = "kms:GrantOperations";
    let c =
        r#"{"ForAllValues:StringNotEquals":{"kms:GrantOperations":["CreateGrant","RetireGrant"]}}"#;
    assert!(condition_holds(
        c,
        &set_ctx(k, Some(&["Decrypt", "Encrypt"]))
    ));
    assert!(!condition_holds(
        c,
        &set_ctx(k, Some(&["Decrypt", "CreateGrant"]))
    ));
    assert!(condition_holds(c, &set_ctx(k, None)));
    assert!(condition_holds(c, &set_ctx(k, Some(&[]))));
    let c = r#"{"ForAnyValue:StringNotLike":{"kms:ResourceAliases":"alias/prod-*"}}"#;
    let k = "kms:ResourceAliases";
    assert!(condition_holds(
        c,
        &set_ctx(k, Some(&["alias/prod-1", "alias/dev"]))
    ));
    assert!(!condition_holds(c, &set_ctx(k, Some(&["alias/prod-1"]))));
    assert!(!condition_holds(c, &set_ctx(k, None)));
    assert!(!condition_holds(c, &set_ctx(k, Some(&[]))));
}

#[test]
fn for_any_value_string_like_on_aliases() {
    let c = r#"{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}}"#;
    let k = "kms:ResourceAliases";
    assert!(condition_holds(
        c,
        &set_ctx(k, Some(&["alias/a", "alias/finance-1"]))
    ));
    assert!(!condition_holds(c, &set_ctx(k, Some(&["alias/a"]))));
}

#[test]
fn multi_valued_key_without_a_set_operator() {
    let k = "aws:TagKeys";
    let c = r#"{"StringEquals":{"aws:TagKeys":"Owner"}}"#;
    assert!(condition_holds(c, &set_ctx(k, Some(&["Owner", "X"]))));
    assert!(!condition_holds(c, &set_ctx(k, Some(&["X"]))));
    assert!(!condition_holds(c, &set_ctx(k, Some(&[]))));
    let c = r#"{"StringNotEquals":{"aws:TagKeys":"Owner"}}"#;
    assert!(!condition_holds(c, &set_ctx(k, Some(&["Owner", "X"]))));
    assert!(condition_holds(c, &set_ctx(k, Some(&["X"]))));
    assert!(condition_holds(c, &set_ctx(k, Some(&[]))));
}

#[test]
fn keys_and_operators_are_anded() {
    let c = r#"{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"},"Bool":{"aws:SecureTransport":"true"}}"#;
    let all = [
        ("kms:CallerAccount", "111122223333"),
        ("kms:ViaService", "ec2.us-west-2.amazonaws.com"),
        ("aws:SecureTransport", "true"),
    ];
    assert!(holds(c, &all));
    for skip in 0..all.len() {
        let some: Vec<_> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        assert!(!holds(c, &some), "without {:?}", all[skip]);
    }
}

#[test]
fn key_names_and_operator_names_ignore_case() {
    let c = r#"{"stringequals":{"AWS:SOURCEIP":"10.0.0.1"}}"#;
    assert!(holds(c, &[("aws:SourceIp", "10.0.0.1")]));
    let c = r#"{"forallvalues:stringequalsifexists":{"kms:EncryptionContextKeys":"a"}}"#;
    assert!(holds(c, &[]));
    // encryption-context and tag keys too: a policy cannot tell Dept from dept
    let c = r#"{"StringEquals":{"kms:EncryptionContext:Department":"IT"}}"#;
    assert!(holds(c, &[("kms:encryptioncontext:department", "IT")]));
    assert!(holds(c, &[("KMS:EncryptionContext:DEPARTMENT", "IT")]));
    assert!(!holds(c, &[("kms:EncryptionContext:Department", "it")]));
}

#[test]
fn unknown_operators_and_bad_keys_are_refused() {
    for (condition, needle) in [
        (
            r#"{"StringEqualz":{"k:x":"a"}}"#,
            "unknown condition operator",
        ),
        (
            r#"{"ForSomeValues:StringEquals":{"k:x":"a"}}"#,
            "unknown condition operator",
        ),
        (r#"{"ForAllValues:Null":{"k:x":"true"}}"#, "no set operator"),
        (
            r#"{"StringEquals":{"nocolon":"a"}}"#,
            "invalid condition key",
        ),
        (r#"{"StringEquals":{"k:x":[]}}"#, "non-empty list"),
        (r#"{"StringEquals":{"k:x":null}}"#, "non-empty list"),
        (r#"{"StringEquals":{"k:x":{"a":"b"}}}"#, "non-empty list"),
        (r#"{"StringEquals":{}}"#, "names no key"),
        (r#"{"StringEquals":"k:x"}"#, "must map keys"),
        (r#"["StringEquals"]"#, "Condition must be an object"),
    ] {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}}}"#
        );
        let e = refusal(&json, PolicyKind::Identity);
        assert!(e.contains(needle), "{condition}: {e}");
    }
}

#[test]
fn variables_in_condition_values() {
    let c = r#"{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}"#;
    assert!(holds(
        c,
        &[
            ("aws:username", "alice"),
            ("kms:EncryptionContext:user", "alice")
        ]
    ));
    assert!(!holds(
        c,
        &[
            ("aws:username", "alice"),
            ("kms:EncryptionContext:user", "bob")
        ]
    ));
    // the variable's key is absent: the value is null and matches nothing...
    assert!(!holds(c, &[("kms:EncryptionContext:user", "alice")]));
    assert!(!holds(
        c,
        &[("kms:EncryptionContext:user", "${aws:username}")]
    ));
    // ...so a negated operator passes
    let c = r#"{"StringNotEquals":{"kms:EncryptionContext:user":"${aws:username}"}}"#;
    assert!(holds(c, &[("kms:EncryptionContext:user", "alice")]));
    assert!(!holds(
        c,
        &[
            ("aws:username", "alice"),
            ("kms:EncryptionContext:user", "alice")
        ]
    ));
    // a default value
    let c =
        r#"{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team, 'company-wide'}"}}"#;
    assert!(holds(c, &[("aws:ResourceTag/team", "company-wide")]));
    assert!(holds(
        c,
        &[
            ("aws:PrincipalTag/team", "red"),
            ("aws:ResourceTag/team", "red")
        ]
    ));
    assert!(!holds(
        c,
        &[
            ("aws:PrincipalTag/team", "red"),
            ("aws:ResourceTag/team", "company-wide")
        ]
    ));
    // inside StringLike, around wildcards, and with escapes
    let c = r#"{"StringLike":{"kms:RequestAlias":"alias/${aws:username}-*"}}"#;
    assert!(holds(
        c,
        &[
            ("aws:username", "alice"),
            ("kms:RequestAlias", "alias/alice-1")
        ]
    ));
    assert!(!holds(
        c,
        &[
            ("aws:username", "alice"),
            ("kms:RequestAlias", "alias/bob-1")
        ]
    ));
    let c = r#"{"StringLike":{"k:x":"a${*}b"}}"#;
    assert!(holds(c, &[("k:x", "a*b")]));
    assert!(!holds(c, &[("k:x", "aXb")]));
    // ${aws:PrincipalArn} and ${aws:PrincipalAccount}, as the gate provides them
    let mut c = MapContext::with_principal(&APP_SESSION);
    c.insert(
        "kms:EncryptionContext:owner",
        "arn:aws:iam::111122223333:role/App",
    );
    c.insert("kms:CallerAccount", "111122223333");
    assert!(condition_holds(
        r#"{"StringEquals":{"kms:EncryptionContext:owner":"${aws:PrincipalArn}","kms:CallerAccount":"${aws:PrincipalAccount}"}}"#,
        &c
    ));
    c.insert(
        "kms:EncryptionContext:owner",
        "arn:aws:iam::111122223333:role/Other",
    );
    assert!(!condition_holds(
        r#"{"StringEquals":{"kms:EncryptionContext:owner":"${aws:PrincipalArn}"}}"#,
        &c
    ));
    // not in operators whose values are typed
    for condition in [
        r#"{"NumericEquals":{"k:n":"${aws:userid}"}}"#,
        r#"{"DateLessThan":{"aws:CurrentTime":"${aws:TokenIssueTime}"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"${aws:SourceIp}"}}"#,
        r#"{"Bool":{"aws:SecureTransport":"${aws:ViaAWSService}"}}"#,
    ] {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{condition}}}}}"#
        );
        assert!(
            refusal(&json, PolicyKind::Identity).contains("is not"),
            "{condition}"
        );
    }
    // in ArnLike
    let c = r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::${aws:username}-bucket"}}"#;
    assert!(holds(
        c,
        &[
            ("aws:username", "alice"),
            ("aws:SourceArn", "arn:aws:s3:::alice-bucket")
        ]
    ));
    assert!(!holds(
        c,
        &[
            ("aws:username", "alice"),
            ("aws:SourceArn", "arn:aws:s3:::bob-bucket")
        ]
    ));
}

#[test]
fn variables_are_literal_under_version_2008() {
    let c = r#"{"StringEquals":{"k:x":"${aws:username}"}}"#;
    let version = "2008-10-17";
    let with_user = ctx(&[("aws:username", "alice"), ("k:x", "alice")]);
    assert!(!condition_holds_in(c, &with_user, version));
    let literal = ctx(&[("aws:username", "alice"), ("k:x", "${aws:username}")]);
    assert!(condition_holds_in(c, &literal, version));
}
