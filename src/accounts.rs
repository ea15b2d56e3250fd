//! `streamhall user reset-link`: a password reset link printed for the operator to hand over,
//! for servers that send no email (or a user whose email does not arrive).

use anyhow::Context;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use streamhall_entities::{User, account_token, user};
use streamhall_http::accounts;

use crate::config::Config;

/// Issues a reset link for the account named `who` (username or email address); the account's
/// older reset links stop working. Returns the account's username and the link.
pub async fn reset_link(
    config: &Config,
    db: &DatabaseConnection,
    who: &str,
) -> anyhow::Result<(String, String)> {
    let key = who.trim().to_lowercase();
    let column = if key.contains('@') {
        user::Column::Email
    } else {
        user::Column::UsernameKey
    };
    let account = User::find()
        .filter(column.eq(key.as_str()))
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .with_context(|| format!("no account is named {who:?}"))?;
    let token = accounts::issue(
        db,
        account.id,
        account_token::PURPOSE_PASSWORD_RESET,
        config.accounts.reset_ttl(),
        None,
    )
    .await?;
    let base = config.public_url(config.http.listen);
    Ok((account.username, accounts::link(&base, "reset", &token)))
}
