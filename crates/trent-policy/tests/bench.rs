//! A micro benchmark of evaluation on the Encrypt hot path (ignored by default):
//! `cargo test -p trent-policy --release --test bench -- --ignored --nocapture`
//! prints nanoseconds per evaluation for the default key policy and for a ten-statement key
//! policy with conditions, plus an identity policy.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use trent_policy::{Allow, MapContext, Policy, PolicyKind, Request};

const TEN_STATEMENTS: &str = r#"{"Version":"2012-10-17","Id":"bench","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSAdminRole"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*"],"Resource":"*"},
  {"Sid":"No deletion","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/KMSAdminRole"}}},
  {"Sid":"TLS only","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
  {"Sid":"Office","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddressIfExists":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}}},
  {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:partner":"yes"}}},
  {"Sid":"Grants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}},
  {"Sid":"Until","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2099-12-31T23:59:59Z"}}},
  {"Sid":"Context keys","Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":["forbidden*","tmp-?"]}}},
  {"Sid":"Users","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:user/bob"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:EncryptionContext:app":"${aws:username}"}}}
]}"#;

const DEFAULT: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"arn:aws:kms:*:111122223333:key/*"}]}"#;

/// Nanoseconds this thread has run on a CPU (Linux), so that a busy machine does not inflate
/// the figure with time spent waiting for a core; wall-clock time elsewhere.
fn cpu_ns(wall: Instant) -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| wall.elapsed().as_nanos())
}

fn ns_per_eval(policy: &Policy, req: &Request<'_>, want: Allow) -> f64 {
    assert_eq!(policy.evaluate(req).allow, want);
    const N: u32 = 200_000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let wall = Instant::now();
        let start = cpu_ns(wall);
        for _ in 0..N {
            black_box(black_box(policy).evaluate(black_box(req)));
        }
        let spent = cpu_ns(wall) - start;
        best = best.min(spent as f64 / f64::from(N));
    }
    best
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn evaluation_cost() {
    let mut ctx = MapContext::with_principal(&ALICE);
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:SourceIp", "10.1.2.3");
    ctx.insert("aws:CurrentTime", "2026-12-04T17:00:00Z");
    ctx.insert("kms:CallerAccount", ACCOUNT);
    ctx.insert("kms:EncryptionContext:app", "alice");
    ctx.insert_many("kms:EncryptionContextKeys", vec!["app".into()]);
    let req = Request {
        principal: &ALICE,
        action: "kms:Encrypt",
        resource: KEY,
        context: &ctx,
    };
    let default = Policy::parse(DEFAULT, PolicyKind::Resource).unwrap();
    let ten = Policy::parse(TEN_STATEMENTS, PolicyKind::Resource).unwrap();
    let identity = Policy::parse(IDENTITY, PolicyKind::Identity).unwrap();
    println!(
        "default key policy:        {:7.1} ns/eval",
        ns_per_eval(&default, &req, Allow::Account)
    );
    println!(
        "ten statements, conditions:{:7.1} ns/eval",
        ns_per_eval(&ten, &req, Allow::Principal)
    );
    println!(
        "identity policy:           {:7.1} ns/eval",
        ns_per_eval(&identity, &req, Allow::Principal)
    );
    let start = Instant::now();
    for _ in 0..1000 {
        black_box(Policy::parse(black_box(TEN_STATEMENTS), PolicyKind::Resource).unwrap());
    }
    println!(
        "parse ten statements:      {:7.1} µs",
        start.elapsed().as_secs_f64() * 1e6 / 1000.0
    );
}
