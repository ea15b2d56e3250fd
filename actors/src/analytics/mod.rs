//! Analytics: viewer samples of live channels and view sessions, in three parts that depend
//! one way (`write` and `query` on `core`, nothing back; none of them on presence):
//!
//! - [`core`]: [`AnalyticsCore`], plain logic, owned and fed each second by the presence actor
//!   with the viewers of the broadcasts this node runs. It keeps one *view session* per
//!   continuous watch (a viewer seen on a live broadcast starts one; silent longer than the
//!   presence TTL ends it; its watch time is last seen minus started), decides when a sample is
//!   due, and hands out [`Batch`]es of rows to write: a batch forms at most once per tick and
//!   only while no earlier one is being written, so the database sees a few statements per tick
//!   however many viewers there are. Ended sessions go out with the next batch, open ones with
//!   each sample. Also [`AnalyticsConfig`], how often samples are taken.
//! - [`write`]: [`write_batch`] (samples with their chat counts, session inserts and updates).
//! - [`query`]: the read side the API uses ([`summaries`], [`samples`], [`followers`]).
//!
//! Figures are defined in `docs/ANALYTICS.md`.

pub mod core;
pub mod query;
pub mod write;

pub use self::core::{
    AnalyticsConfig, AnalyticsCore, Batch, BatchWritten, MAX_PENDING_ENDED,
    MAX_SESSIONS_PER_BROADCAST, SampleRow, SessionRow, viewer_id,
};
pub use self::query::*;
pub use self::write::write_batch;

#[cfg(test)]
mod tests;
