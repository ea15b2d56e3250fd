//! streamhall-entities: the sea-orm entities, one module per table.
//!
//! Timestamps are UTC (`DateTimeUtc`); ids are 64-bit integers assigned by the database.
//! Secrets (passwords, refresh tokens, stream keys) are stored only as hashes.

pub mod broadcast;
pub mod channel;
pub mod refresh_token;
pub mod secret;
pub mod user;

pub use broadcast::Entity as Broadcast;
pub use channel::Entity as Channel;
pub use refresh_token::Entity as RefreshToken;
pub use user::Entity as User;
