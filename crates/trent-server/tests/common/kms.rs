//! The calls the tests make again and again, each one request through `aws-sdk-kms` that must
//! succeed (they panic otherwise), so that a test reads as what it checks.

use aws_sdk_kms::operation::create_alias::builders::CreateAliasFluentBuilder;
use aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder;
use aws_sdk_kms::operation::decrypt::builders::DecryptFluentBuilder;
use aws_sdk_kms::operation::encrypt::builders::EncryptFluentBuilder;
use aws_sdk_kms::operation::sign::builders::SignFluentBuilder;
use aws_sdk_kms::operation::verify::builders::VerifyFluentBuilder;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeyMetadata, KeySpec, KeyState, KeyUsageType, MessageType, OriginType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

/// Sends a CreateKey request, which must succeed; returns the new key's metadata.
pub async fn created(request: CreateKeyFluentBuilder) -> KeyMetadata {
    request
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .unwrap()
        .clone()
}

/// Sends a CreateKey request, which must succeed; returns the new key's id.
pub async fn create_with(request: CreateKeyFluentBuilder) -> String {
    created(request).await.key_id().to_owned()
}

/// Creates a SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT key; returns its key id.
pub async fn symmetric_key(kms: &Client) -> String {
    create_with(kms.create_key()).await
}

/// A CreateKey request for a key of `spec` for `usage`; the caller adds what else it needs.
pub fn create_request(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> CreateKeyFluentBuilder {
    kms.create_key().key_spec(spec).key_usage(usage)
}

/// Creates a key of `spec` for `usage`; returns its key id.
pub async fn create_key(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    create_with(create_request(kms, spec, usage)).await
}

/// Creates an EXTERNAL key (symmetric unless `spec` says otherwise), checks it starts in
/// PendingImport; returns its key id.
pub async fn external_key(kms: &Client, spec: Option<(KeySpec, KeyUsageType)>) -> String {
    let mut create = kms.create_key().origin(OriginType::External);
    if let Some((spec, usage)) = spec {
        create = create.key_spec(spec).key_usage(usage);
    }
    let out = create.send().await.expect("CreateKey");
    let meta = out.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    meta.key_id().to_owned()
}

/// DescribeKey's metadata of `id`.
pub async fn metadata(kms: &Client, id: &str) -> KeyMetadata {
    kms.describe_key()
        .key_id(id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata()
        .unwrap()
        .clone()
}

/// The state DescribeKey gives for `id`.
pub async fn key_state(kms: &Client, id: &str) -> KeyState {
    metadata(kms, id).await.key_state().unwrap().clone()
}

/// GetPublicKey: the DER SPKI of `id`.
pub async fn public_key(kms: &Client, id: &str) -> Vec<u8> {
    kms.get_public_key()
        .key_id(id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// An Encrypt request of `text` under `id`; the caller adds what else it needs.
pub fn encrypt_request(kms: &Client, id: &str, text: impl AsRef<[u8]>) -> EncryptFluentBuilder {
    kms.encrypt().key_id(id).plaintext(Blob::new(text.as_ref()))
}

/// Encrypts `text` under `id` (no context, the default algorithm); returns the ciphertext.
pub async fn encrypt(kms: &Client, id: &str, text: impl AsRef<[u8]>) -> Blob {
    encrypt_request(kms, id, text)
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob()
        .unwrap()
        .clone()
}

/// A Decrypt request of `blob`; the caller adds what else it needs.
pub fn decrypt_request(kms: &Client, blob: impl AsRef<[u8]>) -> DecryptFluentBuilder {
    kms.decrypt().ciphertext_blob(Blob::new(blob.as_ref()))
}

/// Sends a Decrypt request, which must succeed; returns the plaintext.
pub async fn plaintext_of(request: DecryptFluentBuilder) -> Vec<u8> {
    request
        .send()
        .await
        .expect("Decrypt")
        .plaintext()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Decrypts `blob` (no key id, no context); returns the plaintext.
pub async fn decrypt(kms: &Client, blob: impl AsRef<[u8]>) -> Vec<u8> {
    plaintext_of(decrypt_request(kms, blob)).await
}

/// Asserts `blob` decrypts (no key id, no context) to `text`.
pub async fn decrypts_to(kms: &Client, blob: impl AsRef<[u8]>, text: impl AsRef<[u8]>) {
    assert_eq!(decrypt(kms, blob).await, text.as_ref());
}

/// A Sign request for `message` with `algorithm`; the caller adds what else it needs.
pub fn sign_request(
    kms: &Client,
    id: &str,
    message: impl AsRef<[u8]>,
    algorithm: &SigningAlgorithmSpec,
) -> SignFluentBuilder {
    kms.sign()
        .key_id(id)
        .message(Blob::new(message.as_ref()))
        .signing_algorithm(algorithm.clone())
}

/// Signs `message` of `message_type` with `algorithm`; returns the signature.
pub async fn sign(
    kms: &Client,
    id: &str,
    message: &[u8],
    message_type: MessageType,
    algorithm: &SigningAlgorithmSpec,
) -> Vec<u8> {
    sign_request(kms, id, message, algorithm)
        .message_type(message_type)
        .send()
        .await
        .expect("Sign")
        .signature()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// A Verify request of `signature` over `message` with `algorithm`; the caller adds what else
/// it needs.
pub fn verify_request(
    kms: &Client,
    id: &str,
    message: impl AsRef<[u8]>,
    signature: impl AsRef<[u8]>,
    algorithm: &SigningAlgorithmSpec,
) -> VerifyFluentBuilder {
    kms.verify()
        .key_id(id)
        .message(Blob::new(message.as_ref()))
        .signature(Blob::new(signature.as_ref()))
        .signing_algorithm(algorithm.clone())
}

/// Asserts Verify accepts the request.
pub async fn verifies(request: VerifyFluentBuilder) {
    assert!(request.send().await.expect("Verify").signature_valid());
}

/// Asserts Verify refuses the request with KMSInvalidSignatureException.
pub async fn does_not_verify(request: VerifyFluentBuilder) {
    match request.send().await {
        Ok(out) => panic!("expected KMSInvalidSignatureException, Verify said {out:?}"),
        Err(e) => assert_eq!(super::code(&e), "KMSInvalidSignatureException", "{e:?}"),
    }
}

/// A CreateAlias request naming `target`.
pub fn alias_request(
    kms: &Client,
    name: impl Into<String>,
    target: &str,
) -> CreateAliasFluentBuilder {
    kms.create_alias().alias_name(name).target_key_id(target)
}

/// Creates the alias `name` for `target`, which must succeed.
pub async fn create_alias(kms: &Client, name: impl Into<String>, target: &str) {
    alias_request(kms, name, target)
        .send()
        .await
        .expect("CreateAlias");
}

/// Asserts the key's usage refuses Encrypt (SYMMETRIC_DEFAULT): InvalidKeyUsageException.
pub async fn refuses_encrypt(kms: &Client, id: &str) {
    match encrypt_request(kms, id, "p").send().await {
        Ok(_) => panic!("Encrypt with {id} succeeded"),
        Err(e) => assert_eq!(super::code(&e), "InvalidKeyUsageException", "{e:?}"),
    }
}

/// Asserts the key's usage refuses Sign with `algorithm`: InvalidKeyUsageException.
pub async fn refuses_sign(kms: &Client, id: &str, algorithm: &SigningAlgorithmSpec) {
    match sign_request(kms, id, "m", algorithm).send().await {
        Ok(_) => panic!("Sign with {id} succeeded"),
        Err(e) => assert_eq!(super::code(&e), "InvalidKeyUsageException", "{e:?}"),
    }
}
