//! The plain RTMP handshake, server side: C0+C1 in, S0+S1+S2 out, C2 in. The caller bounds
//! it with a timeout. OBS and ffmpeg accept a plain S1 (zero version field) for publishing.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const RTMP_VERSION: u8 = 3;
pub const HANDSHAKE_SIZE: usize = 1536;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("unsupported RTMP version {0}")]
    Version(u8),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs the handshake on a fresh connection. Bytes the client sends after C2 stay unread.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    epoch_ms: u32,
) -> Result<(), HandshakeError> {
    let mut c0c1 = vec![0u8; 1 + HANDSHAKE_SIZE];
    io.read_exact(&mut c0c1[..1]).await?;
    if c0c1[0] != RTMP_VERSION {
        return Err(HandshakeError::Version(c0c1[0]));
    }
    io.read_exact(&mut c0c1[1..]).await?;
    let c1 = &c0c1[1..];

    let mut out = Vec::with_capacity(1 + 2 * HANDSHAKE_SIZE);
    out.push(RTMP_VERSION);
    // S1: our time, four zero bytes (plain handshake), random filler.
    out.extend_from_slice(&epoch_ms.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&random_bytes(HANDSHAKE_SIZE - 8));
    // S2: the client's time and random bytes echoed, with the time we read C1 in between.
    out.extend_from_slice(&c1[..4]);
    out.extend_from_slice(&epoch_ms.to_be_bytes());
    out.extend_from_slice(&c1[8..]);
    io.write_all(&out).await?;
    io.flush().await?;

    let mut c2 = vec![0u8; HANDSHAKE_SIZE];
    io.read_exact(&mut c2).await?;
    Ok(())
}

/// Unpredictable enough for handshake filler, which only has to differ between connections.
fn random_bytes(len: usize) -> Vec<u8> {
    let state = RandomState::new();
    let mut out = Vec::with_capacity(len + 8);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = state.build_hasher();
        h.write_u64(counter);
        counter += 1;
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn plain_handshake() {
        let (mut client, mut server) = tokio::io::duplex(8192);
        let task = tokio::spawn(async move { accept(&mut server, 77).await });
        let mut c0c1 = vec![RTMP_VERSION];
        c0c1.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]);
        c0c1.extend((0..HANDSHAKE_SIZE - 8).map(|i| i as u8));
        client.write_all(&c0c1).await.unwrap();
        let mut s0s1s2 = vec![0u8; 1 + 2 * HANDSHAKE_SIZE];
        client.read_exact(&mut s0s1s2).await.unwrap();
        assert_eq!(s0s1s2[0], RTMP_VERSION);
        assert_eq!(&s0s1s2[1..9], &[0, 0, 0, 77, 0, 0, 0, 0]);
        let s2 = &s0s1s2[1 + HANDSHAKE_SIZE..];
        assert_eq!(&s2[..4], &c0c1[1..5]);
        assert_eq!(&s2[8..], &c0c1[9..]);
        client
            .write_all(&s0s1s2[1..1 + HANDSHAKE_SIZE])
            .await
            .unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn wrong_version_is_refused_at_once() {
        let (mut client, mut server) = tokio::io::duplex(8192);
        client.write_all(&[6]).await.unwrap();
        assert!(matches!(
            accept(&mut server, 0).await,
            Err(HandshakeError::Version(6))
        ));
    }

    #[test]
    fn filler_differs_between_calls() {
        let a = random_bytes(HANDSHAKE_SIZE - 8);
        assert_eq!(a.len(), HANDSHAKE_SIZE - 8);
        assert_ne!(a, random_bytes(HANDSHAKE_SIZE - 8));
    }
}
