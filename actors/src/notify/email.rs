//! Go-live emails over SMTP (lettre). A bounded queue feeds one sending task; a full queue
//! makes the fan-out wait (nothing is dropped). The per-follower throttle is claimed in the
//! database before an email is queued (see [`super::fanout`]), so two nodes never both send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

use super::config::{SmtpConfig, SmtpTls};
use crate::locks::lock;

/// One email to send.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub body: String,
}

#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Email>,
    stats: Arc<MailStats>,
}

#[derive(Default)]
struct MailStats {
    sent: AtomicU64,
    failed: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Mailer {
    /// Checks the settings and starts the sender. Must run inside Tokio.
    pub fn start(cfg: &SmtpConfig) -> anyhow::Result<Self> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("notify.smtp.from: {e}"))?;
        let mut builder = match cfg.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
                .tls(Tls::Required(TlsParameters::new(cfg.host.clone())?)),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
                .tls(Tls::Wrapper(TlsParameters::new(cfg.host.clone())?)),
        }
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(10)));
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                pass.expose_secret().to_owned(),
            ));
        }
        let transport = builder.build();
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let stats = Arc::new(MailStats::default());
        tokio::spawn(send_loop(transport, from, rx, stats.clone()));
        Ok(Self { tx, stats })
    }

    /// Queues an email; waits while the queue is full.
    pub async fn send(&self, email: Email) {
        let _ = self.tx.send(email).await;
    }

    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.stats.last_error).clone()
    }
}

async fn send_loop(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mut rx: mpsc::Receiver<Email>,
    stats: Arc<MailStats>,
) {
    while let Some(email) = rx.recv().await {
        let result = match build(&from, &email) {
            Ok(msg) => transport.send(msg).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(_) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                // The address is personal data: log the error, not the recipient.
                tracing::warn!(error = %e, "notify: an email could not be sent");
                *lock(&stats.last_error) = Some(e);
            }
        }
    }
}

fn build(from: &Mailbox, email: &Email) -> Result<Message, String> {
    let to = Mailbox::new(
        Some(email.to_name.clone()),
        email.to.parse().map_err(|e| format!("recipient: {e}"))?,
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&email.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| e.to_string())
}

/// The go-live email.
pub fn go_live(
    public_url: &str,
    channel_slug: &str,
    channel_title: &str,
    title: &str,
) -> (String, String) {
    let subject = format!("{channel_title} is live: {title}");
    let body = format!(
        "{channel_title} just went live.\n\n  {title}\n\nWatch: {public_url}/c/{channel_slug}\n\n\
         You get this email because you follow {channel_title}. To stop these emails, turn them \
         off or mute the channel at {public_url}/settings.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_go_live_email_links_the_channel_and_the_settings() {
        let (subject, body) = go_live("http://h:8080", "alice", "Alice", "Speedrun");
        assert_eq!(subject, "Alice is live: Speedrun");
        assert!(body.contains("http://h:8080/c/alice"), "{body}");
        assert!(body.contains("http://h:8080/settings"), "{body}");
    }

    #[test]
    fn messages_build_with_a_display_name() {
        let from: Mailbox = "streamhall <noreply@example.com>".parse().unwrap();
        let msg = build(
            &from,
            &Email {
                to: "bob@example.com".into(),
                to_name: "bob".into(),
                subject: "s".into(),
                body: "b".into(),
            },
        )
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("To: bob <bob@example.com>"), "{raw}");
        assert!(
            build(
                &from,
                &Email {
                    to: "not an address".into(),
                    to_name: "x".into(),
                    subject: "s".into(),
                    body: "b".into()
                }
            )
            .is_err()
        );
    }
}
