//! Integration tests: the real server on port 0, driven over HTTP as a client would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod admin_users;
mod analytics;
mod auth;
mod backup;
mod channels;
mod chat;
mod cluster;
mod dashboard;
mod failure;
mod ingest;
mod jwt;
mod limits;
mod live;
mod load;
mod low_latency;
mod media_tools;
mod migrations;
mod moderation;
mod notify;
mod private_channels;
mod protected_assets;
mod pull_holds;
mod recording;
mod restream;
mod supervision;
mod system;
mod videos;
mod viewers;
mod webapp;
mod webhooks;
