//! AWS's documented example policies (KMS developer guide and IAM user guide), evaluated as AWS
//! describes their effect.

mod common;

use common::*;
use trent_policy::{Allow, MapContext, PolicyKind, PrincipalInfo};

const ADMIN: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:sts::111122223333:assumed-role/KMSAdminRole/admin-session",
    account: "111122223333",
    role_arn: Some("arn:aws:iam::111122223333:role/KMSAdminRole"),
};
const USER_ROLE: PrincipalInfo<'static> = PrincipalInfo {
    arn: "arn:aws:sts::111122223333:assumed-role/KMSKeyUserRole/app",
    account: "111122223333",
    role_arn: Some("arn:aws:iam::111122223333:role/KMSKeyUserRole"),
};

fn level(
    policy: &trent_policy::Policy,
    who: &PrincipalInfo<'_>,
    action: &str,
    ctx: &MapContext,
) -> Allow {
    let e = eval(policy, who, action, KEY, ctx);
    assert!(!e.explicit_deny, "{action} by {}", who.arn);
    e.allow
}

/// The default key policy, byte for byte as AWS returns it.
#[test]
fn default_key_policy_delegates_to_the_account() {
    let json = r#"{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"#;
    let p = parse(json, PolicyKind::Resource);
    let ctx = MapContext::default();
    for who in [&ROOT, &ALICE, &APP_SESSION] {
        for action in ["kms:Encrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] {
            assert_eq!(level(&p, who, action, &ctx), Allow::Account, "{action}");
        }
    }
    assert_eq!(level(&p, &OUTSIDER, "kms:Encrypt", &ctx), Allow::None);
    assert_eq!(p.named_principals(), vec!["arn:aws:iam::111122223333:root"]);
}

/// The console's policy with key administrators and key users.
#[test]
fn key_administrators_and_key_users() {
    let json = r#"{
  "Id": "key-consolepolicy-3",
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KMSAdminRole"]},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
                "kms:RotateKeyOnDemand"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSKeyUserRole"},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KMSKeyUserRole"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
     "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
}"#;
    let p = parse(json, PolicyKind::Resource);
    let ctx = MapContext::default();
    // administrators manage but do not use the key (use comes only through IAM delegation)
    assert_eq!(
        level(&p, &ADMIN, "kms:PutKeyPolicy", &ctx),
        Allow::Principal
    );
    assert_eq!(
        level(&p, &ADMIN, "kms:ScheduleKeyDeletion", &ctx),
        Allow::Principal
    );
    assert_eq!(level(&p, &ADMIN, "kms:Encrypt", &ctx), Allow::Account);
    // users use but do not manage
    for action in [
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKeyWithoutPlaintext",
    ] {
        assert_eq!(
            level(&p, &USER_ROLE, action, &ctx),
            Allow::Principal,
            "{action}"
        );
    }
    assert_eq!(
        level(&p, &USER_ROLE, "kms:PutKeyPolicy", &ctx),
        Allow::Account
    );
    // grants only for AWS resources
    let mut for_service = MapContext::default();
    for_service.insert("kms:GrantIsForAWSResource", "true");
    let mut direct = MapContext::default();
    direct.insert("kms:GrantIsForAWSResource", "false");
    assert_eq!(
        level(&p, &USER_ROLE, "kms:CreateGrant", &for_service),
        Allow::Principal
    );
    assert_eq!(
        level(&p, &USER_ROLE, "kms:CreateGrant", &direct),
        Allow::Account
    );
    assert_eq!(level(&p, &OUTSIDER, "kms:Encrypt", &ctx), Allow::None);
}

/// kms:EncryptionContext:<k>, and an exact context with kms:EncryptionContextKeys.
#[test]
fn encryption_context_conditions() {
    let json = r#"{"Version":"2012-10-17","Statement":[{
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/RoleForExampleApp"},
      "Action": "kms:Decrypt",
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "kms:EncryptionContext:AppName": "ExampleApp",
          "kms:EncryptionContext:FilePath": "/var/opt/secrets/"
        },
        "ForAllValues:StringEquals": {
          "kms:EncryptionContextKeys": ["AppName", "FilePath"]
        }
      }
    }]}"#;
    let p = parse(json, PolicyKind::Resource);
    let app = PrincipalInfo {
        arn: "arn:aws:sts::111122223333:assumed-role/RoleForExampleApp/s",
        account: "111122223333",
        role_arn: Some("arn:aws:iam::111122223333:role/RoleForExampleApp"),
    };
    let request = |pairs: &[(&str, &str)]| {
        let mut ctx = MapContext::default();
        for (k, v) in pairs {
            ctx.insert(&format!("kms:EncryptionContext:{k}"), *v);
        }
        ctx.insert_many(
            "kms:EncryptionContextKeys",
            pairs.iter().map(|(k, _)| k.to_string()).collect(),
        );
        ctx
    };
    let decrypt = |ctx: &MapContext| eval(&p, &app, "kms:Decrypt", KEY, ctx).allow;
    assert_eq!(
        decrypt(&request(&[
            ("AppName", "ExampleApp"),
            ("FilePath", "/var/opt/secrets/")
        ])),
        Allow::Principal
    );
    // an extra pair breaks ForAllValues
    assert_eq!(
        decrypt(&request(&[
            ("AppName", "ExampleApp"),
            ("FilePath", "/var/opt/secrets/"),
            ("x", "y")
        ])),
        Allow::None
    );
    // a missing pair breaks StringEquals
    assert_eq!(decrypt(&request(&[("AppName", "ExampleApp")])), Allow::None);
    // a wrong value
    assert_eq!(
        decrypt(&request(&[
            ("AppName", "Other"),
            ("FilePath", "/var/opt/secrets/")
        ])),
        Allow::None
    );
    // the key's letter case: kms:EncryptionContext:<k> ignores it, kms:EncryptionContextKeys pins it
    assert_eq!(
        decrypt(&request(&[
            ("appname", "ExampleApp"),
            ("FilePath", "/var/opt/secrets/")
        ])),
        Allow::None
    );
    assert_eq!(decrypt(&MapContext::default()), Allow::None);
}

/// kms:ViaService with kms:CallerAccount: use only through named services of one account.
#[test]
fn via_service_and_caller_account() {
    let json = r#"{"Version":"2012-10-17","Statement":[{
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "kms:CallerAccount": "111122223333",
          "kms:ViaService": ["ec2.us-west-2.amazonaws.com", "rds.us-west-2.amazonaws.com"]
        }
      }
    }]}"#;
    let p = parse(json, PolicyKind::Resource);
    let via = |service: Option<&str>, account: &str| {
        let mut ctx = MapContext::default();
        ctx.insert("kms:CallerAccount", account);
        if let Some(s) = service {
            ctx.insert("kms:ViaService", s);
        }
        eval(&p, &ALICE, "kms:Encrypt", KEY, &ctx).allow
    };
    assert_eq!(
        via(Some("ec2.us-west-2.amazonaws.com"), ACCOUNT),
        Allow::Principal
    );
    assert_eq!(
        via(Some("rds.us-west-2.amazonaws.com"), ACCOUNT),
        Allow::Principal
    );
    assert_eq!(
        via(Some("s3.us-west-2.amazonaws.com"), ACCOUNT),
        Allow::None
    );
    assert_eq!(via(None, ACCOUNT), Allow::None);
    assert_eq!(
        via(Some("ec2.us-west-2.amazonaws.com"), "444455556666"),
        Allow::None
    );
}

/// IAM's example: deny everything from outside an address range, except calls AWS services
/// make on the caller's behalf.
#[test]
fn source_ip_deny() {
    let json = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {
           "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
           "Bool": {"aws:ViaAWSService": "false"}
         }}
      ]
    }"#;
    let p = parse(json, PolicyKind::Identity);
    let from = |ip: Option<&str>, via_aws: &str| {
        let mut ctx = MapContext::default();
        if let Some(ip) = ip {
            ctx.insert("aws:SourceIp", ip);
        }
        ctx.insert("aws:ViaAWSService", via_aws);
        eval(&p, &ALICE, "kms:Encrypt", KEY, &ctx)
    };
    assert!(!from(Some("192.0.2.7"), "false").explicit_deny);
    assert!(!from(Some("203.0.113.200"), "false").explicit_deny);
    assert!(from(Some("198.51.100.1"), "false").explicit_deny);
    assert!(!from(Some("198.51.100.1"), "true").explicit_deny);
    // no source address (e.g. through a VPC endpoint): NotIpAddress on an absent key is true
    assert!(from(None, "false").explicit_deny);
    assert_eq!(from(Some("192.0.2.7"), "false").allow, Allow::Principal);
}

/// ABAC: use keys whose tag matches the principal's tag, and refuse keys of other projects.
#[test]
fn abac_on_resource_tags() {
    let json = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
         "Resource": "arn:aws:kms:*:111122223333:key/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/Project": "${aws:PrincipalTag/Project}"}}},
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/Confidentiality": "Restricted"}}}
      ]
    }"#;
    let p = parse(json, PolicyKind::Identity);
    let call = |principal_tag: Option<&str>, tags: &[(&str, &str)]| {
        let mut ctx = MapContext::with_principal(&ALICE);
        if let Some(t) = principal_tag {
            ctx.insert("aws:PrincipalTag/Project", t);
        }
        for (k, v) in tags {
            ctx.insert(&format!("aws:ResourceTag/{k}"), *v);
        }
        eval(&p, &ALICE, "kms:GenerateDataKey", KEY, &ctx)
    };
    assert_eq!(
        call(Some("Alpha"), &[("Project", "Alpha")]).allow,
        Allow::Principal
    );
    assert_eq!(
        call(Some("Alpha"), &[("Project", "Beta")]).allow,
        Allow::None
    );
    assert_eq!(call(Some("Alpha"), &[]).allow, Allow::None);
    // no principal tag: the variable is null, nothing matches
    assert_eq!(call(None, &[("Project", "Alpha")]).allow, Allow::None);
    // tag keys compare case-insensitively
    assert_eq!(
        call(Some("Alpha"), &[("project", "Alpha")]).allow,
        Allow::Principal
    );
    assert!(
        call(
            Some("Alpha"),
            &[("Project", "Alpha"), ("Confidentiality", "Restricted")]
        )
        .explicit_deny
    );
}

/// Cross-account: the key policy names the other account; its principals then need their
/// own identity policy (the gate's part), and the policy reports Account for them.
#[test]
fn cross_account_key_policy() {
    let json = r#"{"Version":"2012-10-17","Statement":[
      {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
      {"Sid":"Allow an external account to use this KMS key","Effect":"Allow",
       "Principal":{"AWS":["arn:aws:iam::444455556666:root"]},
       "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
       "Resource":"*"}
    ]}"#;
    let p = parse(json, PolicyKind::Resource);
    let ctx = MapContext::default();
    assert_eq!(level(&p, &OUTSIDER, "kms:Encrypt", &ctx), Allow::Account);
    assert_eq!(level(&p, &OUTSIDER, "kms:PutKeyPolicy", &ctx), Allow::None);
    assert_eq!(level(&p, &ALICE, "kms:PutKeyPolicy", &ctx), Allow::Account);
    // and the external account's identity policy, naming the key by ARN
    let iam = parse(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"{KEY}"}}}}"#
        ),
        PolicyKind::Identity,
    );
    assert_eq!(
        eval(&iam, &OUTSIDER, "kms:Encrypt", KEY, &ctx).allow,
        Allow::Principal
    );
    assert_eq!(
        eval(&iam, &OUTSIDER, "kms:DescribeKey", KEY, &ctx).allow,
        Allow::None
    );
}

/// kms:RequestAlias / kms:ResourceAliases, from the alias-authorization guide.
#[test]
fn alias_conditions() {
    let json = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"arn:aws:kms:*:111122223333:key/*",
       "Condition":{"StringEquals":{"kms:RequestAlias":"alias/finance-key"}}},
      {"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*",
       "Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance*"}}}
    ]}"#;
    let p = parse(json, PolicyKind::Identity);
    let mut by_alias = MapContext::default();
    by_alias.insert("kms:RequestAlias", "alias/finance-key");
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", KEY, &by_alias).allow,
        Allow::Principal
    );
    assert_eq!(
        eval(&p, &ALICE, "kms:Encrypt", KEY, &MapContext::default()).allow,
        Allow::None
    );
    let mut aliases = MapContext::default();
    aliases.insert_many(
        "kms:ResourceAliases",
        vec!["alias/other".into(), "alias/finance-2".into()],
    );
    assert_eq!(
        eval(&p, &ALICE, "kms:DescribeKey", KEY, &aliases).allow,
        Allow::Principal
    );
    aliases.insert_many("kms:ResourceAliases", vec![]);
    assert_eq!(
        eval(&p, &ALICE, "kms:DescribeKey", KEY, &aliases).allow,
        Allow::None
    );
}

/// The lockout question the gate asks: may this caller still call PutKeyPolicy?
#[test]
fn lockout_question() {
    let locks_out = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Encrypt","Resource":"*"}}"#,
        PolicyKind::Resource,
    );
    assert_eq!(
        eval(
            &locks_out,
            &ALICE,
            "kms:PutKeyPolicy",
            KEY,
            &MapContext::default()
        )
        .allow,
        Allow::None
    );
    let keeps = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Put*","Resource":"*"}}"#,
        PolicyKind::Resource,
    );
    assert_eq!(
        eval(
            &keeps,
            &ALICE,
            "kms:PutKeyPolicy",
            KEY,
            &MapContext::default()
        )
        .allow,
        Allow::Principal
    );
}
