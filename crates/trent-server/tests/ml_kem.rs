//! ML-KEM keys through `aws-sdk-kms`: Encapsulate, Decapsulate, GetPublicKey, DescribeKey, data
//! key pairs and import, with every public key, private key, ciphertext and shared secret
//! cross-checked by an independent implementation (RustCrypto `ml-kem`, which also parses and
//! writes the SPKI and PKCS#8 documents itself).

mod common;

use aws_sdk_kms::operation::decapsulate::builders::DecapsulateFluentBuilder;
use aws_sdk_kms::operation::encapsulate::builders::EncapsulateFluentBuilder;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, KeySpec, KeyUsageType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;
use ml_kem::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ml_kem::Decapsulate;

const SPECS: [(KeySpec, DataKeyPairSpec, usize); 3] = [
    (KeySpec::MlKem512, DataKeyPairSpec::MlKem512, 768),
    (KeySpec::MlKem768, DataKeyPairSpec::MlKem768, 1088),
    (KeySpec::MlKem1024, DataKeyPairSpec::MlKem1024, 1568),
];

/// Runs `$body` with `$p` the RustCrypto parameter set of an ML-KEM key spec.
macro_rules! with_params {
    ($spec:expr, $p:ident => $body:expr) => {
        match $spec {
            KeySpec::MlKem512 => {
                type $p = ml_kem::MlKem512;
                $body
            }
            KeySpec::MlKem768 => {
                type $p = ml_kem::MlKem768;
                $body
            }
            KeySpec::MlKem1024 => {
                type $p = ml_kem::MlKem1024;
                $body
            }
            other => panic!("not an ML-KEM spec: {other:?}"),
        }
    };
}

/// Independently: encapsulates to a public key (DER SPKI); returns (ciphertext, shared secret).
fn encapsulate_to(spec: &KeySpec, spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use rand_core::RngCore;
    let mut m = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut m);
    with_params!(spec, P => {
        let ek = ml_kem::EncapsulationKey::<P>::from_public_key_der(spki).expect("SPKI");
        let (ct, ss) = ek.encapsulate_deterministic(&m.into());
        (ct.to_vec(), ss.to_vec())
    })
}

/// Independently: parses a PKCS#8 private key; returns its public key as DER SPKI (written by
/// the independent library) and the shared secret of `ciphertext`.
fn open_with(spec: &KeySpec, pkcs8: &[u8], ciphertext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    with_params!(spec, P => {
        let dk = ml_kem::DecapsulationKey::<P>::from_pkcs8_der(pkcs8).expect("PKCS#8");
        let spki = dk.encapsulation_key().to_public_key_der().unwrap();
        let ss = dk.decapsulate_slice(ciphertext).unwrap();
        (spki.as_bytes().to_vec(), ss.to_vec())
    })
}

async fn create(kms: &Client, spec: KeySpec) -> String {
    common::create_key(kms, spec, KeyUsageType::EncapsulateDecapsulate).await
}

fn encapsulate_request(kms: &Client, id: &str) -> EncapsulateFluentBuilder {
    kms.encapsulate()
        .key_id(id)
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
}

fn decapsulate_request(
    kms: &Client,
    id: &str,
    ciphertext: impl AsRef<[u8]>,
) -> DecapsulateFluentBuilder {
    kms.decapsulate()
        .key_id(id)
        .shared_secret_ciphertext_blob(Blob::new(ciphertext.as_ref()))
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
}

async fn decapsulate(kms: &Client, id: &str, ciphertext: &[u8]) -> Vec<u8> {
    let out = decapsulate_request(kms, id, ciphertext)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.encapsulation_algorithm(),
        Some(&EncapsulationAlgorithmSpec::MlKem)
    );
    out.shared_secret().unwrap().as_ref().to_vec()
}

#[tokio::test]
async fn ml_kem_keys_interoperate_for_every_spec() {
    let (_server, kms) = common::start();
    for (spec, _, ciphertext_len) in SPECS {
        let id = create(&kms, spec.clone()).await;
        let meta = kms.describe_key().key_id(&id).send().await.unwrap();
        let meta = meta.key_metadata().unwrap();
        assert_eq!(meta.key_spec(), Some(&spec));
        assert_eq!(
            meta.key_usage(),
            Some(&KeyUsageType::EncapsulateDecapsulate)
        );
        assert_eq!(
            meta.encapsulation_algorithms(),
            &[EncapsulationAlgorithmSpec::MlKem]
        );
        assert!(meta.encryption_algorithms().is_empty());
        assert!(meta.signing_algorithms().is_empty());
        assert!(meta.key_agreement_algorithms().is_empty());
        let arn = meta.arn().unwrap().to_owned();

        let public = kms.get_public_key().key_id(&id).send().await.unwrap();
        assert_eq!(public.key_spec(), Some(&spec));
        assert_eq!(
            public.key_usage(),
            Some(&KeyUsageType::EncapsulateDecapsulate)
        );
        assert_eq!(
            public.encapsulation_algorithms(),
            &[EncapsulationAlgorithmSpec::MlKem]
        );
        let spki = public.public_key().unwrap().as_ref().to_vec();

        // The independent library encapsulates to the published key; Trent recovers the secret.
        let (ciphertext, secret) = encapsulate_to(&spec, &spki);
        assert_eq!(ciphertext.len(), ciphertext_len);
        assert_eq!(
            decapsulate(&kms, &id, &ciphertext).await,
            secret,
            "{spec:?}"
        );

        // Trent encapsulates; its ciphertext decapsulates to the same secret.
        let out = encapsulate_request(&kms, &id).send().await.unwrap();
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(
            out.encapsulation_algorithm(),
            Some(&EncapsulationAlgorithmSpec::MlKem)
        );
        let secret = out.shared_secret().unwrap().as_ref().to_vec();
        let ciphertext = out
            .shared_secret_ciphertext_blob()
            .unwrap()
            .as_ref()
            .to_vec();
        assert_eq!(secret.len(), 32);
        assert_eq!(ciphertext.len(), ciphertext_len);
        assert_eq!(decapsulate(&kms, &arn, &ciphertext).await, secret);

        // A tampered ciphertext still decapsulates (implicit rejection), to another secret; a
        // ciphertext of the wrong length is invalid.
        let mut tampered = ciphertext.clone();
        tampered[ciphertext_len / 2] ^= 0x01;
        let other = decapsulate(&kms, &id, &tampered).await;
        assert_eq!(other.len(), 32);
        assert_ne!(other, secret);
        for bad in [
            &ciphertext[1..],
            &[ciphertext.clone(), vec![0]].concat()[..],
        ] {
            assert_code!(
                decapsulate_request(&kms, &id, bad).send().await,
                "InvalidCiphertextException"
            );
        }
    }
}

#[tokio::test]
async fn ml_kem_data_key_pairs_are_seed_form_pkcs8() {
    let (_server, kms) = common::start();
    let wrapping = common::symmetric_key(&kms).await;
    for (spec, pair_spec, _) in SPECS {
        let pair = kms
            .generate_data_key_pair()
            .key_id(&wrapping)
            .key_pair_spec(pair_spec.clone())
            .encryption_context("purpose", "kem")
            .send()
            .await
            .unwrap();
        assert_eq!(pair.key_pair_spec(), Some(&pair_spec));
        let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
        // Seed form: the same length for every parameter set (AWS's GenerateDataKeyPair doc).
        assert_eq!(private.len(), 86, "{spec:?}");
        let public = pair.public_key().unwrap().as_ref().to_vec();
        let (ciphertext, secret) = encapsulate_to(&spec, &public);
        let (independent_spki, opened) = open_with(&spec, &private, &ciphertext);
        assert_eq!(independent_spki, public, "{spec:?}: SPKI differs");
        assert_eq!(opened, secret);

        // The encrypted copy is a normal ciphertext of the symmetric key.
        assert_eq!(
            common::plaintext_of(
                common::decrypt_request(&kms, pair.private_key_ciphertext_blob().unwrap())
                    .encryption_context("purpose", "kem")
            )
            .await,
            &private[..]
        );

        let without = kms
            .generate_data_key_pair_without_plaintext()
            .key_id(&wrapping)
            .key_pair_spec(pair_spec.clone())
            .send()
            .await
            .unwrap();
        let decrypted =
            common::decrypt_request(&kms, without.private_key_ciphertext_blob().unwrap())
                .send()
                .await
                .unwrap();
        let public = without.public_key().unwrap().as_ref().to_vec();
        let (ciphertext, secret) = encapsulate_to(&spec, &public);
        let (independent_spki, opened) =
            open_with(&spec, decrypted.plaintext().unwrap().as_ref(), &ciphertext);
        assert_eq!(independent_spki, public);
        assert_eq!(opened, secret);
    }
}

/// An EXTERNAL ML-KEM key takes its private key as seed-form PKCS#8 (here a data key pair's).
#[tokio::test]
async fn ml_kem_key_material_imports() {
    let (_server, kms) = common::start();
    let wrapping = common::symmetric_key(&kms).await;
    let pair = kms
        .generate_data_key_pair()
        .key_id(&wrapping)
        .key_pair_spec(DataKeyPairSpec::MlKem768)
        .send()
        .await
        .unwrap();
    let id = common::external_key(
        &kms,
        Some((KeySpec::MlKem768, KeyUsageType::EncapsulateDecapsulate)),
    )
    .await;
    assert_code!(
        encapsulate_request(&kms, &id).send().await,
        "KMSInvalidStateException"
    );
    // Material of another parameter set is refused.
    let other = kms
        .generate_data_key_pair()
        .key_id(&wrapping)
        .key_pair_spec(DataKeyPairSpec::MlKem512)
        .send()
        .await
        .unwrap();
    let err = common::byok::import(
        &kms,
        &id,
        other.private_key_plaintext().unwrap().as_ref(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(common::code(&err), "IncorrectKeyMaterialException");

    common::byok::import(
        &kms,
        &id,
        pair.private_key_plaintext().unwrap().as_ref(),
        None,
    )
    .await
    .unwrap();
    let public = kms.get_public_key().key_id(&id).send().await.unwrap();
    let public = public.public_key().unwrap().as_ref();
    assert_eq!(public, pair.public_key().unwrap().as_ref());
    let (ciphertext, secret) = encapsulate_to(&KeySpec::MlKem768, public);
    assert_eq!(decapsulate(&kms, &id, &ciphertext).await, secret);
}

#[tokio::test]
async fn ml_kem_is_refused_as_aws_refuses_it() {
    let (_server, kms) = common::start();
    let kem = create(&kms, KeySpec::MlKem768).await;
    let symmetric = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let signing = common::create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;

    // Encapsulate and Decapsulate need an ENCAPSULATE_DECAPSULATE key.
    assert_eq!(
        error_message!(
            encapsulate_request(&kms, &symmetric).send().await,
            "InvalidKeyUsageException"
        ),
        format!("{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for Encapsulate.")
    );
    assert_code!(
        decapsulate_request(&kms, &signing, vec![0u8; 1088])
            .send()
            .await,
        "InvalidKeyUsageException"
    );

    // An ML-KEM key does nothing but encapsulate and decapsulate.
    common::refuses_encrypt(&kms, &kem).await;
    common::refuses_sign(&kms, &kem, &SigningAlgorithmSpec::MlDsaShake256).await;
    assert_code!(
        kms.generate_data_key_pair()
            .key_id(&kem)
            .key_pair_spec(DataKeyPairSpec::MlKem768)
            .send()
            .await,
        "InvalidKeyUsageException"
    );
    assert_code!(
        kms.rotate_key_on_demand().key_id(&kem).send().await,
        "UnsupportedOperationException"
    );

    // ML-KEM key specs take only ENCAPSULATE_DECAPSULATE, and that usage only ML-KEM specs.
    for (spec, usage) in [
        (KeySpec::MlKem512, KeyUsageType::EncryptDecrypt),
        (KeySpec::MlKem1024, KeyUsageType::SignVerify),
        (KeySpec::EccNistP256, KeyUsageType::EncapsulateDecapsulate),
    ] {
        assert_code!(
            common::create_request(&kms, spec, usage).send().await,
            "ValidationException"
        );
    }

    // DryRun answers only after every other check passed.
    assert_code!(
        encapsulate_request(&kms, &kem).dry_run(true).send().await,
        "DryRunOperationException"
    );
    assert_code!(
        decapsulate_request(&kms, &kem, vec![0u8; 1088])
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException"
    );
    assert_code!(
        encapsulate_request(&kms, &symmetric)
            .dry_run(true)
            .send()
            .await,
        "InvalidKeyUsageException"
    );

    // Disabled and pending deletion, by alias too.
    common::create_alias(&kms, "alias/kem", &kem).await;
    kms.disable_key().key_id(&kem).send().await.unwrap();
    assert_code!(
        encapsulate_request(&kms, "alias/kem").send().await,
        "DisabledException"
    );
    kms.schedule_key_deletion()
        .key_id(&kem)
        .send()
        .await
        .unwrap();
    assert_code!(
        decapsulate_request(&kms, "alias/kem", vec![0u8; 1088])
            .send()
            .await,
        "KMSInvalidStateException"
    );
}
