//! View counts: a video's master playlist and a clip's MP4 (from its start) add a view, once per
//! client address and item within [`VIEW_WINDOW`].

use std::{
    hash::{BuildHasher, Hasher},
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use actix_web::HttpRequest;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use streamhall_entities::{Clip, Video, clip, video};

use crate::{auth::client_ip, state::AppState, vod_memory::RecentViews};

/// A client that fetches the same item again within this time adds no view.
const VIEW_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Most (client, item) pairs remembered; the oldest is forgotten first.
const VIEW_CAPACITY: usize = 100_000;

/// What a view is counted on.
#[derive(Clone, Copy)]
pub(super) enum Counted<'a> {
    Video(&'a str),
    Clip(&'a str),
}

/// The (client, item) pairs that counted a view in the last [`VIEW_WINDOW`]. One per process,
/// shared by every worker, so that a client's second fetch counts nothing whichever worker
/// answers it.
static RECENT_VIEWS: LazyLock<Mutex<RecentViews>> =
    LazyLock::new(|| Mutex::new(RecentViews::new(VIEW_WINDOW, VIEW_CAPACITY)));

/// Adds a view unless this client counted one for the item within the window. A failed update
/// is logged: a view is not worth failing playback for.
pub(super) async fn count_view(state: &AppState, req: &HttpRequest, item: Counted<'_>) {
    let mut h = state.viewer_hasher.build_hasher();
    h.write(client_ip(req, state.http.trust_proxy_headers).as_bytes());
    let (kind, id) = match item {
        Counted::Video(id) => (b'v', id),
        Counted::Clip(id) => (b'c', id),
    };
    h.write_u8(kind);
    h.write(id.as_bytes());
    let first = RECENT_VIEWS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first(h.finish(), Instant::now());
    if !first {
        return;
    }
    let updated = match item {
        Counted::Video(id) => Video::update_many()
            .col_expr(
                video::Column::ViewCount,
                Expr::col(video::Column::ViewCount).add(1),
            )
            .filter(video::Column::Id.eq(id))
            .exec(&state.db)
            .await
            .map(|_| ()),
        Counted::Clip(id) => Clip::update_many()
            .col_expr(
                clip::Column::ViewCount,
                Expr::col(clip::Column::ViewCount).add(1),
            )
            .filter(clip::Column::Id.eq(id))
            .exec(&state.db)
            .await
            .map(|_| ()),
    };
    if let Err(error) = updated {
        tracing::warn!(%error, "could not count a view");
    }
}
