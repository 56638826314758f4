//! The two primitives aws-lc-rs's safe API does not offer, called directly in AWS-LC through
//! aws-lc-sys (the same library build aws-lc-rs links):
//!
//! - Ed25519ph (RFC 8032 §5.1, HashEdDSA with SHA-512, empty context): `ED25519ph_sign_digest`
//!   and `ED25519ph_verify_digest` from `openssl/curve25519.h`;
//! - ML-DSA with an external μ (FIPS 204 §6.2 / Algorithm 7 line 6): AWS-LC's `EVP_PKEY_sign`
//!   and `EVP_PKEY_verify` on an ML-DSA key take the 64-byte μ as their "digest" input
//!   (`pkey_pqdsa_sign_generic`, digest mode).
//!
//! This is the only module of the crate with `unsafe` code. Every pointer AWS-LC allocates is
//! owned by a guard that frees it; private key bytes copied out live in `Zeroizing` buffers.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use crate::CryptoError;

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
