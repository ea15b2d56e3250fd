//! streamhall-entities: the sea-orm entities, one module per table.
//!
//! Timestamps are UTC (`DateTimeUtc`); ids are 64-bit integers assigned by the database.
//! Secrets (passwords, refresh tokens, stream keys) are stored only as hashes.

pub mod broadcast;
pub mod channel;
pub mod channel_moderator;
pub mod chat_ban;
pub mod chat_message;
pub mod chat_moderation_log;
pub mod chat_room;
pub mod refresh_token;
pub mod secret;
pub mod user;

pub use broadcast::Entity as Broadcast;
pub use channel::Entity as Channel;
pub use channel_moderator::Entity as ChannelModerator;
pub use chat_ban::Entity as ChatBan;
pub use chat_message::Entity as ChatMessage;
pub use chat_moderation_log::Entity as ChatModerationLog;
pub use chat_room::Entity as ChatRoom;
pub use refresh_token::Entity as RefreshToken;
pub use user::Entity as User;
