//! Damaged documents never panic: every truncation and every single-byte deletion or
//! substitution of a policy that uses every element either parses or is refused, and what
//! parses evaluates.

mod common;

use common::*;
use trent_policy::{MapContext, Policy, PolicyKind};

const RICH: &str = r#"{"Version":"2012-10-17","Id":"x","Statement":[
 {"Sid":"A","Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/App"],"Service":"logs.amazonaws.com"},
  "Action":["kms:Encrypt","kms:Generate*"],"Resource":"arn:aws:kms:*:${aws:PrincipalAccount}:key/*",
  "Condition":{"StringLike":{"kms:EncryptionContext:a":"${aws:username, 'd'}-*"},"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["a","b"]},
   "NumericLessThan":{"k:n":1.5},"DateGreaterThanIfExists":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},
   "Bool":{"aws:SecureTransport":true},"BinaryEquals":{"k:b":"QQ=="},"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/x"},"Null":{"k:z":"true"}}},
 {"Effect":"Deny","NotPrincipal":"*","NotAction":"kms:Describe*","NotResource":"*"}]}"#;

#[test]
fn damaged_documents_never_panic() {
    let mut ctx = MapContext::with_principal(&ALICE);
    ctx.insert("kms:EncryptionContext:a", "alice-1");
    ctx.insert_many("kms:EncryptionContextKeys", vec!["a".into()]);
    ctx.insert("k:n", "1");
    ctx.insert("aws:SourceIp", "10.0.0.1");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("k:b", "QQ==");
    let full = parse(RICH, PolicyKind::Resource);
    assert_eq!(
        eval(&full, &ALICE, "kms:Encrypt", KEY, &ctx).allow,
        trent_policy::Allow::Account
    );
    let bytes = RICH.as_bytes();
    let mut parsed = 0;
    let mut try_one = |candidate: Vec<u8>| {
        let Ok(text) = String::from_utf8(candidate) else {
            return;
        };
        for kind in [PolicyKind::Resource, PolicyKind::Identity] {
            if let Ok(p) = Policy::parse(&text, kind) {
                parsed += 1;
                for who in [&ROOT, &ALICE, &APP_SESSION, &OUTSIDER] {
                    let _ = eval(&p, who, "kms:Encrypt", KEY, &ctx);
                }
            }
        }
    };
    for i in 0..bytes.len() {
        try_one(bytes[..i].to_vec());
        let mut deleted = bytes.to_vec();
        deleted.remove(i);
        try_one(deleted);
        for b in [b'"', b'{', b']', b':', b'*', b'$', b'0'] {
            let mut changed = bytes.to_vec();
            changed[i] = b;
            try_one(changed);
        }
    }
    assert!(parsed > 0);
}
