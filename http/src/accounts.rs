//! The account lifecycle's machinery: the `[accounts]` settings, single-use email links
//! (password reset, email verification) and the emails that carry them.
//!
//! - A link's token is 256 random bits (hex), stored only as its SHA-256 hash; it works once,
//!   until it expires, and issuing a new link of the same purpose retires the older ones.
//! - Reset links live `reset_link_ttl_minutes` (30), verification links
//!   `verify_link_ttl_hours` (48). A verification link verifies only the address it was sent to.
//! - Emails go through the notifier's SMTP sender (bounded queue). Work that must not show on
//!   the request path (a reset for an address that may not exist) runs in the background, at
//!   most [`BACKGROUND_SLOTS`] at once; beyond that a request is logged and dropped, and the
//!   client still gets the same answer.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set, sea_query::Expr,
};
use serde::Deserialize;
use streamhall_actors::notify::email::{Email, Mailer};
use streamhall_entities::{
    AccountToken, RefreshToken, User, account_token, refresh_token, secret, user,
};
use tokio::sync::Semaphore;

/// Background account jobs (reset lookups and emails) running at once.
pub const BACKGROUND_SLOTS: usize = 64;

/// The `[accounts]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Unverified accounts cannot stream (ingest refuses their keys). Unset: on when
    /// `notify.smtp` is configured (the verification email can be sent), off otherwise.
    pub require_email_verification: Option<bool>,
    /// Minutes a password reset link works.
    pub reset_link_ttl_minutes: u64,
    /// Hours an email verification link works.
    pub verify_link_ttl_hours: u64,
    /// Password reset requests per address (the email typed) per `reset_window_secs`.
    pub reset_requests_per_email: u32,
    /// Password reset requests per client address per `reset_window_secs`.
    pub reset_requests_per_ip: u32,
    pub reset_window_secs: u64,
    /// Tries at redeeming a link (reset or verification) per client address per
    /// `redeem_window_secs`.
    pub redeems_per_ip: u32,
    pub redeem_window_secs: u64,
    /// Verification emails one user may ask for per `resend_window_secs`.
    pub verification_emails_per_user: u32,
    pub resend_window_secs: u64,
    /// Data exports one user may download per `export_window_secs`.
    pub exports_per_user: u32,
    pub export_window_secs: u64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            require_email_verification: None,
            reset_link_ttl_minutes: 30,
            verify_link_ttl_hours: 48,
            reset_requests_per_email: 3,
            reset_requests_per_ip: 20,
            reset_window_secs: 3600,
            redeems_per_ip: 30,
            redeem_window_secs: 600,
            verification_emails_per_user: 5,
            resend_window_secs: 3600,
            exports_per_user: 5,
            export_window_secs: 3600,
        }
    }
}

impl AccountsConfig {
    /// Whether streaming needs a verified address, given whether SMTP is configured.
    pub fn verification_required(&self, smtp_configured: bool) -> bool {
        self.require_email_verification.unwrap_or(smtp_configured)
    }

    pub fn reset_ttl(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.reset_link_ttl_minutes.clamp(1, 24 * 60) as i64)
    }

    pub fn verify_ttl(&self) -> chrono::Duration {
        chrono::Duration::hours(self.verify_link_ttl_hours.clamp(1, 24 * 30) as i64)
    }
}

/// What handlers hold: the settings, resolved, and the mailer.
#[derive(Clone)]
pub struct Accounts {
    pub cfg: AccountsConfig,
    /// `accounts.require_email_verification`, resolved.
    pub require_verified_email: bool,
    /// Unset without SMTP: no email is sent.
    pub mailer: Option<Mailer>,
    background: Arc<Semaphore>,
}

impl Accounts {
    pub fn new(cfg: AccountsConfig, mailer: Option<Mailer>) -> Self {
        let require_verified_email = cfg.verification_required(mailer.is_some());
        Self {
            cfg,
            require_verified_email,
            mailer,
            background: Arc::new(Semaphore::new(BACKGROUND_SLOTS)),
        }
    }

    /// Runs `job` off the request path, if a slot is free; otherwise logs that `what` was
    /// dropped.
    pub fn spawn<F>(&self, what: &'static str, job: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.background).try_acquire_owned() else {
            tracing::warn!(
                job = what,
                "accounts: too many background jobs; this one is dropped"
            );
            return;
        };
        tokio::spawn(async move {
            if let Err(error) = job.await {
                tracing::error!(job = what, error = %error, "accounts: background job failed");
            }
            drop(permit);
        });
    }
}

/// Issues a link token for `user_id` and retires the user's older unused ones of `purpose`.
/// Returns the token (shown once: in the email or the CLI's output).
pub async fn issue<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    purpose: &str,
    ttl: chrono::Duration,
    email: Option<String>,
) -> anyhow::Result<String> {
    let prefix = if purpose == account_token::PURPOSE_PASSWORD_RESET {
        "pr_"
    } else {
        "ve_"
    };
    let token = secret::generate_token(prefix, 32).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let now = Utc::now();
    retire(db, user_id, purpose, now).await?;
    account_token::ActiveModel {
        user_id: Set(user_id),
        purpose: Set(purpose.to_owned()),
        token_hash: Set(secret::sha256_hex(&token)),
        email: Set(email),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Marks the user's unused tokens of `purpose` used.
pub async fn retire<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    AccountToken::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(now))
        .filter(account_token::Column::UserId.eq(user_id))
        .filter(account_token::Column::Purpose.eq(purpose))
        .filter(account_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The live token `token` of `purpose`, if there is one (not used, not expired).
pub async fn find_live<C: ConnectionTrait>(
    db: &C,
    purpose: &str,
    token: &str,
) -> Result<Option<account_token::Model>, sea_orm::DbErr> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = secret::sha256_hex(token);
    let found = AccountToken::find()
        .filter(account_token::Column::TokenHash.eq(hash.as_str()))
        .filter(account_token::Column::Purpose.eq(purpose))
        .one(db)
        .await?;
    let now = Utc::now();
    Ok(found.filter(|t| {
        secret::hashes_match(&t.token_hash, &hash) && t.used_at.is_none() && t.expires_at > now
    }))
}

/// Uses `token` of `purpose` once: the token and the user's other tokens of that purpose stop
/// working. `None` when it is unknown, used, expired, or another request used it first.
pub async fn redeem<C: ConnectionTrait>(
    db: &C,
    purpose: &str,
    token: &str,
) -> Result<Option<account_token::Model>, sea_orm::DbErr> {
    let Some(found) = find_live(db, purpose, token).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let claimed = AccountToken::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(now))
        .filter(account_token::Column::Id.eq(found.id))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(None);
    }
    retire(db, found.user_id, purpose, now).await?;
    Ok(Some(found))
}

/// Ends every sign-in of `account`: access tokens stop working (token version bumped) and
/// refresh tokens are revoked. The caller publishes `SessionsRevoked` after committing, so every
/// node closes the user's sockets.
pub async fn revoke_sessions<C: ConnectionTrait>(
    db: &C,
    current: &user::Model,
    mut changes: user::ActiveModel,
    now: DateTime<Utc>,
) -> Result<user::Model, sea_orm::DbErr> {
    changes.token_version = Set(current.token_version + 1);
    changes.updated_at = Set(now);
    let updated = changes.update(db).await?;
    RefreshToken::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(current.id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated)
}

/// The web app's page for a link: `{public_url}/{page}?token=…`.
pub fn link(public_url: &str, page: &str, token: &str) -> String {
    format!("{public_url}/{page}?token={token}")
}

/// The password reset email.
pub fn reset_email(public_url: &str, token: &str, ttl: chrono::Duration) -> (String, String) {
    let subject = "Reset your streamhall password".to_owned();
    let body = format!(
        "Someone (hopefully you) asked to reset the password of your account at {public_url}.\n\n\
         Choose a new password here (the link works once, for {} minutes):\n\n  {}\n\n\
         If you did not ask for this, ignore this email: your password stays as it is.\n",
        ttl.num_minutes(),
        link(public_url, "reset", token)
    );
    (subject, body)
}

/// The email verification email.
pub fn verification_email(
    public_url: &str,
    token: &str,
    ttl: chrono::Duration,
) -> (String, String) {
    let subject = "Confirm your email address for streamhall".to_owned();
    let body = format!(
        "Confirm that this address belongs to your account at {public_url} (the link works \
         for {} hours):\n\n  {}\n\nUntil you do, you can watch and chat but not go live, and \
         you get no notification emails. If you did not sign up, ignore this email.\n",
        ttl.num_hours(),
        link(public_url, "verify-email", token)
    );
    (subject, body)
}

fn recipient(u: &user::Model) -> String {
    if u.display_name.trim().is_empty() {
        u.username.clone()
    } else {
        u.display_name.clone()
    }
}

/// Issues a verification link for `u`'s current address and queues the email (nothing without
/// SMTP).
pub async fn send_verification(
    db: &DatabaseConnection,
    accounts: &Accounts,
    public_url: &str,
    u: &user::Model,
) -> anyhow::Result<()> {
    let Some(mailer) = &accounts.mailer else {
        return Ok(());
    };
    let ttl = accounts.cfg.verify_ttl();
    let token = issue(
        db,
        u.id,
        account_token::PURPOSE_VERIFY_EMAIL,
        ttl,
        Some(u.email.clone()),
    )
    .await?;
    let (subject, body) = verification_email(public_url, &token, ttl);
    mailer
        .send(Email {
            to: u.email.clone(),
            to_name: recipient(u),
            subject,
            body,
        })
        .await;
    tracing::info!(user_id = u.id, "verification email queued");
    Ok(())
}

/// Looks the address up and, if an account uses it, emails it a reset link. Runs in the
/// background: the requester learns nothing either way.
pub async fn send_reset(
    db: DatabaseConnection,
    accounts: Accounts,
    public_url: String,
    email: String,
) -> anyhow::Result<()> {
    let found = User::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .filter(user::Column::DeletedAt.is_null())
        .one(&db)
        .await?;
    let Some(u) = found else {
        return Ok(());
    };
    let Some(mailer) = &accounts.mailer else {
        tracing::warn!(
            user_id = u.id,
            "password reset asked, but SMTP is not configured: an operator can print a link with `streamhall user reset-link`"
        );
        return Ok(());
    };
    let ttl = accounts.cfg.reset_ttl();
    let token = issue(&db, u.id, account_token::PURPOSE_PASSWORD_RESET, ttl, None).await?;
    let (subject, body) = reset_email(&public_url, &token, ttl);
    mailer
        .send(Email {
            to: u.email.clone(),
            to_name: recipient(&u),
            subject,
            body,
        })
        .await;
    tracing::info!(user_id = u.id, "password reset email queued");
    Ok(())
}

/// After sign-up: the verification email, off the request path (nothing without SMTP).
pub fn account_created(
    accounts: &Accounts,
    db: &DatabaseConnection,
    public_url: &str,
    created: &user::Model,
) {
    if accounts.mailer.is_none() {
        return;
    }
    let (db, settings, public_url, u) = (
        db.clone(),
        accounts.clone(),
        public_url.to_owned(),
        created.clone(),
    );
    accounts.spawn("verification email", async move {
        send_verification(&db, &settings, &public_url, &u).await
    });
}

/// After an email change: links for the old address stop working; the new one gets a
/// verification link.
pub async fn email_changed(
    accounts: &Accounts,
    db: &DatabaseConnection,
    public_url: &str,
    updated: &user::Model,
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    for purpose in [
        account_token::PURPOSE_VERIFY_EMAIL,
        account_token::PURPOSE_PASSWORD_RESET,
    ] {
        retire(db, updated.id, purpose, now).await?;
    }
    account_created(accounts, db, public_url, updated);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_is_required_by_default_only_with_smtp() {
        let cfg = AccountsConfig::default();
        assert!(cfg.verification_required(true));
        assert!(!cfg.verification_required(false));
        let forced = AccountsConfig {
            require_email_verification: Some(false),
            ..AccountsConfig::default()
        };
        assert!(!forced.verification_required(true));
    }

    #[test]
    fn the_emails_link_the_web_apps_pages() {
        let (_, body) = reset_email("https://h", "pr_abc", chrono::Duration::minutes(30));
        assert!(body.contains("https://h/reset?token=pr_abc"), "{body}");
        assert!(body.contains("30 minutes"), "{body}");
        let (_, body) = verification_email("https://h", "ve_abc", chrono::Duration::hours(48));
        assert!(
            body.contains("https://h/verify-email?token=ve_abc"),
            "{body}"
        );
    }
}
