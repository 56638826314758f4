//! HMAC keys for GenerateMac/VerifyMac.

use std::fmt;

use aws_lc_rs::hmac;

/// The HMAC hash functions AWS KMS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl MacHash {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            MacHash::Sha224 => hmac::HMAC_SHA224,
            MacHash::Sha256 => hmac::HMAC_SHA256,
            MacHash::Sha384 => hmac::HMAC_SHA384,
            MacHash::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A prepared HMAC key.
pub struct MacKey {
    key: hmac::Key,
    hash: MacHash,
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKey({:?}, <redacted>)", self.hash)
    }
}

impl MacKey {
    pub fn new(hash: MacHash, material: &crate::SecretBytes) -> Self {
        Self {
            key: hmac::Key::new(hash.algorithm(), material.expose()),
            hash,
        }
    }

    pub fn hash(&self) -> MacHash {
        self.hash
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, message).as_ref().to_vec()
    }

    /// Constant-time check of `tag` against `message`.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, message, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 for every hash.
    #[test]
    fn rfc4231_case2() {
        let key = MacKey::new(MacHash::Sha224, &crate::SecretBytes::new(b"Jefe".to_vec()));
        let tag = key.sign(b"what do ya want for nothing?");
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"
        );
        assert!(key.verify(b"what do ya want for nothing?", &tag));
        assert!(!key.verify(b"what do ya want for nothing!", &tag));
        assert!(!key.verify(b"what do ya want for nothing?", &tag[..27]));
    }
}
