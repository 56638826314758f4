//! Access control through the real binary, as AWS KMS decides it: several credentials (the
//! account root, IAM users with and without an identity policy, a role session, another
//! account) against key policies, identity policies and conditions, with AWS's refusals.

mod common;

use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, Tag};
use aws_sdk_kms::Client;
use common::{Server, REGION};

const ACCT: &str = "111122223333";
const OTHER: &str = "444455556666";

const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// root (ROOT), alice (identity policy kms:*), bob (no identity policy), dave (kms:* but an
/// identity Deny on Decrypt), erin (Encrypt only on keys tagged team=blue), the role App
/// (session APP, identity policy kms:*), the other account's root (OROOT), carol of the other
/// account (kms:*), frank of the other account (no identity policy) and grace of the other
/// account (kms:* but an identity Deny on every resource of the first account).
fn config() -> String {
    let cred = |key: &str, account: &str, principal: Option<&str>, policy: Option<&str>| {
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
    let user = |name: &str| format!("arn:aws:iam::{ACCT}:user/{name}");
    [
        cred("ROOT", ACCT, None, None),
        cred("ALICE", ACCT, Some(&user("alice")), Some(ALLOW_ALL)),
        cred("BOB", ACCT, Some(&user("bob")), None),
        cred(
            "DAVE",
            ACCT,
            Some(&user("dave")),
            Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}"#),
        ),
        cred(
            "ERIN",
            ACCT,
            Some(&user("erin")),
            Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]}"#),
        ),
        cred(
            "APP",
            ACCT,
            Some(&format!("arn:aws:iam::{ACCT}:role/App")),
            Some(ALLOW_ALL),
        ),
        cred("OROOT", OTHER, None, None),
        cred(
            "CAROL",
            OTHER,
            Some(&format!("arn:aws:iam::{OTHER}:user/carol")),
            Some(ALLOW_ALL),
        ),
        cred(
            "FRANK",
            OTHER,
            Some(&format!("arn:aws:iam::{OTHER}:user/frank")),
            None,
        ),
        cred(
            "GRACE",
            OTHER,
            Some(&format!("arn:aws:iam::{OTHER}:user/grace")),
            Some(&format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Action":"kms:*","Resource":"arn:aws:kms:*:{ACCT}:*"}}]}}"#)),
        ),
    ]
    .concat()
}

struct World {
    server: Server,
    _dir: tempfile::TempDir,
}

impl World {
    fn start() -> Self {
        let (server, dir) = common::start_with_config(&config());
        World { server, _dir: dir }
    }

    fn client(&self, key: &str) -> Client {
        self.server.client_for(REGION, key, "secret")
    }
}

fn key_arn(account: &str, id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{account}:key/{id}")
}

/// The AccessDeniedException message of a refused call (panics on anything else).
fn denied<T: std::fmt::Debug, E, R>(result: Result<T, aws_sdk_kms::error::SdkError<E, R>>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = result.expect_err("expected AccessDeniedException");
    assert_eq!(common::code(&err), "AccessDeniedException", "{err:?}");
    match &err {
        aws_sdk_kms::error::SdkError::ServiceError(e) => e.err().message().unwrap_or("").to_owned(),
        other => panic!("{other:?}"),
    }
}

fn policy(statements: &[String]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

/// The statement AWS's default policy has: the account delegates to its identity policies.
fn account_statement() -> String {
    format!(
        r#"{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:*","Resource":"*"}}"#
    )
}

/// Puts a key policy of AWS's default account statement and `denials`.
async fn put_denials(kms: &Client, id: &str, denials: &[String]) {
    let mut all = vec![account_statement()];
    all.extend_from_slice(denials);
    put_policy(kms, id, &policy(&all)).await;
}

async fn put_policy(kms: &Client, id: &str, doc: &str) {
    kms.put_key_policy()
        .key_id(id)
        .policy(doc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutKeyPolicy: {e:?}"));
}

#[tokio::test]
async fn default_policy_delegates_to_identity_policies() {
    let w = World::start();
    let (root, alice, bob) = (w.client("ROOT"), w.client("ALICE"), w.client("BOB"));
    let id = common::symmetric_key(&root).await;
    let arn = key_arn(ACCT, &id);

    // Alice's identity policy allows, through the default policy's delegation.
    let blob = common::encrypt(&alice, &id, "hi").await;
    common::decrypts_to(&alice, blob.clone(), "hi").await;

    // Bob has no identity policy: refused, with AWS's sentence.
    let message = denied(common::encrypt_request(&bob, &id, "hi").send().await);
    assert_eq!(
        message,
        format!("User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: kms:Encrypt on resource: {arn} because no identity-based policy allows the kms:Encrypt action")
    );
    // Decrypt is decided on the key the ciphertext names.
    let message = denied(common::decrypt_request(&bob, blob).send().await);
    assert!(
        message.contains(&format!("kms:Decrypt on resource: {arn}")),
        "{message}"
    );

    // A refused request changes nothing.
    denied(bob.schedule_key_deletion().key_id(&id).send().await);
    denied(bob.disable_key().key_id(&id).send().await);
    let meta = root.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        meta.key_metadata().unwrap().key_state(),
        Some(&KeyState::Enabled)
    );

    // Identity-only operations: the identity policy alone; the root needs none.
    let message = denied(bob.create_key().send().await);
    assert_eq!(
        message,
        format!("User: arn:aws:iam::{ACCT}:user/bob is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action")
    );
    denied(bob.list_keys().send().await);
    denied(bob.list_aliases().send().await);
    denied(bob.generate_random().number_of_bytes(8).send().await);
    alice.list_keys().send().await.unwrap();
    alice
        .generate_random()
        .number_of_bytes(8)
        .send()
        .await
        .unwrap();
    common::symmetric_key(&alice).await;
    root.list_aliases().send().await.unwrap();

    // A role session acts as the role.
    common::encrypt(&w.client("APP"), &id, "x").await;
}

#[tokio::test]
async fn key_policy_names_principals_and_explicit_denies_win() {
    let w = World::start();
    let (root, alice, bob) = (w.client("ROOT"), w.client("ALICE"), w.client("BOB"));
    let id = common::symmetric_key(&root).await;
    let arn = key_arn(ACCT, &id);
    put_policy(
        &root,
        &id,
        &policy(&[
            account_statement(),
            // Bob is named directly: no identity policy needed.
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/bob"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#
            ),
            // A role named by its ARN covers its sessions.
            format!(
                r#"{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCT}:role/App"}},"Action":"kms:Encrypt","Resource":"*"}}"#
            ),
            format!(
                r#"{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/alice"}},"Action":"kms:Decrypt","Resource":"*"}}"#
            ),
        ]),
    )
    .await;
    let blob = common::encrypt(&bob, &id, "b").await;
    common::decrypts_to(&bob, blob.clone(), "b").await;
    // Bob's other actions come only through the account, and he has no identity policy.
    let message = denied(bob.describe_key().key_id(&id).send().await);
    assert!(
        message.ends_with("because no identity-based policy allows the kms:DescribeKey action"),
        "{message}"
    );

    let message = denied(common::decrypt_request(&alice, blob.clone()).send().await);
    assert_eq!(
        message,
        format!("User: arn:aws:iam::{ACCT}:user/alice is not authorized to perform: kms:Decrypt on resource: {arn} with an explicit deny in a resource-based policy")
    );
    let message = denied(
        common::encrypt_request(&w.client("APP"), &id, "x")
            .send()
            .await,
    );
    assert!(message.starts_with(&format!(
        "User: arn:aws:sts::{ACCT}:assumed-role/App/APP is not authorized"
    )));
    // Dave's own identity policy denies Decrypt.
    let message = denied(
        common::decrypt_request(&w.client("DAVE"), blob)
            .send()
            .await,
    );
    assert!(
        message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );

    // A key policy that names no one: refused at the key policy.
    let id2 = common::symmetric_key(&root).await;
    put_policy(
        &root,
        &id2,
        &policy(&[
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:root"}},"Action":"kms:PutKeyPolicy","Resource":"*"}}"#
            ),
        ]),
    )
    .await;
    let message = denied(common::encrypt_request(&alice, &id2, "x").send().await);
    assert!(
        message.ends_with("because no resource-based policy allows the kms:Encrypt action"),
        "{message}"
    );
    let message = denied(common::encrypt_request(&root, &id2, "x").send().await);
    assert!(
        message.contains("arn:aws:iam::111122223333:root"),
        "{message}"
    );
}

#[tokio::test]
async fn conditions_on_context_caller_account_aliases_and_tags() {
    let w = World::start();
    let (root, bob) = (w.client("ROOT"), w.client("BOB"));
    let id = common::symmetric_key(&root).await;
    common::create_alias(&root, "alias/ok", &id).await;
    let bob_arn = format!("arn:aws:iam::{ACCT}:user/bob");
    put_policy(
        &root,
        &id,
        &policy(&[
            account_statement(),
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:app":"billing"}}}}}}"#
            ),
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"kms:DescribeKey","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCT}"}}}}}}"#
            ),
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"kms:GenerateDataKey","Resource":"*","Condition":{{"StringEquals":{{"kms:RequestAlias":"alias/ok"}}}}}}"#
            ),
        ]),
    )
    .await;
    bob.encrypt()
        .key_id(&id)
        .plaintext(Blob::new("x"))
        .encryption_context("app", "billing")
        .send()
        .await
        .unwrap();
    denied(
        bob.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .encryption_context("app", "other")
            .send()
            .await,
    );
    denied(common::encrypt_request(&bob, &id, "x").send().await);
    bob.describe_key().key_id(&id).send().await.unwrap();
    bob.generate_data_key()
        .key_id("alias/ok")
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    denied(
        bob.generate_data_key()
            .key_id(&id)
            .number_of_bytes(16)
            .send()
            .await,
    );

    // AWS's way to require an encryption context: kms:EncryptionContextKeys is absent (null)
    // when the request has none, so ForAllValues cannot pass an empty set.
    let required = common::symmetric_key(&root).await;
    put_policy(
        &root,
        &required,
        &policy(&[
            account_statement(),
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{bob_arn}"}},"Action":"kms:Encrypt","Resource":"*","Condition":{{"Null":{{"kms:EncryptionContextKeys":"false"}},"ForAllValues:StringEquals":{{"kms:EncryptionContextKeys":["app"]}}}}}}"#
            ),
        ]),
    )
    .await;
    denied(common::encrypt_request(&bob, &required, "x").send().await);
    denied(
        bob.encrypt()
            .key_id(&required)
            .plaintext(Blob::new("x"))
            .encryption_context("other", "y")
            .send()
            .await,
    );
    bob.encrypt()
        .key_id(&required)
        .plaintext(Blob::new("x"))
        .encryption_context("app", "y")
        .send()
        .await
        .unwrap();

    // ABAC: erin may encrypt with keys tagged team=blue; a tag change counts at once.
    let erin = w.client("ERIN");
    denied(common::encrypt_request(&erin, &id, "x").send().await);
    let blue = Tag::builder()
        .tag_key("team")
        .tag_value("blue")
        .build()
        .unwrap();
    root.tag_resource()
        .key_id(&id)
        .tags(blue)
        .send()
        .await
        .unwrap();
    common::encrypt(&erin, &id, "x").await;
    root.untag_resource()
        .key_id(&id)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    denied(common::encrypt_request(&erin, &id, "x").send().await);
}

#[tokio::test]
async fn other_accounts_need_the_key_policy_and_their_identity_policy() {
    let w = World::start();
    let root = w.client("ROOT");
    let (carol, frank, oroot) = (w.client("CAROL"), w.client("FRANK"), w.client("OROOT"));
    let id = common::symmetric_key(&root).await;
    let arn = key_arn(ACCT, &id);

    // The default policy does not name the other account: refused, whether the key exists or
    // not (no hint).
    let message = denied(common::encrypt_request(&carol, &arn, "x").send().await);
    assert_eq!(
        message,
        format!("User: arn:aws:iam::{OTHER}:user/carol is not authorized to perform: kms:Encrypt on resource: {arn} because no resource-based policy allows the kms:Encrypt action")
    );
    let missing = key_arn(ACCT, "0b0e7c5e-0000-4000-8000-000000000000");
    denied(carol.describe_key().key_id(&missing).send().await);
    denied(
        carol
            .describe_key()
            .key_id(format!("arn:aws:kms:{REGION}:{ACCT}:alias/none"))
            .send()
            .await,
    );
    // An explicit Deny in the caller's own identity policy is named alike too.
    let grace = w.client("GRACE");
    for key in [
        arn.clone(),
        missing.clone(),
        format!("arn:aws:kms:{REGION}:{ACCT}:alias/none"),
    ] {
        let message = denied(grace.describe_key().key_id(&key).send().await);
        assert_eq!(
            message,
            format!("User: arn:aws:iam::{OTHER}:user/grace is not authorized to perform: kms:DescribeKey on resource: {key} with an explicit deny in an identity-based policy")
        );
    }
    for key in [&arn, &missing] {
        let message = denied(
            grace
                .create_alias()
                .alias_name("alias/g")
                .target_key_id(key)
                .send()
                .await,
        );
        assert!(
            message.ends_with("with an explicit deny in an identity-based policy"),
            "{message}"
        );
    }
    // An alias that exists is refused as named, without its key.
    common::create_alias(&root, "alias/exists", &id).await;
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCT}:alias/exists");
    let message = denied(carol.describe_key().key_id(&alias_arn).send().await);
    assert!(
        message.contains(&alias_arn) && !message.contains(&id),
        "{message}"
    );
    // ListAliases lists the caller's own account's aliases only: another account's key is
    // refused alike whether it exists or not.
    for key in [&arn, &missing] {
        denied(carol.list_aliases().key_id(key).send().await);
    }
    // A ciphertext that is not Trent's, named with another account's asymmetric key or with a
    // missing one: refused alike, before the key's kind shows.
    let rsa = common::create_key(
        &root,
        aws_sdk_kms::types::KeySpec::Rsa2048,
        aws_sdk_kms::types::KeyUsageType::EncryptDecrypt,
    )
    .await;
    for key in [key_arn(ACCT, &rsa), missing.clone()] {
        denied(
            common::decrypt_request(&carol, [7u8; 256])
                .key_id(&key)
                .encryption_algorithm(aws_sdk_kms::types::EncryptionAlgorithmSpec::RsaesOaepSha256)
                .send()
                .await,
        );
    }
    // Key ids and alias names are the caller's own account's.
    let e = carol.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(common::code(&e), "NotFoundException");
    // Naming another account's key or alias in a Decrypt of her own ciphertext tells her
    // nothing either: not whether it exists, nor that it is not the key of her ciphertext.
    let own = common::symmetric_key(&carol).await;
    let hers = common::encrypt(&carol, &own, "c").await;
    for named in [
        format!("arn:aws:kms:{REGION}:{ACCT}:alias/none"),
        missing.clone(),
        arn.clone(),
    ] {
        let message = denied(
            common::decrypt_request(&carol, hers.clone())
                .key_id(&named)
                .send()
                .await,
        );
        assert_eq!(
            message,
            format!("User: arn:aws:iam::{OTHER}:user/carol is not authorized to perform: kms:Decrypt on resource: {named} because no resource-based policy allows the kms:Decrypt action"),
        );
    }

    put_policy(
        &root,
        &id,
        &policy(&[
            account_statement(),
            format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey","kms:EnableKey"],"Resource":"*"}}"#
            ),
        ]),
    )
    .await;
    let blob = common::encrypt(&carol, &arn, "x").await;
    let plain = carol
        .decrypt()
        .key_id(&arn)
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"x");
    common::encrypt(&oroot, &arn, "x").await;
    // Frank's account is named, but his identity policy allows nothing.
    let message = denied(common::encrypt_request(&frank, &arn, "x").send().await);
    assert!(
        message.ends_with("because no identity-based policy allows the kms:Encrypt action"),
        "{message}"
    );
    // Operations AWS does not offer across accounts stay refused.
    denied(carol.enable_key().key_id(&arn).send().await);
    // Admitted to the key, she may learn that it is not the key of her ciphertext, whatever
    // its state.
    let e = common::decrypt_request(&carol, hers.clone())
        .key_id(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "IncorrectKeyException");
    root.disable_key().key_id(&id).send().await.unwrap();
    let e = common::decrypt_request(&carol, hers)
        .key_id(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "IncorrectKeyException");
}

#[tokio::test]
async fn key_policies_are_validated_with_the_lockout_check() {
    let w = World::start();
    let (root, alice) = (w.client("ROOT"), w.client("ALICE"));
    let id = common::symmetric_key(&root).await;
    let malformed = |doc: String| {
        let root = root.clone();
        let id = id.clone();
        async move {
            let e = root
                .put_key_policy()
                .key_id(&id)
                .policy(doc)
                .send()
                .await
                .unwrap_err();
            let message = e
                .as_service_error()
                .and_then(|s| aws_sdk_kms::error::ProvideErrorMetadata::message(s))
                .unwrap_or("")
                .to_owned();
            (common::code(&e), message)
        }
    };
    // Only Bob could change this policy again.
    let bob_only = policy(&[format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/bob"}},"Action":"kms:*","Resource":"*"}}"#
    )]);
    assert_eq!(
        malformed(bob_only.clone()).await,
        (
            "MalformedPolicyDocumentException".to_owned(),
            "The new key policy will not allow you to update the key policy in the future."
                .to_owned()
        )
    );
    // A principal of this account that does not exist.
    let ghost = policy(&[format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/ghost"}},"Action":"kms:*","Resource":"*"}}"#
    )]);
    assert_eq!(
        malformed(ghost).await,
        (
            "MalformedPolicyDocumentException".to_owned(),
            "Policy contains a statement with one or more invalid principals.".to_owned()
        )
    );
    for doc in [
        "not json".to_owned(),
        r#"{"Version":"2001-01-01","Statement":[]}"#.to_owned(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#
            .to_owned(),
    ] {
        assert_eq!(malformed(doc).await.0, "MalformedPolicyDocumentException");
    }
    let big = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{}]}}"#,
        "x".repeat(33_000),
        account_statement()
    );
    assert_eq!(malformed(big).await.0, "LimitExceededException");

    // The bypass flag skips the check; then the root is locked out, as AWS warns.
    root.put_key_policy()
        .key_id(&id)
        .policy(&bob_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .unwrap();
    denied(root.get_key_policy().key_id(&id).send().await);
    // CreateKey runs the same check on its Policy.
    let e = alice
        .create_key()
        .policy(&bob_only)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::code(&e), "MalformedPolicyDocumentException");
}

/// STS GetCallerIdentity, signed for `sts` the way the AWS CLI signs it.
async fn get_caller_identity(server: &Server, access_key: &str, body: &str) -> (u16, String) {
    use trent_aws::sigv4::{self, Credential, SignedRequest};
    let host = server.url.trim_start_matches("http://").to_owned();
    let now = common::now_secs();
    let date = sigv4::format_amz_date(now);
    let headers = [
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", host.as_str()),
        ("x-amz-date", date.as_str()),
    ];
    let cred = Credential {
        access_key_id: access_key.into(),
        secret_access_key: trent_crypto::SecretBytes::new(b"secret".to_vec()),
        account_id: String::new(),
        session_token: None,
    };
    let req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let auth = sigv4::sign(&req, &cred, REGION, "sts", &date);
    let resp = reqwest::Client::new()
        .post(&server.url)
        .header("authorization", auth)
        .header("content-type", headers[0].1)
        .header("x-amz-date", &date)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "text/xml");
    (status, resp.text().await.unwrap())
}

/// A session token belongs to a temporary credential: a long-term key refuses any token sent
/// with it (AWS refuses a token it did not issue), and a key configured with `session_token`
/// works only with that token. Each refusal is AWS's UnrecognizedClientException.
#[tokio::test]
async fn a_session_token_is_checked_as_part_of_the_credential() {
    const TOKEN: &str = "FwoGZXIvYXdzEBYaDKt0ZW1wb3JhcnktdG9rZW4=";
    let config = format!(
        "[[credentials]]\naccess_key_id = \"ROOT\"\nsecret_access_key = \"secret\"\naccount_id = \"{ACCT}\"\n\
         [[credentials]]\naccess_key_id = \"ASIATEMP\"\nsecret_access_key = \"secret\"\naccount_id = \"{ACCT}\"\n\
         principal = \"arn:aws:iam::{ACCT}:role/App\"\nsession_token = \"{TOKEN}\"\n\
         policy = '''{ALLOW_ALL}'''\n"
    );
    let (server, _dir) = common::start_with_config(&config);
    let client =
        |key: &str, token: Option<&str>| server.client_with_token(REGION, key, "secret", token);
    let refused = |e: aws_sdk_kms::error::SdkError<DescribeKeyError>| {
        let meta = aws_sdk_kms::error::ProvideErrorMetadata::meta(&e).clone();
        let status = e.raw_response().map(|r| r.status().as_u16());
        (
            status,
            meta.code().map(str::to_owned),
            meta.message().map(str::to_owned),
        )
    };
    let unrecognized = (
        Some(400),
        Some("UnrecognizedClientException".to_owned()),
        Some("The security token included in the request is invalid.".to_owned()),
    );

    let key = client("ROOT", None).create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id();
    // A long-term key with any token; a temporary one without its token, or with another.
    for (key, token) in [
        ("ROOT", Some("anything")),
        ("ROOT", Some(TOKEN)),
        ("ASIATEMP", None),
        ("ASIATEMP", Some("FwoGZXIvYXdzEBYaDKt0ZW1wb3JhcnktdG9rZW4")),
        ("ASIATEMP", Some("x")),
    ] {
        let e = client(key, token)
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused(e), unrecognized, "{key} {token:?}");
    }
    let temporary = client("ASIATEMP", Some(TOKEN));
    let created = temporary.create_key().send().await.unwrap();
    assert_eq!(created.key_metadata().unwrap().aws_account_id(), Some(ACCT));
    temporary
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sts_get_caller_identity_names_the_principal() {
    let w = World::start();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let (status, xml) = get_caller_identity(&w.server, "APP", body).await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert!(xml.contains(&format!(
        "<Arn>arn:aws:sts::{ACCT}:assumed-role/App/APP</Arn>"
    )));
    assert!(xml.contains(&format!("<Account>{ACCT}</Account>")));
    assert!(
        xml.contains("<UserId>AROA") && xml.contains(":APP</UserId>"),
        "{xml}"
    );
    let (_, xml) = get_caller_identity(&w.server, "ROOT", body).await;
    assert!(xml.contains(&format!("<Arn>arn:aws:iam::{ACCT}:root</Arn>")));
    assert!(xml.contains(&format!("<UserId>{ACCT}</UserId>")));
    // Other actions are not served; unknown keys are refused as STS refuses them.
    let (status, xml) =
        get_caller_identity(&w.server, "ROOT", "Action=AssumeRole&Version=2011-06-15").await;
    assert_eq!(status, 400);
    assert!(xml.contains("<Code>InvalidAction</Code>"), "{xml}");
    let (status, xml) = get_caller_identity(&w.server, "NOBODY", body).await;
    assert_eq!(status, 403);
    assert!(xml.contains("<Code>InvalidClientTokenId</Code>"), "{xml}");
}

/// Moving an alias needs kms:UpdateAlias on the alias, the new key and the key it points at
/// now: a caller refused the current key cannot redirect the alias others encrypt with to a
/// key of their own.
#[tokio::test]
async fn update_alias_needs_the_current_key_too() {
    let w = World::start();
    let (root, alice) = (w.client("ROOT"), w.client("ALICE"));
    let guarded = common::symmetric_key(&root).await;
    let open = common::symmetric_key(&root).await;
    put_policy(
        &root,
        &guarded,
        &policy(&[
            account_statement(),
            format!(
                r#"{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCT}:user/alice"}},"Action":"kms:*","Resource":"*"}}"#
            ),
        ]),
    )
    .await;
    common::create_alias(&root, "alias/team-pay", &guarded).await;
    common::create_alias(&root, "alias/team-ops", &open).await;
    let own = common::symmetric_key(&alice).await;
    let message = denied(
        alice
            .update_alias()
            .alias_name("alias/team-pay")
            .target_key_id(&own)
            .send()
            .await,
    );
    assert_eq!(
        message,
        format!(
            "User: arn:aws:iam::{ACCT}:user/alice is not authorized to perform: kms:UpdateAlias on resource: {} with an explicit deny in a resource-based policy",
            key_arn(ACCT, &guarded)
        )
    );
    assert_eq!(
        common::metadata(&root, "alias/team-pay").await.key_id(),
        guarded
    );
    // Allowed on all three, the same call moves the alias.
    alice
        .update_alias()
        .alias_name("alias/team-ops")
        .target_key_id(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::metadata(&root, "alias/team-ops").await.key_id(),
        own
    );
}

/// A Deny statement on a request's own condition key (each operation's parameter, or the key's
/// recent use) refuses exactly the requests it names, the account root's too.
#[tokio::test]
async fn request_condition_keys_guard_their_operations() {
    use aws_sdk_kms::types::{
        DataKeyPairSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType,
        SigningAlgorithmSpec, WrappingKeySpec,
    };
    let w = World::start();
    let root = w.client("ROOT");
    let deny = |action: &str, condition: &str| {
        format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":"{action}","Resource":"*","Condition":{condition}}}"#
        )
    };

    let id = common::symmetric_key(&root).await;
    let other = common::symmetric_key(&root).await;
    put_denials(
        &root,
        &id,
        &[
            deny(
                "kms:ScheduleKeyDeletion",
                r#"{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}"#,
            ),
            deny(
                "kms:EnableKeyRotation",
                r#"{"NumericLessThan":{"kms:RotationPeriodInDays":"365"}}"#,
            ),
            deny(
                "kms:ReEncrypt*",
                r#"{"Bool":{"kms:ReEncryptOnSameKey":"true"}}"#,
            ),
            deny(
                "kms:GenerateDataKeyPair",
                r#"{"StringNotEquals":{"kms:DataKeyPairSpec":"ECC_NIST_P256"}}"#,
            ),
            deny(
                "kms:DisableKey",
                r#"{"NumericLessThan":{"kms:TrailingDaysWithoutKeyUsage":"30"}}"#,
            ),
        ],
    )
    .await;
    let schedule = |days: i32| {
        root.schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
    };
    denied(schedule(7).await);
    let rotation = |days: i32| {
        root.enable_key_rotation()
            .key_id(&id)
            .rotation_period_in_days(days)
            .send()
    };
    denied(rotation(180).await);
    rotation(365).await.unwrap();
    let blob = common::encrypt(&root, &id, "x").await;
    let re_encrypt = |to: &str| {
        root.re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(to)
            .send()
    };
    denied(re_encrypt(&id).await);
    re_encrypt(&other).await.unwrap();
    let pair = |spec: DataKeyPairSpec| {
        root.generate_data_key_pair()
            .key_id(&id)
            .key_pair_spec(spec)
            .send()
    };
    denied(pair(DataKeyPairSpec::Rsa2048).await);
    pair(DataKeyPairSpec::EccNistP256).await.unwrap();
    // Used a moment ago: fewer than 30 days without use (31 days later: see the end).
    denied(root.disable_key().key_id(&id).send().await);

    let signer = common::create_key(&root, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    put_denials(
        &root,
        &signer,
        &[deny(
            "kms:Sign",
            r#"{"StringEquals":{"kms:MessageType":"DIGEST"}}"#,
        )],
    )
    .await;
    let ecdsa = SigningAlgorithmSpec::EcdsaSha256;
    denied(
        common::sign_request(&root, &signer, [0u8; 32], &ecdsa)
            .message_type(MessageType::Digest)
            .send()
            .await,
    );
    common::sign(&root, &signer, b"raw", MessageType::Raw, &ecdsa).await;

    let mac = common::create_key(&root, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    put_denials(
        &root,
        &mac,
        &[deny(
            "kms:GenerateMac",
            r#"{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_256"}}"#,
        )],
    )
    .await;
    denied(
        root.generate_mac()
            .key_id(&mac)
            .message(Blob::new("m"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
    );

    let external = common::external_key(&root, None).await;
    put_denials(
        &root,
        &external,
        &[
            deny(
                "kms:GetParametersForImport",
                r#"{"StringEquals":{"kms:WrappingKeySpec":"RSA_3072"}}"#,
            ),
            deny(
                "kms:GetParametersForImport",
                r#"{"StringEquals":{"kms:WrappingAlgorithm":"RSAES_OAEP_SHA_1"}}"#,
            ),
            deny(
                "kms:ImportKeyMaterial",
                r#"{"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}"#,
            ),
            // Material may not outlive three days from now (kms:ValidTo is in epoch seconds).
            deny(
                "kms:ImportKeyMaterial",
                &format!(
                    r#"{{"NumericGreaterThan":{{"kms:ValidTo":"{}"}}}}"#,
                    common::now_secs() + 3 * 86_400
                ),
            ),
        ],
    )
    .await;
    denied(
        root.get_parameters_for_import()
            .key_id(&external)
            .wrapping_algorithm(aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha1)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
    );
    denied(
        root.get_parameters_for_import()
            .key_id(&external)
            .wrapping_algorithm(aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa3072)
            .send()
            .await,
    );
    // RSA_2048 parameters with RSAES_OAEP_SHA_256, as the imports below use.
    let days =
        |n: i64| aws_sdk_kms::primitives::DateTime::from_secs(common::now_secs() + n * 86_400);
    let material = [7u8; 32];
    denied(common::byok::import(&root, &external, &material, None).await);
    denied(common::byok::import(&root, &external, &material, Some(days(7))).await);
    common::byok::import(&root, &external, &material, Some(days(1)))
        .await
        .unwrap();

    let (ecdh, peer) = (
        common::create_key(&root, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await,
        common::create_key(&root, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await,
    );
    put_denials(
        &root,
        &ecdh,
        &[deny(
            "kms:DeriveSharedSecret",
            r#"{"StringEquals":{"kms:KeyAgreementAlgorithm":"ECDH"}}"#,
        )],
    )
    .await;
    denied(
        root.derive_shared_secret()
            .key_id(&ecdh)
            .key_agreement_algorithm(aws_sdk_kms::types::KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(common::public_key(&root, &peer).await))
            .send()
            .await,
    );
    root.derive_shared_secret()
        .key_id(&peer)
        .key_agreement_algorithm(aws_sdk_kms::types::KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(common::public_key(&root, &ecdh).await))
        .send()
        .await
        .unwrap();

    // 31 days on (the server's test clock), the key has gone that long without use.
    w.server.advance_clock(31 * 86_400).await;
    root.disable_key().key_id(&id).send().await.unwrap();
    schedule(30).await.unwrap();
}
