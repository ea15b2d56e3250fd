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
mod dmca;
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
mod recording;
mod reports;
mod reports_live;
mod restream;
mod supervision;
mod system;
mod takedowns;
mod videos;
mod viewers;
mod webapp;
mod webhooks;
