//! The two primitives aws-lc-rs's safe API does not offer, called directly in AWS-LC through
//! aws-lc-sys (the same library build aws-lc-rs links):
//!
//! - Ed25519ph (RFC 8032 §5.1, HashEdDSA with SHA-512, empty context): `ED25519ph_sign_digest`
//!   and `ED25519ph_verify_digest` from `openssl/curve25519.h`;
//! - ML-DSA with an external μ (FIPS 204 §6.2 / Algorithm 7 line 6): AWS-LC's `EVP_PKEY_sign`
//!   and `EVP_PKEY_verify` on an ML-DSA key take the 64-byte μ as their "digest" input
//!   (`pkey_pqdsa_sign_generic`, digest mode);
//! - ML-KEM keys in the formats AWS uses (RFC 9935): generating a key and writing it as PKCS#8
//!   in the seed form, and taking such a document apart into the raw keys and the SPKI
//!   (`EVP_PKEY_KEM`, `EVP_marshal_*`, `EVP_PKEY_get_raw_*`).
//!
//! This is the only module of the crate with `unsafe` code. Every pointer AWS-LC allocates is
//! owned by a guard that frees it; private key bytes copied out live in `Zeroizing` buffers.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes};

const ED25519_SIGNATURE_LEN: usize = 64;
const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of Ed25519ph's prehash, a SHA-512 output.
pub(crate) const SHA512_LEN: usize = 64;
/// Length of ML-DSA's μ, a 64-byte SHAKE256 output (FIPS 204 Algorithm 7, line 6).
pub(crate) const ML_DSA_MU_LEN: usize = 64;

/// An `EVP_PKEY` owned by Rust, freed on drop.
struct Pkey(NonNull<sys::EVP_PKEY>);

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from an AWS-LC parse function and is owned only by `self`.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// An `EVP_PKEY_CTX` owned by Rust, freed on drop (which also drops its reference to the key).
struct PkeyCtx(NonNull<sys::EVP_PKEY_CTX>);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `EVP_PKEY_CTX_new` and is owned only by `self`.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

/// Whether the DER was a private (PKCS#8) or public (SubjectPublicKeyInfo) key.
#[derive(Clone, Copy)]
enum Der {
    Pkcs8,
    Spki,
}

impl Pkey {
    /// Parses a whole DER document of the given kind; anything left over, or a key of another
    /// type than `id` (an `EVP_PKEY_*` constant), is refused.
    fn parse(der: &[u8], kind: Der, id: i32) -> Result<Self, CryptoError> {
        let mut cbs = MaybeUninit::<sys::CBS>::uninit();
        // SAFETY: `CBS_init` fully initialises the CBS, which borrows `der` only for the parse
        // below; `der` outlives it.
        let parsed = unsafe {
            sys::CBS_init(cbs.as_mut_ptr(), der.as_ptr(), der.len());
            let parsed = match kind {
                Der::Pkcs8 => sys::EVP_parse_private_key(cbs.as_mut_ptr()),
                Der::Spki => sys::EVP_parse_public_key(cbs.as_mut_ptr()),
            };
            (parsed, sys::CBS_len(cbs.as_ptr()))
        };
        let key = Pkey(NonNull::new(parsed.0).ok_or_else(failed)?);
        // SAFETY: `key` holds a valid EVP_PKEY.
        let key_id = unsafe { sys::EVP_PKEY_id(key.0.as_ptr()) };
        if parsed.1 != 0 || key_id != id {
            return Err(CryptoError);
        }
        Ok(key)
    }

    fn context(&self) -> Result<PkeyCtx, CryptoError> {
        // SAFETY: `self` holds a valid EVP_PKEY; the context takes its own reference to it.
        let ctx = unsafe { sys::EVP_PKEY_CTX_new(self.0.as_ptr(), ptr::null_mut()) };
        NonNull::new(ctx).map(PkeyCtx).ok_or_else(failed)
    }
}

/// A failure: AWS-LC's thread-local error queue is emptied so no stale entry outlives it.
fn failed() -> CryptoError {
    // SAFETY: no arguments; only touches this thread's error queue.
    unsafe { sys::ERR_clear_error() };
    CryptoError
}

/// The 64-byte private key `ED25519ph_sign_digest` takes (seed ‖ public key), from an Ed25519
/// PKCS#8 document.
fn ed25519_private_key(pkcs8: &[u8]) -> Result<Zeroizing<[u8; 64]>, CryptoError> {
    let key = Pkey::parse(pkcs8, Der::Pkcs8, sys::EVP_PKEY_ED25519)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    let mut len = seed.len();
    // SAFETY: `seed` is writable for `len` bytes; AWS-LC writes at most `len` and updates it.
    let ok =
        unsafe { sys::EVP_PKEY_get_raw_private_key(key.0.as_ptr(), seed.as_mut_ptr(), &mut len) };
    if ok != 1 || len != seed.len() {
        return Err(failed());
    }
    let mut public = [0u8; ED25519_PUBLIC_KEY_LEN];
    let mut private = Zeroizing::new([0u8; 64]);
    // SAFETY: the three buffers have the lengths the header requires (32, 64, 32).
    unsafe {
        sys::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr())
    };
    Ok(private)
}

/// An Ed25519ph signature (empty context) of `prehash`, the SHA-512 of the message, by the
/// Ed25519 key in `pkcs8`.
pub(crate) fn ed25519ph_sign(
    pkcs8: &[u8],
    prehash: &[u8; SHA512_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let private = ed25519_private_key(pkcs8)?;
    let mut sig = vec![0u8; ED25519_SIGNATURE_LEN];
    // SAFETY: `sig` is 64 writable bytes, `prehash` 64 bytes, `private` the 64-byte key; the
    // context is empty (null, 0), which the header allows.
    let ok = unsafe {
        sys::ED25519ph_sign_digest(
            sig.as_mut_ptr(),
            prehash.as_ptr(),
            private.as_ptr(),
            ptr::null(),
            0,
        )
    };
    if ok != 1 {
        return Err(failed());
    }
    Ok(sig)
}

/// Whether `sig` is an Ed25519ph signature (empty context) of `prehash` by `public` (the raw
/// 32-byte key).
pub(crate) fn ed25519ph_verify(public: &[u8], prehash: &[u8; SHA512_LEN], sig: &[u8]) -> bool {
    if public.len() != ED25519_PUBLIC_KEY_LEN || sig.len() != ED25519_SIGNATURE_LEN {
        return false;
    }
    // SAFETY: the lengths were checked above against what the header requires (64, 64, 32);
    // the context is empty.
    let ok = unsafe {
        sys::ED25519ph_verify_digest(
            prehash.as_ptr(),
            sig.as_ptr(),
            public.as_ptr(),
            ptr::null(),
            0,
        )
    };
    if ok != 1 {
        failed();
    }
    ok == 1
}

/// An ML-DSA signature of the message representative `mu` by the ML-DSA key in `pkcs8`. The
/// parameter set is the key's.
pub(crate) fn ml_dsa_sign_mu(pkcs8: &[u8], mu: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if mu.len() != ML_DSA_MU_LEN {
        return Err(CryptoError);
    }
    let key = Pkey::parse(pkcs8, Der::Pkcs8, sys::EVP_PKEY_PQDSA)?;
    let ctx = key.context()?;
    let mut len = 0usize;
    // SAFETY: `ctx` is a valid context. A null signature buffer asks only for the length.
    let ok = unsafe {
        sys::EVP_PKEY_sign_init(ctx.0.as_ptr()) == 1
            && sys::EVP_PKEY_sign(
                ctx.0.as_ptr(),
                ptr::null_mut(),
                &mut len,
                mu.as_ptr(),
                mu.len(),
            ) == 1
    };
    if !ok {
        return Err(failed());
    }
    let mut sig = vec![0u8; len];
    // SAFETY: `sig` has the `len` writable bytes AWS-LC asked for; it writes the actual length.
    let ok = unsafe {
        sys::EVP_PKEY_sign(
            ctx.0.as_ptr(),
            sig.as_mut_ptr(),
            &mut len,
            mu.as_ptr(),
            mu.len(),
        )
    };
    if ok != 1 {
        return Err(failed());
    }
    sig.truncate(len);
    Ok(sig)
}

/// Whether `sig` is an ML-DSA signature of the message representative `mu` by the public key
/// `spki` (DER SubjectPublicKeyInfo).
pub(crate) fn ml_dsa_verify_mu(spki: &[u8], mu: &[u8], sig: &[u8]) -> bool {
    if mu.len() != ML_DSA_MU_LEN {
        return false;
    }
    let verified = Pkey::parse(spki, Der::Spki, sys::EVP_PKEY_PQDSA)
        .and_then(|key| key.context())
        .map(|ctx| {
            // SAFETY: `ctx` is a valid context; `sig` and `mu` are read for their lengths.
            unsafe {
                sys::EVP_PKEY_verify_init(ctx.0.as_ptr()) == 1
                    && sys::EVP_PKEY_verify(
                        ctx.0.as_ptr(),
                        sig.as_ptr(),
                        sig.len(),
                        mu.as_ptr(),
                        mu.len(),
                    ) == 1
            }
        });
    if verified != Ok(true) {
        failed();
    }
    verified == Ok(true)
}

// ----- ML-KEM keys -----------------------------------------------------------------------------

/// A growable AWS-LC output buffer, cleaned up on drop.
struct Cbb(sys::CBB);

impl Cbb {
    fn new() -> Result<Self, CryptoError> {
        let mut cbb = MaybeUninit::<sys::CBB>::uninit();
        // SAFETY: `CBB_init` initialises the whole struct, also when it fails (it then holds
        // nothing, and `CBB_cleanup` on it is a no-op), so `assume_init` is sound either way.
        let (rc, cbb) = unsafe {
            let rc = sys::CBB_init(cbb.as_mut_ptr(), 0);
            (rc, Cbb(cbb.assume_init()))
        };
        if rc != 1 {
            return Err(failed());
        }
        Ok(cbb)
    }

    /// The bytes written; AWS-LC's buffer is cleansed and freed here.
    fn finish(mut self) -> Result<SecretBytes, CryptoError> {
        let mut data = ptr::null_mut::<u8>();
        let mut len = 0usize;
        // SAFETY: `self.0` is an initialised CBB; on success AWS-LC hands `data` over to us.
        if unsafe { sys::CBB_finish(&mut self.0, &mut data, &mut len) } != 1 || data.is_null() {
            return Err(failed());
        }
        // SAFETY: `data` points to `len` initialised bytes that we own until `OPENSSL_free`;
        // they are copied, then wiped and freed exactly once.
        let bytes = unsafe {
            let bytes = std::slice::from_raw_parts(data, len).to_vec();
            sys::OPENSSL_cleanse(data.cast(), len);
            sys::OPENSSL_free(data.cast());
            bytes
        };
        Ok(SecretBytes::new(bytes))
    }
}

impl Drop for Cbb {
    fn drop(&mut self) {
        // SAFETY: cleaning up a finished CBB is a no-op; an unfinished one frees its buffer.
        unsafe { sys::CBB_cleanup(&mut self.0) }
    }
}

impl Pkey {
    /// The key as DER: PKCS#8 (`private`) or SubjectPublicKeyInfo.
    fn marshal(&self, private: bool) -> Result<SecretBytes, CryptoError> {
        let mut cbb = Cbb::new()?;
        // SAFETY: `cbb` is initialised and `self` holds a valid EVP_PKEY.
        let rc = unsafe {
            if private {
                sys::EVP_marshal_private_key(&mut cbb.0, self.0.as_ptr())
            } else {
                sys::EVP_marshal_public_key(&mut cbb.0, self.0.as_ptr())
            }
        };
        if rc != 1 {
            return Err(failed());
        }
        cbb.finish()
    }

    /// The raw private (`private`) or public key.
    fn raw(&self, private: bool) -> Result<SecretBytes, CryptoError> {
        let get = if private {
            sys::EVP_PKEY_get_raw_private_key
        } else {
            sys::EVP_PKEY_get_raw_public_key
        };
        let mut len = 0usize;
        // SAFETY: `self` holds a valid EVP_PKEY; a null output asks for the length only.
        if unsafe { get(self.0.as_ptr(), ptr::null_mut(), &mut len) } != 1 {
            return Err(failed());
        }
        let mut out = Zeroizing::new(vec![0u8; len]);
        // SAFETY: `out` has room for the `len` bytes AWS-LC asked for; it updates `len`.
        if unsafe { get(self.0.as_ptr(), out.as_mut_ptr(), &mut len) } != 1 {
            return Err(failed());
        }
        out.truncate(len);
        Ok(SecretBytes::new(out.to_vec()))
    }
}

/// A fresh ML-KEM key pair of the parameter set `nid`, as PKCS#8 in the seed form (AWS-LC keeps
/// the seed of a key it generated and writes that form).
pub(crate) fn ml_kem_generate_pkcs8(nid: i32) -> Result<SecretBytes, CryptoError> {
    // SAFETY: a fresh context for AWS-LC's KEM type; the engine argument may be null.
    let ctx = unsafe { sys::EVP_PKEY_CTX_new_id(sys::EVP_PKEY_KEM, ptr::null_mut()) };
    let ctx = NonNull::new(ctx).map(PkeyCtx).ok_or_else(failed)?;
    let mut out = ptr::null_mut::<sys::EVP_PKEY>();
    // SAFETY: `ctx` is a valid context; on success keygen stores a new EVP_PKEY in `out`,
    // which the guard below then owns.
    let generated = unsafe {
        sys::EVP_PKEY_CTX_kem_set_params(ctx.0.as_ptr(), nid) == 1
            && sys::EVP_PKEY_keygen_init(ctx.0.as_ptr()) == 1
            && sys::EVP_PKEY_keygen(ctx.0.as_ptr(), &mut out) == 1
    };
    let key = NonNull::new(out).map(Pkey);
    match (generated, key) {
        (true, Some(key)) => key.marshal(true),
        _ => Err(failed()),
    }
}

/// An ML-KEM PKCS#8 document taken apart.
pub(crate) struct MlKemParts {
    /// The expanded decapsulation key.
    pub(crate) private_key: SecretBytes,
    /// The raw encapsulation key.
    pub(crate) public_key: Vec<u8>,
    /// The public key as DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
}

/// Parses one ML-KEM PKCS#8 document in the canonical seed form: exactly the document AWS-LC
/// writes for the key it read. AWS-LC's parser is more lenient (bytes after the seed, a
/// version-2 public key it never compares with the seed, attributes); those are refused, so a
/// key is stored and used only in the one form. A key given only in the expanded form has no
/// encapsulation key in AWS-LC and fails too.
pub(crate) fn ml_kem_parse_pkcs8(pkcs8: &[u8]) -> Result<MlKemParts, CryptoError> {
    let key = Pkey::parse(pkcs8, Der::Pkcs8, sys::EVP_PKEY_KEM)?;
    if key.marshal(true)?.expose() != pkcs8 {
        return Err(CryptoError);
    }
    Ok(MlKemParts {
        public_key: key.raw(false)?.expose().to_vec(),
        private_key: key.raw(true)?,
        spki: key.marshal(false)?.expose().to_vec(),
    })
}
