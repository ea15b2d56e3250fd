//! Live chat: one [`ChatRoom`] actor per channel per node, created by the [`ChatDirectory`]
//! on first join. The wire protocol is in [`protocol`] (documented in `docs/CHAT.md`); the
//! room's decisions are in [`RoomCore`]; storage in [`store`]; other nodes over Redis in
//! [`cluster`].
//!
//! ```text
//! ChatDirectory ─ ChatRoom (one per channel) <─ sessions (HTTP WebSocket actors)
//!                    │  bounded queue per session (queue.rs), shared frames, try_send
//!                    ├─ database: batches, one transaction at a time, ids from chat_rooms
//!                    └─ Redis Stream per room (XADD / one XREAD loop per node)
//! ```

pub mod cluster;
pub mod core;
pub mod deps;
pub mod policy;
pub mod protocol;
pub mod queue;
pub mod room;
pub mod rooms;
pub mod store;
pub mod text;

pub use self::core::{
    Batch, JoinUser, MemberHandle, Outbound, Rejection, RoomCore, RoomLimits, SessionId,
};
pub use cluster::ChatCluster;
pub use deps::ChatConfig;
pub use room::{ChatRoom, Command, Join, Leave, RoomKey};
pub use rooms::{ChatDirectory, ChatHandle, ChatHealth, RoomHealth};
