//! The client side of bring-your-own-key, done with independent libraries (RustCrypto `rsa`
//! and `aes-kw`), the way a real client wraps material with the downloaded public key.

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, WrappingKeySpec};
use aws_sdk_kms::Client;
use rsa::pkcs8::DecodePublicKey;

pub type ImportRequest =
    aws_sdk_kms::operation::import_key_material::builders::ImportKeyMaterialFluentBuilder;

/// Wraps `material` for import with `algorithm` under the SPKI `public_key`.
pub fn wrap(public_key: &[u8], algorithm: &AlgorithmSpec, material: &[u8]) -> Vec<u8> {
    let key = rsa::RsaPublicKey::from_public_key_der(public_key).expect("wrapping public key");
    let oaep = |data: &[u8], sha1: bool| {
        if sha1 {
            key.encrypt(&mut rand_core::OsRng, rsa::Oaep::new::<sha1::Sha1>(), data)
        } else {
            key.encrypt(
                &mut rand_core::OsRng,
                rsa::Oaep::new::<sha2::Sha256>(),
                data,
            )
        }
        .expect("RSA-OAEP")
    };
    match algorithm {
        AlgorithmSpec::RsaesOaepSha1 => oaep(material, true),
        AlgorithmSpec::RsaesOaepSha256 => oaep(material, false),
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let mut aes = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut aes);
            let mut out = oaep(&aes, *algorithm == AlgorithmSpec::RsaAesKeyWrapSha1);
            let kek = aes_kw::KekAes256::from(aes);
            out.extend(kek.wrap_with_padding_vec(material).expect("AES-KWP"));
            out
        }
        other => panic!("no client-side wrapping for {other:?}"),
    }
}

pub type ImportResult = Result<
    aws_sdk_kms::operation::import_key_material::ImportKeyMaterialOutput,
    aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError,
    >,
>;

/// `request` made to expire at `valid_to` when that is given; as it was otherwise.
pub fn expiring(request: ImportRequest, valid_to: Option<DateTime>) -> ImportRequest {
    match valid_to {
        Some(t) => request
            .expiration_model(ExpirationModelType::KeyMaterialExpires)
            .valid_to(t),
        None => request,
    }
}

/// Import parameters for `key_id`: (import token, wrapping public key).
pub async fn parameters(
    kms: &Client,
    key_id: &str,
    algorithm: &AlgorithmSpec,
    spec: WrappingKeySpec,
) -> (Vec<u8>, Vec<u8>) {
    let p = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(algorithm.clone())
        .wrapping_key_spec(spec)
        .send()
        .await
        .expect("GetParametersForImport");
    (
        p.import_token().unwrap().as_ref().to_vec(),
        p.public_key().unwrap().as_ref().to_vec(),
    )
}

/// An ImportKeyMaterial request for `material`, wrapped with fresh parameters
/// (RSAES_OAEP_SHA_256 unless the material is too long for it), not expiring; the caller adds
/// what else it needs and sends it.
pub async fn request(kms: &Client, key_id: &str, material: &[u8]) -> ImportRequest {
    let algorithm = if material.len() > 190 {
        AlgorithmSpec::RsaAesKeyWrapSha256
    } else {
        AlgorithmSpec::RsaesOaepSha256
    };
    let (token, public) = parameters(kms, key_id, &algorithm, WrappingKeySpec::Rsa2048).await;
    kms.import_key_material()
        .key_id(key_id)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrap(&public, &algorithm, material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
}

/// Wraps and imports `material` with fresh parameters, not expiring unless `valid_to` is
/// given.
pub async fn import(
    kms: &Client,
    key_id: &str,
    material: &[u8],
    valid_to: Option<DateTime>,
) -> ImportResult {
    expiring(request(kms, key_id, material).await, valid_to)
        .send()
        .await
}

/// Imports the already wrapped `wrapped` with `token`, not expiring unless `valid_to` is
/// given.
pub async fn import_with(
    kms: &Client,
    key_id: &str,
    token: &[u8],
    wrapped: &[u8],
    valid_to: Option<DateTime>,
) -> ImportResult {
    let req = kms
        .import_key_material()
        .key_id(key_id)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire);
    expiring(req, valid_to).send().await
}
