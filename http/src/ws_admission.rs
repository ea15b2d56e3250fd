//! What a WebSocket upgrade checks before it is accepted, kept apart from the sockets and from
//! [`AppState`](crate::state::AppState) (which holds a [`TicketStore`] and a [`ConnLimiter`]):
//! single-use tickets, sockets per client address, and the browser's `Origin`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, http::header};

use crate::error::ApiError;

/// Single-use socket tickets: `sha256(ticket) -> (user, channel)` for 30 s, in memory or in
/// Redis (so a ticket from one node works on another).
pub enum TicketStore {
    Memory(Mutex<HashMap<String, (i64, i64, Instant)>>),
    Redis {
        pool: deadpool_redis::Pool,
        prefix: String,
    },
}

/// How long a ticket is valid.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
const MAX_MEMORY_TICKETS: usize = 100_000;

impl TicketStore {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    pub fn redis(pool: deadpool_redis::Pool, prefix: String) -> Self {
        Self::Redis { pool, prefix }
    }

    /// A new ticket for `user_id` on `channel_id`.
    pub async fn issue(&self, user_id: i64, channel_id: i64) -> Result<String, ApiError> {
        let ticket = streamhall_entities::secret::generate_token("ct_", 16)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
        let hash = streamhall_entities::secret::sha256_hex(&ticket);
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() >= MAX_MEMORY_TICKETS / 2 {
                    let now = Instant::now();
                    map.retain(|_, t| t.2 > now);
                }
                if map.len() >= MAX_MEMORY_TICKETS {
                    return Err(ApiError::Unavailable("too many chat tickets outstanding"));
                }
                map.insert(hash, (user_id, channel_id, Instant::now() + TICKET_TTL));
            }
            Self::Redis { pool, prefix } => {
                let mut conn = pool
                    .get()
                    .await
                    .map_err(|_| ApiError::Unavailable("redis"))?;
                deadpool_redis::redis::cmd("SET")
                    .arg(format!("{prefix}chat:ticket:{hash}"))
                    .arg(format!("{user_id}:{channel_id}"))
                    .arg("EX")
                    .arg(TICKET_TTL.as_secs())
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|_| ApiError::Unavailable("redis"))?;
            }
        }
        Ok(ticket)
    }

    /// The user the ticket was issued to, if it is valid for `channel_id`; it is used up.
    pub async fn redeem(&self, ticket: &str, channel_id: i64) -> Result<Option<i64>, ApiError> {
        let hash = streamhall_entities::secret::sha256_hex(ticket);
        let found = match self {
            Self::Memory(map) => map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&hash)
                .filter(|t| t.2 > Instant::now())
                .map(|t| (t.0, t.1)),
            Self::Redis { pool, prefix } => {
                let mut conn = pool
                    .get()
                    .await
                    .map_err(|_| ApiError::Unavailable("redis"))?;
                let v: Option<String> = deadpool_redis::redis::cmd("GETDEL")
                    .arg(format!("{prefix}chat:ticket:{hash}"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|_| ApiError::Unavailable("redis"))?;
                v.and_then(|v| {
                    let (u, c) = v.split_once(':')?;
                    Some((u.parse().ok()?, c.parse().ok()?))
                })
            }
        };
        Ok(found.and_then(|(user, channel)| (channel == channel_id).then_some(user)))
    }
}

/// Open chat sockets per client address.
pub struct ConnLimiter {
    max: u32,
    counts: Arc<Mutex<HashMap<String, u32>>>,
}

/// One counted connection; released on drop.
pub struct ConnSlot {
    ip: String,
    counts: Arc<Mutex<HashMap<String, u32>>>,
}

impl ConnLimiter {
    /// `max` = 0: no limit.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts one more for `ip`, or `None` at the cap. Every HTTP request passes here: the slot
    /// keeps the caller's string, so an address already counted allocates nothing more and a new
    /// one a single copy for the table.
    pub fn acquire(&self, ip: String) -> Option<ConnSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.get_mut(&ip) {
            Some(n) if self.max != 0 && *n >= self.max => return None,
            Some(n) => *n += 1,
            None => {
                counts.insert(ip.clone(), 1);
            }
        }
        drop(counts);
        Some(ConnSlot {
            ip,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A browser's socket must come from the app itself or a configured CORS origin (clients
/// that send no `Origin` are not browsers and pass).
pub fn origin_allowed(req: &HttpRequest, public_url: &str, cors_origins: &[String]) -> bool {
    req.headers().get(header::ORIGIN).is_none_or(|origin| {
        let origin = origin.to_str().unwrap_or("");
        origin == public_url || cors_origins.iter().any(|o| o == origin)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn connection_slots_are_counted_per_address_and_released() {
        let l = ConnLimiter::new(2);
        let a = l.acquire("1.1.1.1".into());
        let b = l.acquire("1.1.1.1".into());
        assert!(a.is_some() && b.is_some());
        assert!(l.acquire("1.1.1.1".into()).is_none());
        assert!(l.acquire("2.2.2.2".into()).is_some());
        drop(a);
        assert!(l.acquire("1.1.1.1".into()).is_some());
        assert!(ConnLimiter::new(0).acquire("x".into()).is_some());
    }

    #[test]
    fn only_the_app_and_configured_origins_may_open_sockets() {
        let req = |origin: Option<&str>| {
            let mut r = actix_web::test::TestRequest::default();
            if let Some(o) = origin {
                r = r.insert_header((header::ORIGIN, o));
            }
            r.to_http_request()
        };
        let cors = vec!["https://other.example".to_owned()];
        let app = "https://app.example";
        assert!(origin_allowed(&req(None), app, &cors), "not a browser");
        assert!(origin_allowed(&req(Some(app)), app, &cors));
        assert!(origin_allowed(
            &req(Some("https://other.example")),
            app,
            &cors
        ));
        assert!(!origin_allowed(
            &req(Some("https://evil.example")),
            app,
            &cors
        ));
    }
}
