//! The ciphertext blob a symmetric Encrypt returns: self-describing, so Decrypt needs no KeyId
//! and rotation keeps old ciphertexts readable.
//!
//! ```text
//! 0      1                17                   21        33
//! | fmt  | key id (16)    | material version   | nonce   | ciphertext ... | tag (16) |
//! ```
//! The header (format byte, key id, material version) and the encryption context are the
//! AES-GCM associated data: changing either makes decryption fail. Every failure to parse or
//! open is the same `InvalidCiphertext`.

use std::collections::BTreeMap;

use crate::ids::KeyId;

/// Format byte of the current layout, for a key with an ordinary id.
pub const FORMAT_V1: u8 = 1;
/// The same layout for a multi-Region key (`mrk-` id, the same 16 bytes): every copy of the key
/// in any Region reads it.
pub const FORMAT_V1_MULTI_REGION: u8 = 2;
/// Bytes before the sealed part.
pub const HEADER_LEN: usize = 1 + 16 + 4;
/// Smallest possible blob: header, nonce, tag (an empty plaintext is never produced, but the
/// codec does not care).
pub const MIN_LEN: usize = HEADER_LEN + trent_crypto::NONCE_LEN + trent_crypto::TAG_LEN;

/// The encryption context: a string map bound to the ciphertext; order never matters.
pub type EncryptionContext = BTreeMap<String, String>;

/// The most bytes of keys and values together an encryption context may hold when a ciphertext
/// is made. AWS documents no limit; Alibaba documents 8,192 characters of its JSON text.
/// Unbounded, a context is work for every policy condition that matches it, and text in every
/// audit record.
pub const CONTEXT_MAX_BYTES: usize = 8192;

/// The same bound for Decrypt and ReEncrypt's source, which read ciphertexts made before
/// [`CONTEXT_MAX_BYTES`] held: larger, and still a bound on what conditions cost.
pub const CONTEXT_READ_MAX_BYTES: usize = 64 * 1024;

/// Whether `context` holds at most `limit` bytes of keys and values.
pub fn context_within(context: &EncryptionContext, limit: usize) -> bool {
    context
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .try_fold(0usize, |total, n| Some(total + n).filter(|t| *t <= limit))
        .is_some()
}

/// A key of `context` equal to another but for ASCII letter case, if there is one. The map is
/// ordered, so such keys are not always neighbours; a small context is compared pair by pair,
/// a large one through a set.
pub fn key_equal_but_for_case(context: &EncryptionContext) -> Option<&str> {
    if context.len() < 2
        || !context
            .keys()
            .any(|k| k.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return None;
    }
    if context.len() <= 16 {
        return context.keys().enumerate().find_map(|(i, k)| {
            context
                .keys()
                .skip(i + 1)
                .any(|other| other.eq_ignore_ascii_case(k))
                .then_some(k.as_str())
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(context.len());
    context
        .keys()
        .map(String::as_str)
        .find(|k| !seen.insert(k.to_ascii_lowercase()))
}

/// A parsed blob, borrowing its sealed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    pub key_id: KeyId,
    pub material_version: u32,
    pub sealed: &'a [u8],
}

pub fn header(key_id: &KeyId, material_version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = if key_id.is_multi_region() {
        FORMAT_V1_MULTI_REGION
    } else {
        FORMAT_V1
    };
    h[1..17].copy_from_slice(key_id.as_bytes());
    h[17..21].copy_from_slice(&material_version.to_be_bytes());
    h
}

/// Header plus an unambiguous encoding of the context (count, then length-prefixed pairs in
/// key order), used as associated data.
pub fn associated_data(header: &[u8; HEADER_LEN], context: &EncryptionContext) -> Vec<u8> {
    let body: usize = context.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut aad = Vec::with_capacity(HEADER_LEN + 4 + body);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (k, v) in context {
        aad.extend_from_slice(&(k.len() as u32).to_be_bytes());
        aad.extend_from_slice(k.as_bytes());
        aad.extend_from_slice(&(v.len() as u32).to_be_bytes());
        aad.extend_from_slice(v.as_bytes());
    }
    aad
}

pub fn encode(header: &[u8; HEADER_LEN], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.extend_from_slice(header);
    out.extend_from_slice(sealed);
    out
}

/// Parses a blob; `None` for anything that is not one of ours.
pub fn decode(bytes: &[u8]) -> Option<Blob<'_>> {
    if bytes.len() < MIN_LEN || !matches!(bytes[0], FORMAT_V1 | FORMAT_V1_MULTI_REGION) {
        return None;
    }
    let id: [u8; 16] = bytes[1..17].try_into().ok()?;
    let version = u32::from_be_bytes(bytes[17..21].try_into().ok()?);
    Some(Blob {
        key_id: KeyId::from_parts(id, bytes[0] == FORMAT_V1_MULTI_REGION),
        material_version: version,
        sealed: &bytes[HEADER_LEN..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_bounded_and_keys_equal_but_for_case_are_found() {
        let context = |keys: &[&str]| -> EncryptionContext {
            keys.iter()
                .map(|k| (k.to_string(), "v".to_owned()))
                .collect()
        };
        assert_eq!(key_equal_but_for_case(&context(&["app", "bpp"])), None);
        assert_eq!(key_equal_but_for_case(&context(&["App"])), None);
        assert!(key_equal_but_for_case(&context(&["App", "b", "app"])).is_some());
        // A large context goes through the set; keys apart in the map's order are found.
        let mut many: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
        assert_eq!(
            key_equal_but_for_case(&context(
                &many.iter().map(String::as_str).collect::<Vec<_>>()
            )),
            None
        );
        many.push("K07".into());
        assert!(key_equal_but_for_case(&context(
            &many.iter().map(String::as_str).collect::<Vec<_>>()
        ))
        .is_some());
        let sized = |n: usize| EncryptionContext::from([("k".to_owned(), "v".repeat(n - 1))]);
        assert!(context_within(&sized(CONTEXT_MAX_BYTES), CONTEXT_MAX_BYTES));
        assert!(!context_within(
            &sized(CONTEXT_MAX_BYTES + 1),
            CONTEXT_MAX_BYTES
        ));
    }

    #[test]
    fn round_trip() {
        let id = KeyId::generate();
        let h = header(&id, 7);
        let sealed = vec![0xAB; trent_crypto::NONCE_LEN + 5 + trent_crypto::TAG_LEN];
        let bytes = encode(&h, &sealed);
        let blob = decode(&bytes).unwrap();
        assert_eq!(blob.key_id, id);
        assert_eq!(blob.material_version, 7);
        assert_eq!(blob.sealed, &sealed[..]);
    }

    #[test]
    fn rejects_short_and_foreign_input() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[1; MIN_LEN - 1]).is_none());
        let mut other = vec![0u8; 200];
        other[0] = 3;
        assert!(decode(&other).is_none());
    }

    #[test]
    fn multi_region_ids_round_trip() {
        let id = KeyId::generate_multi_region();
        let h = header(&id, 2);
        assert_eq!(h[0], FORMAT_V1_MULTI_REGION);
        let sealed = vec![0xAB; trent_crypto::NONCE_LEN + 5 + trent_crypto::TAG_LEN];
        assert_eq!(decode(&encode(&h, &sealed)).unwrap().key_id, id);
    }

    #[test]
    fn context_encoding_is_unambiguous_and_order_free() {
        let h = header(&KeyId::generate(), 1);
        let a = EncryptionContext::from([("ab".into(), "c".into())]);
        let b = EncryptionContext::from([("a".into(), "bc".into())]);
        assert_ne!(associated_data(&h, &a), associated_data(&h, &b));
        let mut x = EncryptionContext::new();
        x.insert("z".into(), "1".into());
        x.insert("a".into(), "2".into());
        let mut y = EncryptionContext::new();
        y.insert("a".into(), "2".into());
        y.insert("z".into(), "1".into());
        assert_eq!(associated_data(&h, &x), associated_data(&h, &y));
    }
}
