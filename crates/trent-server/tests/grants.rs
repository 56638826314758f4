//! Grants through the real binary: CreateGrant and its constraints, Name idempotency, grant
//! tokens, ListGrants/ListRetirableGrants shapes, RetireGrant and RevokeGrant rules, sub-grants,
//! and grants across accounts.

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation as Op, KeySpec, KeyUsageType};
use aws_sdk_kms::Client;
use common::{Server, REGION};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn user(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

/// ROOT; alice (kms:*); bob and frank (no identity policy); carol of another account (kms:*).
fn start() -> (Server, tempfile::TempDir) {
    let cred = |key: &str, account: &str, principal: Option<String>, policy: Option<&str>| {
        let mut s = format!(
            "[[credentials]]\naccess_key_id = \"{key}\"\nsecret_access_key = \"secret\"\naccount_id = \"{account}\"\n"
        );
        if let Some(p) = principal {
            s += &format!("principal = \"{p}\"\n");
        }
        if let Some(p) = policy {
            s += &format!("policy = '''{p}'''\n");
        }
        s
    };
    common::start_with_config(
        &[
            cred("ROOT", ACCT, None, None),
            cred("ALICE", ACCT, Some(user(ACCT, "alice")), Some(ALLOW_ALL)),
            cred("BOB", ACCT, Some(user(ACCT, "bob")), None),
            cred("FRANK", ACCT, Some(user(ACCT, "frank")), None),
            cred("CAROL", OTHER, Some(user(OTHER, "carol")), Some(ALLOW_ALL)),
        ]
        .concat(),
    )
}

fn client(server: &Server, key: &str) -> Client {
    server.client_for(REGION, key, "secret")
}

fn code<T: std::fmt::Debug, E, R>(result: Result<T, aws_sdk_kms::error::SdkError<E, R>>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    common::code(&result.expect_err("expected an error"))
}

async fn grant(kms: &Client, key: &str, grantee: &str, ops: &[Op]) -> (String, String) {
    let out = kms
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .set_operations(Some(ops.to_vec()))
        .send()
        .await
        .unwrap();
    (
        out.grant_id().unwrap().to_owned(),
        out.grant_token().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_grant_allows_its_operations_to_its_grantee() {
    let (server, _dir) = start();
    let (root, bob) = (client(&server, "ROOT"), client(&server, "BOB"));
    let id = common::symmetric_key(&root).await;
    let arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/{id}");
    let bob_arn = user(ACCT, "bob");
    assert_eq!(
        code(common::encrypt_request(&bob, &id, "x").send().await),
        "AccessDeniedException"
    );
    let out = root
        .create_grant()
        .key_id(&id)
        .grantee_principal(&bob_arn)
        .operations(Op::Encrypt)
        .operations(Op::Decrypt)
        .operations(Op::RetireGrant)
        .name("bob-crypto")
        .send()
        .await
        .unwrap();
    let (grant_id, token) = (out.grant_id().unwrap(), out.grant_token().unwrap());
    assert_eq!(grant_id.len(), 64);
    // Effective at once, and the token is accepted wherever GrantTokens is.
    let encrypt_with = |token: &str| {
        bob.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .grant_tokens(token)
            .send()
    };
    let blob = encrypt_with(token).await.unwrap().ciphertext_blob.unwrap();
    common::decrypts_to(&bob, blob, "x").await;
    assert_eq!(
        code(bob.describe_key().key_id(&id).send().await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(encrypt_with("bm90IGEgdG9rZW4=").await),
        "InvalidGrantTokenException"
    );
    // Each token is 1 to 8192 characters in AWS's model: outside that, a validation error that
    // does not echo the token.
    for (token, bound) in [
        (String::new(), "greater than or equal to 1"),
        ("A".repeat(8193), "less than or equal to 8192"),
    ] {
        let err = encrypt_with(&token).await.unwrap_err();
        assert_eq!(common::code(&err), "ValidationException");
        assert_eq!(
            err.into_service_error().meta().message(),
            Some(
                format!(
                    "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length {bound}"
                )
                .as_str()
            )
        );
    }

    // Name idempotency: the same request finds the same grant, with a new token.
    let again = root
        .create_grant()
        .key_id(&id)
        .grantee_principal(&bob_arn)
        .operations(Op::Encrypt)
        .operations(Op::Decrypt)
        .operations(Op::RetireGrant)
        .name("bob-crypto")
        .send()
        .await
        .unwrap();
    assert_eq!(again.grant_id(), Some(grant_id));
    assert_ne!(again.grant_token(), Some(token));
    let (other_id, _) = grant(&root, &id, &bob_arn, &[Op::DescribeKey]).await;
    assert_ne!(other_id, grant_id);

    // ListGrants: AWS's shape, filters and pages.
    let listed = root.list_grants().key_id(&id).send().await.unwrap();
    assert_eq!(listed.grants().len(), 2);
    let g = &listed.grants()[0];
    assert_eq!(g.key_id(), Some(arn.as_str()));
    assert_eq!(g.grant_id(), Some(grant_id));
    assert_eq!(g.name(), Some("bob-crypto"));
    assert_eq!(g.grantee_principal(), Some(bob_arn.as_str()));
    assert_eq!(
        g.issuing_account(),
        Some(format!("arn:aws:iam::{ACCT}:root").as_str())
    );
    assert_eq!(g.operations(), [Op::Encrypt, Op::Decrypt, Op::RetireGrant]);
    assert!(g.creation_date().is_some());
    let page = root
        .list_grants()
        .key_id(&id)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert!(page.truncated());
    let next = root
        .list_grants()
        .key_id(&id)
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.grants()[0].grant_id(), Some(other_id.as_str()));
    let one = root
        .list_grants()
        .key_id(&id)
        .grant_id(&other_id)
        .send()
        .await
        .unwrap();
    assert_eq!(one.grants().len(), 1);

    // The grantee retires by token (its grant lists RetireGrant); the grant is gone at once.
    bob.retire_grant().grant_token(token).send().await.unwrap();
    assert_eq!(
        code(common::encrypt_request(&bob, &id, "x").send().await),
        "AccessDeniedException"
    );
    // Revoke: an admin through the key policy; Bob may not; unknown ids are refused.
    assert_eq!(
        code(
            bob.revoke_grant()
                .key_id(&id)
                .grant_id(&other_id)
                .send()
                .await
        ),
        "AccessDeniedException"
    );
    let alice = client(&server, "ALICE");
    alice
        .revoke_grant()
        .key_id(&id)
        .grant_id(&other_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            alice
                .revoke_grant()
                .key_id(&id)
                .grant_id(&other_id)
                .send()
                .await
        ),
        "InvalidGrantIdException"
    );
    assert!(root
        .list_grants()
        .key_id(&id)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());
}

#[tokio::test]
async fn constraints_key_types_sub_grants_and_retirement() {
    let (server, _dir) = start();
    let (root, bob, frank) = (
        client(&server, "ROOT"),
        client(&server, "BOB"),
        client(&server, "FRANK"),
    );
    let id = common::symmetric_key(&root).await;
    let bob_arn = user(ACCT, "bob");
    root.create_grant()
        .key_id(&id)
        .grantee_principal(&bob_arn)
        .operations(Op::Encrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("Dept", "IT")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let encrypt = |ctx: &[(&str, &str)]| {
        let mut r = bob.encrypt().key_id(&id).plaintext(Blob::new("x"));
        for (k, v) in ctx {
            r = r.encryption_context(*k, *v);
        }
        r.send()
    };
    // Keys compare case-insensitively, values exactly; Equals means nothing more.
    encrypt(&[("dept", "IT")]).await.unwrap();
    assert_eq!(
        code(encrypt(&[("Dept", "it")]).await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(encrypt(&[("Dept", "IT"), ("x", "y")]).await),
        "AccessDeniedException"
    );
    assert_eq!(code(encrypt(&[]).await), "AccessDeniedException");

    // Operations are checked against the key's type; constraints need a symmetric key.
    assert_eq!(
        code(
            root.create_grant()
                .key_id(&id)
                .grantee_principal(&bob_arn)
                .operations(Op::Sign)
                .send()
                .await
        ),
        "ValidationException"
    );
    let rsa = common::create_with(common::create_request(
        &root,
        KeySpec::Rsa2048,
        KeyUsageType::SignVerify,
    ))
    .await;
    grant(&root, &rsa, &bob_arn, &[Op::Sign, Op::GetPublicKey]).await;
    assert_eq!(
        code(
            root.create_grant()
                .key_id(&rsa)
                .grantee_principal(&bob_arn)
                .operations(Op::Sign)
                .constraints(
                    GrantConstraints::builder()
                        .encryption_context_subset("a", "b")
                        .build()
                )
                .send()
                .await
        ),
        "ValidationException"
    );

    // Sub-grants: a grant's CreateGrant delegates only what the grant holds.
    let key2 = common::symmetric_key(&root).await;
    grant(&root, &key2, &bob_arn, &[Op::CreateGrant, Op::Encrypt]).await;
    let frank_arn = user(ACCT, "frank");
    grant(&bob, &key2, &frank_arn, &[Op::Encrypt]).await;
    common::encrypt(&frank, &key2, "x").await;
    assert_eq!(
        code(
            bob.create_grant()
                .key_id(&key2)
                .grantee_principal(&frank_arn)
                .operations(Op::Decrypt)
                .send()
                .await
        ),
        "AccessDeniedException"
    );

    // The retiring principal retires by key and grant id; it finds the grant in
    // ListRetirableGrants.
    let alice_arn = user(ACCT, "alice");
    let retirable = root
        .create_grant()
        .key_id(&key2)
        .grantee_principal(&frank_arn)
        .retiring_principal(&alice_arn)
        .operations(Op::DescribeKey)
        .send()
        .await
        .unwrap();
    let alice = client(&server, "ALICE");
    let listed = alice
        .list_retirable_grants()
        .retiring_principal(&alice_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.grants().len(), 1);
    assert_eq!(
        listed.grants()[0].retiring_principal(),
        Some(alice_arn.as_str())
    );
    // Frank (grantee without RetireGrant) may not retire it; Alice may.
    let retire = |c: &Client| {
        c.retire_grant()
            .key_id(&key2)
            .grant_id(retirable.grant_id().unwrap())
            .send()
    };
    assert_eq!(code(retire(&frank).await), "AccessDeniedException");
    retire(&alice).await.unwrap();
    assert_eq!(code(retire(&alice).await), "InvalidGrantIdException");

    // Grants are kept in every state; new ones need a usable key.
    root.disable_key().key_id(&key2).send().await.unwrap();
    assert_eq!(
        code(
            root.create_grant()
                .key_id(&key2)
                .grantee_principal(&frank_arn)
                .operations(Op::Encrypt)
                .send()
                .await
        ),
        "DisabledException"
    );
    assert_eq!(
        root.list_grants()
            .key_id(&key2)
            .send()
            .await
            .unwrap()
            .grants()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_grant_reaches_another_account() {
    let (server, _dir) = start();
    let (root, carol) = (client(&server, "ROOT"), client(&server, "CAROL"));
    let id = common::symmetric_key(&root).await;
    let arn = format!("arn:aws:kms:{REGION}:{ACCT}:key/{id}");
    assert_eq!(
        code(common::encrypt_request(&carol, &arn, "x").send().await),
        "AccessDeniedException"
    );
    grant(&root, &id, &user(OTHER, "carol"), &[Op::Encrypt]).await;
    common::encrypt(&carol, &arn, "x").await;
}

/// Another account's caller learns nothing of a key through RetireGrant: a grant id that is
/// not on the key is refused as a key it may not use, whether the key exists or not.
#[tokio::test]
async fn retiring_an_unknown_grant_of_another_account_reveals_nothing() {
    let (server, _dir) = start();
    let (root, carol) = (client(&server, "ROOT"), client(&server, "CAROL"));
    let id = common::symmetric_key(&root).await;
    let made_up = "0".repeat(64);
    for key in [
        format!("arn:aws:kms:{REGION}:{ACCT}:key/{id}"),
        format!("arn:aws:kms:{REGION}:{ACCT}:key/0b0e7c5e-0000-4000-8000-000000000000"),
    ] {
        let refused = carol
            .retire_grant()
            .key_id(&key)
            .grant_id(&made_up)
            .send()
            .await;
        assert_eq!(code(refused), "AccessDeniedException", "{key}");
    }
    // The key's own account is told the grant is not there.
    let refused = root
        .retire_grant()
        .key_id(&id)
        .grant_id(&made_up)
        .send()
        .await;
    assert_eq!(code(refused), "InvalidGrantIdException");
}

/// CreateGrant's kms:EncryptionContext:<k> and kms:EncryptionContextKeys are those of the
/// grant's constraint, as AWS evaluates them.
#[tokio::test]
async fn create_grant_conditions_see_the_grants_constraint() {
    let (server, _dir) = start();
    let root = client(&server, "ROOT");
    let id = common::symmetric_key(&root).await;
    root.put_key_policy()
        .key_id(&id)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}},
              {{"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*",
                "Condition":{{"StringEquals":{{"kms:EncryptionContext:tenant":"prod"}}}}}},
              {{"Effect":"Deny","Principal":"*","Action":"kms:CreateGrant","Resource":"*",
                "Condition":{{"Null":{{"kms:EncryptionContextKeys":"true"}}}}}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let create = |constraint: Option<(&str, &str)>| {
        let mut request = root
            .create_grant()
            .key_id(&id)
            .grantee_principal(user(ACCT, "bob"))
            .operations(Op::Decrypt);
        if let Some((k, v)) = constraint {
            request = request.constraints(
                GrantConstraints::builder()
                    .encryption_context_subset(k, v)
                    .build(),
            );
        }
        request.send()
    };
    assert_eq!(
        code(create(Some(("tenant", "prod"))).await),
        "AccessDeniedException"
    );
    // No constraint: no context keys, which the second statement refuses.
    assert_eq!(code(create(None).await), "AccessDeniedException");
    create(Some(("tenant", "test"))).await.unwrap();
}

/// A key's grants live in its record, which every write of the key rewrites: they may take at
/// most 2 MiB of it (LimitExceededException past it, as past the count), so that a key cannot
/// be made a record of hundreds of MB. Retiring grants makes room again.
#[tokio::test]
async fn a_keys_grants_are_bounded_in_bytes() {
    let (server, _dir) = start();
    let kms = client(&server, "ROOT");
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    // The largest grants AWS's model allows: eight constraint pairs of 384 characters.
    let constraint = (0..8).fold(GrantConstraints::builder(), |c, i| {
        c.encryption_context_subset(format!("k{i}{}", "x".repeat(380)), "v".repeat(384))
    });
    let constraint = constraint.build();
    let mut ids = vec![];
    let refused = loop {
        let created = kms
            .create_grant()
            .key_id(&key)
            .grantee_principal(user(ACCT, &"b".repeat(200)))
            .retiring_principal(user(ACCT, &"r".repeat(200)))
            .operations(Op::Decrypt)
            .operations(Op::Encrypt)
            .operations(Op::RetireGrant)
            .constraints(constraint.clone())
            .send()
            .await;
        match created {
            Ok(out) => ids.push(out.grant_id.unwrap()),
            Err(e) => break e,
        }
        assert!(ids.len() < 1_000, "no bound on the grants' bytes");
    };
    assert_eq!(common::code(&refused), "LimitExceededException");
    assert!((200..600).contains(&ids.len()), "{} grants", ids.len());
    // The key still works, and a retired grant makes room for another.
    kms.describe_key().key_id(&key).send().await.unwrap();
    kms.revoke_grant()
        .key_id(&key)
        .grant_id(&ids[0])
        .send()
        .await
        .unwrap();
    kms.create_grant()
        .key_id(&key)
        .grantee_principal(user(ACCT, "bob"))
        .operations(Op::Decrypt)
        .send()
        .await
        .unwrap();
}
