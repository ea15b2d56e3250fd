//! Webhook signing: the secret, the `X-Streamhall-Signature` header's value, and the body as
//! it is stored, signed and sent.

use super::*;

/// A new signing secret: 32 random bytes, hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf)?;
    Ok(hex::encode(buf))
}

/// The `X-Streamhall-Signature` value: `sha256=` and the hex HMAC-SHA256 of `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delivery body: `{"created_at", "data", "event", "id"}`, stored as it is signed and sent.
pub(super) fn payload(
    id: &str,
    event: &str,
    at: DateTime<Utc>,
    data: &serde_json::Value,
) -> String {
    serde_json::json!({
        "id": id,
        "event": event,
        "created_at": at.to_rfc3339(),
        "data": data,
    })
    .to_string()
}
