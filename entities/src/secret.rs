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

/// Seals the credentials the server must present again (camera passwords, SRT passphrases,
/// restream keys) with XChaCha20-Poly1305 under a key kept outside the database: a leaked
/// database alone leaks none of them. Stored form: `v1:` + hex(nonce ‖ ciphertext).
#[derive(Clone)]
pub struct Sealer {
    cipher: chacha20poly1305::XChaCha20Poly1305,
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealable;

impl std::fmt::Display for Unsealable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sealed credential could not be opened (was the credentials key changed?)")
    }
}

impl std::error::Error for Unsealable {}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

impl Sealer {
    /// From secret material of at least 32 bytes (hashed down to the 256-bit key).
    pub fn new(secret: &[u8]) -> Self {
        use chacha20poly1305::KeyInit;
        let key: [u8; 32] = Sha256::digest(secret).into();
        Self {
            cipher: chacha20poly1305::XChaCha20Poly1305::new(&key.into()),
        }
    }

    pub fn seal(&self, plaintext: &str) -> Result<String, getrandom::Error> {
        use chacha20poly1305::aead::Aead;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        // Encryption with a fresh nonce and a valid key cannot fail.
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), plaintext.as_bytes())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", hex::encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, Unsealable> {
        use chacha20poly1305::aead::Aead;
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Unsealable)?;
        if raw.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Unsealable)?;
        let plain = self
            .cipher
            .decrypt(&nonce.into(), body)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain).map_err(|_| Unsealable)
    }
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

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let a = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let b = Sealer::new(b"another key of at least 32 bytes!!");
        let sealed = a.seal("camera:pa55word").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("pa55word"));
        assert_ne!(sealed, a.seal("camera:pa55word").unwrap(), "nonces differ");
        assert_eq!(a.open(&sealed).unwrap(), "camera:pa55word");
        assert_eq!(b.open(&sealed), Err(Unsealable));
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 2.., "00");
        assert_eq!(a.open(&tampered), Err(Unsealable));
        assert_eq!(a.open("plain"), Err(Unsealable));
    }
}
