//! The web app's TypeScript types are generated from the Rust types they mirror and committed
//! under `web/src/api/generated/`. This test regenerates them and fails when the committed files
//! differ, so the two cannot drift. `STREAMHALL_BLESS=1 cargo test --test typescript` rewrites
//! them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, path::Path};

use ts_rs::{Config, TS};

/// Every type the web app uses, with what it depends on.
fn export_all(cfg: &Config) {
    use streamhall_actors::chat::protocol::{ClientMsg, ServerMsg};
    ClientMsg::export_all(cfg).unwrap();
    ServerMsg::export_all(cfg).unwrap();

    use streamhall_actors::HealthTree;
    use streamhall_http::{dto, error::ErrorBody};
    ErrorBody::export_all(cfg).unwrap();
    dto::AuthResponse::export_all(cfg).unwrap();
    dto::RegisterRequest::export_all(cfg).unwrap();
    dto::LoginRequest::export_all(cfg).unwrap();
    dto::RefreshRequest::export_all(cfg).unwrap();
    dto::UpdateMe::export_all(cfg).unwrap();
    dto::ChangePassword::export_all(cfg).unwrap();
    dto::ChannelPage::export_all(cfg).unwrap();
    dto::CreateChannel::export_all(cfg).unwrap();
    dto::UpdateChannel::export_all(cfg).unwrap();
    dto::CreatedChannel::export_all(cfg).unwrap();
    dto::StreamKey::export_all(cfg).unwrap();
    dto::BroadcastDto::export_all(cfg).unwrap();
    dto::VideoPage::export_all(cfg).unwrap();
    dto::UpdateVideo::export_all(cfg).unwrap();
    dto::PutChapters::export_all(cfg).unwrap();
    dto::PutSubtitle::export_all(cfg).unwrap();
    dto::ClipPage::export_all(cfg).unwrap();
    dto::CreateLiveClip::export_all(cfg).unwrap();
    dto::CreateVodClip::export_all(cfg).unwrap();
    HealthTree::export_all(cfg).unwrap();
    {
        use streamhall_http::api::admin_audit::AuditPage;
        use streamhall_http::api::admin_users::{AdminUserPage, SetRole, SuspendUser};
        use streamhall_http::error::AccountSuspendedBody;
        AdminUserPage::export_all(cfg).unwrap();
        SuspendUser::export_all(cfg).unwrap();
        SetRole::export_all(cfg).unwrap();
        AuditPage::export_all(cfg).unwrap();
        AccountSuspendedBody::export_all(cfg).unwrap();
    }
    {
        use streamhall_http::dmca::dto::{
            AdminDmcaNotice, AdminDmcaPage, DmcaNote, DmcaNoticeCreated, NewCounterNotice,
            NewDmcaNotice, UploaderNoticeDto,
        };
        NewDmcaNotice::export_all(cfg).unwrap();
        DmcaNoticeCreated::export_all(cfg).unwrap();
        NewCounterNotice::export_all(cfg).unwrap();
        UploaderNoticeDto::export_all(cfg).unwrap();
        AdminDmcaPage::export_all(cfg).unwrap();
        AdminDmcaNotice::export_all(cfg).unwrap();
        DmcaNote::export_all(cfg).unwrap();
        use streamhall_http::api::admin_reports::{ReportDetail, ReportPage};
        use streamhall_http::api::report_resolve::ResolveReport;
        use streamhall_http::api::reports::{NewReport, ReportReceipt};
        NewReport::export_all(cfg).unwrap();
        ReportReceipt::export_all(cfg).unwrap();
        ReportPage::export_all(cfg).unwrap();
        ReportDetail::export_all(cfg).unwrap();
        ResolveReport::export_all(cfg).unwrap();
    }
    streamhall_http::api::server::ServerInfo::export_all(cfg).unwrap();
    streamhall_http::api::ingest::ChannelIngest::export_all(cfg).unwrap();
    streamhall_http::api::ingest::UpdateChannelIngest::export_all(cfg).unwrap();
    streamhall_http::api::playback::PlaybackTokenRequest::export_all(cfg).unwrap();
    streamhall_http::api::playback::PlaybackToken::export_all(cfg).unwrap();
    {
        use streamhall_http::api::restreams::{CreateRestream, RestreamDto, UpdateRestream};
        RestreamDto::export_all(cfg).unwrap();
        CreateRestream::export_all(cfg).unwrap();
        UpdateRestream::export_all(cfg).unwrap();
    }
    {
        use streamhall_http::api::chat::{
            BanDto, BanRequest, BlockedTerms, ChatUserCard, EmoteDto, HistoryPage, ModeratorDto,
            TicketDto,
        };
        TicketDto::export_all(cfg).unwrap();
        HistoryPage::export_all(cfg).unwrap();
        EmoteDto::export_all(cfg).unwrap();
        ModeratorDto::export_all(cfg).unwrap();
        BlockedTerms::export_all(cfg).unwrap();
        BanDto::export_all(cfg).unwrap();
        BanRequest::export_all(cfg).unwrap();
        ChatUserCard::export_all(cfg).unwrap();
    }
    {
        use streamhall_http::api::analytics::{
            AnalyticsSample, BroadcastAnalytics, BroadcastSummary, ChannelAnalytics,
        };
        AnalyticsSample::export_all(cfg).unwrap();
        BroadcastSummary::export_all(cfg).unwrap();
        ChannelAnalytics::export_all(cfg).unwrap();
        BroadcastAnalytics::export_all(cfg).unwrap();
    }
    {
        use streamhall_actors::notify::protocol::{
            NotificationDto, NotifyClientMsg, NotifyServerMsg,
        };
        use streamhall_http::api::follows::{FollowState, FollowedChannel, FollowerPage};
        use streamhall_http::api::notifications::{NotificationPage, NotificationSettings};
        NotificationDto::export_all(cfg).unwrap();
        NotifyClientMsg::export_all(cfg).unwrap();
        NotifyServerMsg::export_all(cfg).unwrap();
        FollowState::export_all(cfg).unwrap();
        FollowedChannel::export_all(cfg).unwrap();
        FollowerPage::export_all(cfg).unwrap();
        NotificationPage::export_all(cfg).unwrap();
        NotificationSettings::export_all(cfg).unwrap();
    }
    {
        use streamhall_http::api::webhooks::{
            CreateWebhook, CreatedWebhook, DeliveryDto, WebhookDto,
        };
        WebhookDto::export_all(cfg).unwrap();
        DeliveryDto::export_all(cfg).unwrap();
        CreateWebhook::export_all(cfg).unwrap();
        CreatedWebhook::export_all(cfg).unwrap();
    }
    {
        use streamhall_http::api::account::{
            Accepted, DeleteAccount, PasswordResetConfirm, PasswordResetRequest, VerifyEmailRequest,
        };
        PasswordResetRequest::export_all(cfg).unwrap();
        PasswordResetConfirm::export_all(cfg).unwrap();
        VerifyEmailRequest::export_all(cfg).unwrap();
        DeleteAccount::export_all(cfg).unwrap();
        Accepted::export_all(cfg).unwrap();
    }
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ts") {
            files.insert(name, std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    files
}

#[test]
fn generated_typescript_matches_the_rust_types() {
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/src/api/generated");
    let fresh_dir = tempfile::tempdir().unwrap();
    let cfg = Config::new()
        .with_out_dir(fresh_dir.path())
        .with_large_int("number");
    export_all(&cfg);
    let fresh = read_dir(fresh_dir.path());
    assert!(
        fresh.contains_key("ServerMsg.ts"),
        "export produced {fresh:?}"
    );

    if std::env::var_os("STREAMHALL_BLESS").is_some() {
        std::fs::create_dir_all(&committed_dir).unwrap();
        for name in read_dir(&committed_dir).keys() {
            std::fs::remove_file(committed_dir.join(name)).unwrap();
        }
        for (name, text) in &fresh {
            std::fs::write(committed_dir.join(name), text).unwrap();
        }
        return;
    }

    let committed = read_dir(&committed_dir);
    let mut problems = Vec::new();
    for (name, text) in &fresh {
        match committed.get(name) {
            None => problems.push(format!("missing: {name}")),
            Some(old) if old != text => problems.push(format!("out of date: {name}")),
            Some(_) => {}
        }
    }
    for name in committed.keys() {
        if !fresh.contains_key(name) {
            problems.push(format!("no longer generated: {name}"));
        }
    }
    assert!(
        problems.is_empty(),
        "web/src/api/generated/ differs from the Rust types ({}); run \
         `STREAMHALL_BLESS=1 cargo test --test typescript` and commit the result",
        problems.join(", ")
    );
}
