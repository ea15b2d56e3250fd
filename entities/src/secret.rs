//! Random tokens and their stored form. A token (stream key, refresh token) is shown to its
//! owner once; the database keeps only its SHA-256, so a leaked database leaks no key.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `prefix` followed by `bytes` random bytes in lowercase hex (e.g. 16 bytes = 128 bits).
pub fn generate_token(prefix: &str, bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(format!("{prefix}{}", hex::encode(buf)))
}

/// Lowercase hex SHA-256, the form tokens are stored and looked up in.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two stored hashes without leaking where they differ.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new stream key: `live_` + 128 random bits.
pub fn new_stream_key() -> Result<String, getrandom::Error> {
    generate_token("live_", 16)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stream_keys_are_128_bit_and_distinct() {
        let a = new_stream_key().unwrap();
        let b = new_stream_key().unwrap();
        assert!(a.starts_with("live_"));
        assert_eq!(a.len(), 5 + 32);
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_stable_hex_and_compares() {
        let h = sha256_hex("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hashes_match(&h, &sha256_hex("abc")));
        assert!(!hashes_match(&h, &sha256_hex("abd")));
        assert!(!hashes_match(&h, "short"));
    }
}
