//! Integration tests of the live tree: a real actix System, SQLite with the real migrations,
//! the fake transcoder (and one test with the real ffmpeg), Redis for presence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ffmpeg;
mod helpers;
mod publish;
mod redis_presence;
mod supervision;
