//! Binary members as both dialects carry them: base64 text on the wire. Secret ones (plaintexts)
//! are zeroized on drop and never printed.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use trent_crypto::SecretBytes;

/// A non-secret binary member (ciphertext blobs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

/// A secret binary member (plaintext): zeroized on drop, never printed.
#[derive(Debug, Clone, Default)]
pub struct SecretBlob(pub SecretBytes);

struct Base64Visitor;

impl Visitor<'_> for Base64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64-encoded string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        STANDARD
            .decode(v)
            .map_err(|_| E::custom("Invalid base64 in a blob member"))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Base64Visitor).map(Blob)
    }
}

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Base64Visitor)
            .map(|v| SecretBlob(SecretBytes::new(v)))
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Straight into the output, without an encoded copy.
        s.collect_str(&base64::display::Base64Display::new(&self.0, &STANDARD))
    }
}

impl Serialize for SecretBlob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The encoded copy is wiped as soon as it has been written out.
        let encoded = zeroize::Zeroizing::new(STANDARD.encode(self.0.expose()));
        s.serialize_str(&encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every padding case, and lengths past the display adapter's internal chunking.
    #[test]
    fn a_blob_is_its_standard_base64_and_reads_back() {
        for len in (0..70).chain([767, 768, 769, 1024, 5000]) {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let json = serde_json::to_string(&Blob(bytes.clone())).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", STANDARD.encode(&bytes)),
                "length {len}"
            );
            let back: Blob = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0, bytes, "length {len}");
        }
    }
}
