//! The few REST calls the scenarios need for setup (accounts, channels, chat tickets) and for
//! reading what the server reports (viewer counts, `/metrics`), per the OpenAPI document.

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::net::Target;

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub password: String,
    pub access: String,
}

/// Registers `username`, or logs in if it exists already (a re-run with the same names).
pub async fn account(
    http: &Client,
    t: &Target,
    username: &str,
    password: &str,
) -> anyhow::Result<Account> {
    let res = http
        .post(t.url("/api/v1/auth/register"))
        .json(&json!({"username": username, "email": format!("{username}@load.invalid"), "password": password}))
        .send()
        .await
        .context("register")?;
    let body: Value = if res.status() == StatusCode::CREATED {
        res.json().await?
    } else if res.status() == StatusCode::CONFLICT {
        login(http, t, username, password).await?
    } else {
        bail!(
            "register {username}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    };
    let access = body["access_token"]
        .as_str()
        .context("no access_token in the auth response")?
        .to_owned();
    Ok(Account {
        username: username.to_owned(),
        password: password.to_owned(),
        access,
    })
}

pub async fn login(
    http: &Client,
    t: &Target,
    login: &str,
    password: &str,
) -> anyhow::Result<Value> {
    let res = http
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .context("login")?;
    if !res.status().is_success() {
        bail!("login {login}: {}", res.status());
    }
    Ok(res.json().await?)
}

/// Creates a channel; returns its stream key (shown only at creation).
pub async fn create_channel(
    http: &Client,
    t: &Target,
    owner: &Account,
    slug: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(t.url("/api/v1/channels"))
        .bearer_auth(&owner.access)
        .json(&json!({"slug": slug, "title": format!("load test {slug}")}))
        .send()
        .await
        .context("create channel")?;
    if res.status() != StatusCode::CREATED {
        bail!(
            "create channel {slug}: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let body: Value = res.json().await?;
    Ok(body["stream_key"]
        .as_str()
        .context("no stream_key in the channel response")?
        .to_owned())
}

/// A single-use chat socket ticket for `slug`.
pub async fn chat_ticket(
    http: &Client,
    t: &Target,
    who: &Account,
    slug: &str,
) -> anyhow::Result<String> {
    let res = http
        .post(t.url(&format!("/api/v1/chat/{slug}/ticket")))
        .bearer_auth(&who.access)
        .send()
        .await
        .context("chat ticket")?;
    if !res.status().is_success() {
        bail!("chat ticket for {slug}: {}", res.status());
    }
    let body: Value = res.json().await?;
    Ok(body["ticket"].as_str().context("no ticket")?.to_owned())
}

/// `GET /api/v1/channels/{slug}`.
pub async fn channel(http: &Client, t: &Target, slug: &str) -> anyhow::Result<Value> {
    let res = http
        .get(t.url(&format!("/api/v1/channels/{slug}")))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("channel {slug}: {}", res.status());
    }
    Ok(res.json().await?)
}

/// The viewer count the server reports for `slug`.
pub async fn viewer_count(http: &Client, t: &Target, slug: &str) -> anyhow::Result<u64> {
    channel(http, t, slug).await?["viewer_count"]
        .as_u64()
        .context("no viewer_count")
}

/// Sums the samples of a Prometheus counter in `/metrics` text whose name and labels start
/// with `series` (e.g. `streamhall_hls_responses_total{kind="segment"}`).
pub fn prometheus_sum(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_prometheus_samples() {
        let text = "# HELP x\n# TYPE x counter\nstreamhall_hls_responses_total{kind=\"playlist\"} 12\nstreamhall_hls_responses_total{kind=\"segment\"} 5\nother 9\n";
        assert_eq!(prometheus_sum(text, "streamhall_hls_responses_total"), 17.0);
        assert_eq!(
            prometheus_sum(text, "streamhall_hls_responses_total{kind=\"segment\"}"),
            5.0
        );
        assert_eq!(prometheus_sum(text, "missing"), 0.0);
    }
}
