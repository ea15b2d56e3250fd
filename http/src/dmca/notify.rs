//! What a DMCA case tells people: the uploader gets an in-app notification (kind
//! [`KIND_DMCA_TAKEDOWN`]) and, with SMTP configured, an email when their items are taken
//! down; the claimant gets an email when the uploader counters. Failures here are logged:
//! the decision they report is already committed and shows on the pages either way.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use streamhall_actors::{
    bus::{BusEvent, NotificationPush},
    notify::{email::Email, protocol::streamer_name},
};
use streamhall_entities::{Channel, User, dmca_counter_notice, dmca_notice, notification};

use crate::state::AppState;

/// The in-app notification an uploader gets when a DMCA notice takes their items down.
pub const KIND_DMCA_TAKEDOWN: &str = "dmca_takedown";

/// One item a notice took down, as the uploader is told about it.
#[derive(Debug, Clone)]
pub struct DownItem {
    pub kind: &'static str,
    pub id: String,
    pub title: String,
    pub channel_id: i64,
}

/// The web app's page for a notice, where its uploaders read it and counter.
pub fn notice_page(public_url: &str, notice_id: i64) -> String {
    format!("{public_url}/dmca/notices/{notice_id}")
}

/// The notification's sentence.
pub fn takedown_title(notice_id: i64, items: &[DownItem]) -> String {
    let what = match items {
        [one] => format!("Your {} “{}” was", one.kind, one.title),
        many => format!("{} of your videos and clips were", many.len()),
    };
    let title = format!("{what} taken down after DMCA notice {notice_id}");
    title.chars().take(200).collect()
}

/// The uploader's email: what was taken down, the notice, and how to counter.
pub fn takedown_email(
    public_url: &str,
    notice: &dmca_notice::Model,
    items: &[DownItem],
) -> (String, String) {
    let subject = format!(
        "Your content was taken down after DMCA notice {}",
        notice.id
    );
    let list: String = items
        .iter()
        .map(|i| format!("  - {} \"{}\" ({})\n", i.kind, i.title, i.id))
        .collect();
    let body = format!(
        "An administrator of {public_url} took the following down after a copyright notice \
         (DMCA notice {id}) from {claimant}:\n\n{list}\nThe work they claim: {work}\n\n\
         It is hidden, not deleted. If you believe it was taken down by mistake or \
         misidentification, you can file a counter-notice here:\n\n  {page}\n\n\
         After a counter-notice, it is restored unless the claimant tells us they have gone \
         to court. Notices whose takedown stands count against your account, and repeat \
         infringers may lose it.\n",
        id = notice.id,
        claimant = notice.claimant_name,
        work = notice.work_description,
        page = notice_page(public_url, notice.id),
    );
    (subject, body)
}

/// The claimant's email about a counter-notice.
pub fn counter_email(
    public_url: &str,
    notice: &dmca_notice::Model,
    counter: &dmca_counter_notice::Model,
) -> (String, String) {
    let subject = format!("Counter-notice to your DMCA notice {}", notice.id);
    let body = format!(
        "The uploader of content you named in DMCA notice {id} to {public_url} filed a \
         counter-notice:\n\n  Name: {name}\n  Address and phone: {contact}\n  Statement: \
         {statement}\n  Signature: {signature}\n\nThey state under penalty of perjury that the \
         content was removed by mistake or misidentification, and consent to the jurisdiction \
         of the court for their address.\n\nThe content will be restored on {due} unless, \
         before then, you tell us (reply to this email) that you have filed an action seeking a \
         court order against them.\n",
        id = notice.id,
        name = counter.full_name,
        contact = counter.contact,
        statement = counter.statement,
        signature = counter.signature,
        due = format_day(counter.restore_due_at),
    );
    (subject, body)
}

fn format_day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Tells each uploader whose items `notice` took down: a notification (pushed to their open
/// sockets) and an email when SMTP is configured.
pub async fn taken_down(state: &AppState, notice: &dmca_notice::Model, down: Vec<(i64, DownItem)>) {
    let mut by_owner: BTreeMap<i64, Vec<DownItem>> = BTreeMap::new();
    for (owner, item) in down {
        by_owner.entry(owner).or_default().push(item);
    }
    for (owner, items) in by_owner {
        if let Err(error) = tell_owner(state, notice, owner, &items).await {
            tracing::error!(notice_id = notice.id, user_id = owner, error = %error, "dmca: could not notify the uploader");
        }
    }
}

async fn tell_owner(
    state: &AppState,
    notice: &dmca_notice::Model,
    owner_id: i64,
    items: &[DownItem],
) -> anyhow::Result<()> {
    let Some(first) = items.first() else {
        return Ok(());
    };
    let Some(owner) = User::find_by_id(owner_id).one(&state.db).await? else {
        return Ok(());
    };
    let channel = Channel::find_by_id(first.channel_id).one(&state.db).await?;
    let now = Utc::now();
    let title = takedown_title(notice.id, items);
    if let Some(channel) = &channel {
        let row = notification::ActiveModel {
            user_id: Set(owner.id),
            kind: Set(KIND_DMCA_TAKEDOWN.into()),
            channel_id: Set(channel.id),
            broadcast_id: Set(None),
            title: Set(title.clone()),
            created_at: Set(now),
            read_at: Set(None),
            ..Default::default()
        }
        .insert(&state.db)
        .await?;
        state.live.bus.publish(BusEvent::Notified {
            users: vec![(owner.id, row.id)],
            notification: Arc::new(NotificationPush {
                kind: KIND_DMCA_TAKEDOWN.into(),
                channel_slug: channel.slug.clone(),
                channel_title: channel.title.clone(),
                streamer_name: streamer_name(&owner.display_name, &owner.username),
                title,
                broadcast_id: None,
                created_at: now,
            }),
        });
    }
    if let Some(mailer) = state.accounts.mailer.clone() {
        let (subject, body) = takedown_email(&state.public_url, notice, items);
        let email = Email {
            to: owner.email.clone(),
            to_name: streamer_name(&owner.display_name, &owner.username),
            subject,
            body,
        };
        state.accounts.spawn("dmca takedown email", async move {
            mailer.send(email).await;
            Ok(())
        });
    }
    Ok(())
}

/// Emails the claimant the counter-notice (nothing without SMTP).
pub fn countered(
    state: &AppState,
    notice: &dmca_notice::Model,
    counter: &dmca_counter_notice::Model,
) {
    let Some(mailer) = state.accounts.mailer.clone() else {
        tracing::info!(
            notice_id = notice.id,
            "dmca: counter-notice filed; SMTP is not configured, so the claimant is not emailed"
        );
        return;
    };
    let (subject, body) = counter_email(&state.public_url, notice, counter);
    let email = Email {
        to: notice.claimant_email.clone(),
        to_name: notice.claimant_name.clone(),
        subject,
        body,
    };
    state
        .accounts
        .spawn("dmca counter-notice email", async move {
            mailer.send(email).await;
            Ok(())
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str) -> DownItem {
        DownItem {
            kind: "video",
            id: "v1".into(),
            title: title.into(),
            channel_id: 1,
        }
    }

    #[test]
    fn the_sentence_names_one_item_or_counts_several() {
        assert_eq!(
            takedown_title(7, &[item("Song")]),
            "Your video “Song” was taken down after DMCA notice 7"
        );
        assert_eq!(
            takedown_title(7, &[item("a"), item("b")]),
            "2 of your videos and clips were taken down after DMCA notice 7"
        );
    }
}
