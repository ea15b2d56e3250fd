//! Settings of the notifier: fan-out batches, email (SMTP) and webhooks. The binary reads them
//! from the `[notify]` section of its configuration.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Followers read, notified and emailed per batch of a go-live fan-out.
    pub batch_size: usize,
    /// Fan-outs running at once on this node; more wait their turn (none is dropped).
    pub max_running: usize,
    /// At most one go-live email per channel per follower in this many seconds.
    pub email_throttle_secs: u64,
    /// Unset: no email is sent.
    pub smtp: Option<SmtpConfig>,
    pub webhooks: WebhookConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_running: 4,
            email_throttle_secs: 3600,
            smtp: None,
            webhooks: WebhookConfig::default(),
        }
    }
}

impl NotifyConfig {
    pub fn email_throttle(&self) -> Duration {
        Duration::from_secs(self.email_throttle_secs)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost, a test sink).
    None,
    /// STARTTLS on the submission port (587).
    #[default]
    Starttls,
    /// TLS from the first byte (465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    /// The sender, e.g. `streamhall <noreply@example.com>`.
    pub from: String,
    /// Emails waiting to be sent; beyond it a fan-out waits (bounded, nothing dropped).
    #[serde(default = "default_email_queue")]
    pub queue: usize,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_email_queue() -> usize {
    1000
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Seconds to connect and get an answer.
    pub timeout_secs: u64,
    /// Tries per delivery before it is marked failed.
    pub max_attempts: u32,
    /// The first retry waits this long; each next one twice as long.
    pub backoff_base_ms: u64,
    /// Addresses or CIDR ranges that may be targeted although private, loopback or link-local
    /// (e.g. `["127.0.0.1"]` for tests, `["10.0.0.0/8"]` for an internal receiver).
    pub allow_private: Vec<String>,
    /// Webhooks per channel.
    pub max_per_channel: usize,
    /// Deliveries waiting per webhook; when a new one would exceed it, the oldest waiting one
    /// is marked failed ("dropped: ...") in the delivery log.
    pub max_queued_per_webhook: usize,
    /// Deliveries sending at once per channel, so one owner's slow or dead endpoints cannot
    /// hold every sending slot (each webhook sends one at a time).
    pub max_sending_per_channel: usize,
    /// Test pings per webhook per minute (`POST .../ping`; more get 429).
    pub pings_per_minute: u32,
    /// Days a finished (delivered or failed) delivery stays in the log.
    pub keep_days: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 5,
            max_attempts: 5,
            backoff_base_ms: 2000,
            allow_private: Vec::new(),
            max_per_channel: 10,
            max_queued_per_webhook: 100,
            max_sending_per_channel: 2,
            pings_per_minute: 6,
            keep_days: 7,
        }
    }
}
