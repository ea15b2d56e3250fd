//! streamhall-entities: the sea-orm entities, one module per table.
//!
//! Timestamps are UTC (`DateTimeUtc`); ids are 64-bit integers assigned by the database, except videos' and clips', which are random
//! (reachable by id alone when unlisted).
//! Secrets (passwords, refresh tokens, stream keys) are stored only as hashes; webhook secrets, which must sign, are the exception; credentials the server must present (cameras, SRT
//! passphrases, restream keys) are sealed with a key kept outside the database ([`secret::Sealer`]).

pub mod account_token;
pub mod audit_log;
pub mod broadcast;
pub mod channel;
pub mod channel_moderator;
pub mod chat_ban;
pub mod chat_message;
pub mod chat_moderation_log;
pub mod chat_room;
pub mod clip;
pub mod dmca_counter_notice;
pub mod dmca_notice;
pub mod dmca_notice_item;
pub mod follow;
pub mod notification;
pub mod notification_job;
pub mod notification_mute;
pub mod notification_setting;
pub mod refresh_token;
pub mod report;
pub mod report_reporter;
pub mod restream_destination;
pub mod secret;
pub mod stream_analytics;
pub mod user;
pub mod video;
pub mod view_session;
pub mod webhook;
pub mod webhook_delivery;

pub use account_token::Entity as AccountToken;
pub use audit_log::Entity as AuditLog;
pub use broadcast::Entity as Broadcast;
pub use channel::Entity as Channel;
pub use channel_moderator::Entity as ChannelModerator;
pub use chat_ban::Entity as ChatBan;
pub use chat_message::Entity as ChatMessage;
pub use chat_moderation_log::Entity as ChatModerationLog;
pub use chat_room::Entity as ChatRoom;
pub use clip::Entity as Clip;
pub use dmca_counter_notice::Entity as DmcaCounterNotice;
pub use dmca_notice::Entity as DmcaNotice;
pub use dmca_notice_item::Entity as DmcaNoticeItem;
pub use follow::Entity as Follow;
pub use notification::Entity as Notification;
pub use notification_job::Entity as NotificationJob;
pub use notification_mute::Entity as NotificationMute;
pub use notification_setting::Entity as NotificationSetting;
pub use refresh_token::Entity as RefreshToken;
pub use report::Entity as Report;
pub use report_reporter::Entity as ReportReporter;
pub use restream_destination::Entity as RestreamDestination;
pub use stream_analytics::Entity as StreamAnalytics;
pub use user::Entity as User;
pub use video::Entity as Video;
pub use view_session::Entity as ViewSession;
pub use webhook::Entity as Webhook;
pub use webhook_delivery::Entity as WebhookDelivery;
