//! `api`: users browsing the site with think time: the home list, a channel page, logging in,
//! and following a channel when the server has a follow endpoint (looked up in its OpenAPI
//! document; today's server has none, and the report says so).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::{
    Ctx, Report,
    metrics::{Counter, Latency, Tally, Unit},
    parse_duration, rest,
    rng::Rng,
};

#[derive(Debug, Clone, clap::Args)]
pub struct ApiOpts {
    /// Concurrent browsing users.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Mean think time between a user's requests (exponentially distributed).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub think: Duration,
    /// Accounts registered for logins and follows (argon2 makes each registration costly).
    #[arg(long, default_value_t = 5)]
    pub accounts: usize,
    /// Mix weights: home list, channel page, login, follow.
    #[arg(long, value_delimiter = ',', default_value = "50,35,10,5")]
    pub weights: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Home,
    Channel,
    Login,
    Follow,
}

const ACTIONS: [(Action, &str); 4] = [
    (Action::Home, "home"),
    (Action::Channel, "channel"),
    (Action::Login, "login"),
    (Action::Follow, "follow"),
];

struct Endpoint {
    lat: Arc<Latency>,
    ok: Arc<Counter>,
}

/// The follow endpoint's path template and method, if the server's OpenAPI document has one.
fn follow_route(openapi: &Value) -> Option<(String, String)> {
    let paths = openapi.get("paths")?.as_object()?;
    paths.iter().find_map(|(path, ops)| {
        let method = ["post", "put"]
            .into_iter()
            .find(|m| ops.get(*m).is_some())?;
        path.contains("/follow")
            .then(|| (path.clone(), method.to_owned()))
    })
}

fn choose(weights: &[u32], rng: &mut Rng) -> Action {
    let total: u32 = weights.iter().sum();
    let mut r = (rng.unit() * f64::from(total.max(1))) as u32;
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return ACTIONS[i].0;
        }
        r -= w;
    }
    Action::Home
}

/// Runs the API browse scenario.
pub async fn run(ctx: Arc<Ctx>, opts: &ApiOpts) -> anyhow::Result<Report> {
    let t = ctx.target.clone();
    let http = crate::net::http_clients(&ctx.sources, opts.users)?;
    let first = http.first().context("http client")?.clone();
    let mut notes = Vec::new();

    // Setup: accounts, and a few channels to visit if the server has none.
    let tag = ctx.run_tag();
    let password = format!("load-{tag}-password");
    let mut accounts = Vec::new();
    for i in 0..opts.accounts.max(1) {
        accounts.push(rest::account(&first, &t, &format!("ld_{tag}_u{i}"), &password).await?);
    }
    let list: Value = first
        .get(t.url("/api/v1/channels"))
        .send()
        .await?
        .json()
        .await?;
    let mut slugs: Vec<String> = list
        .as_array()
        .or_else(|| list.get("items").and_then(Value::as_array))
        .map(|a| {
            a.iter()
                .filter_map(|c| c["slug"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if slugs.len() < 3 {
        for k in 0..3 {
            let slug = format!("ld-{tag}-c{k}");
            rest::create_channel(&first, &t, &accounts[0], &slug).await?;
            slugs.push(slug);
        }
    }
    let openapi: Value = first
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await?
        .json()
        .await
        .unwrap_or_default();
    let follow = follow_route(&openapi);
    let mut weights = opts.weights.clone();
    weights.resize(4, 0);
    if follow.is_none() && weights[3] > 0 {
        notes.push("the server has no follow endpoint (none in its OpenAPI document): follows left out of the mix".to_owned());
        weights[3] = 0;
    }

    let rec = ctx.recorder.clone();
    let mut eps = BTreeMap::new();
    for (a, name) in ACTIONS {
        eps.insert(
            name,
            Arc::new(Endpoint {
                lat: rec.latency(&ctx.name(name))?,
                ok: rec.counter(&ctx.name(name), Unit::Count, true),
            }),
        );
        let _ = a;
    }
    if let Some(h) = eps.get("channel") {
        rec.headline(&h.lat);
    }
    let errors: Arc<Tally> = rec.tally(&ctx.name("errors"));
    let ticker = ctx.start_ticker();
    let t0 = tokio::time::Instant::now();
    let end_at = t0 + ctx.common.ramp + ctx.common.duration;
    let per = ctx.common.per_address.max(1);
    let eps = Arc::new(eps);
    let slugs = Arc::new(slugs);
    let accounts = Arc::new(accounts);
    let mut set = JoinSet::new();
    for u in 0..opts.users {
        let http = http[(u / per).min(http.len() - 1)].clone();
        let (t, eps, slugs, accounts, errors, weights, follow) = (
            t.clone(),
            eps.clone(),
            slugs.clone(),
            accounts.clone(),
            errors.clone(),
            weights.clone(),
            follow.clone(),
        );
        let at = t0 + ctx.common.ramp.mul_f64(u as f64 / opts.users.max(1) as f64);
        let (seed, think) = (ctx.common.seed, opts.think.as_secs_f64());
        set.spawn(async move {
            tokio::time::sleep_until(at).await;
            let mut rng = Rng::for_actor(seed, u as u64);
            let me = &accounts[u % accounts.len()];
            while tokio::time::Instant::now() < end_at {
                let action = choose(&weights, &mut rng);
                let slug = &slugs[rng.below(slugs.len())];
                let req = match action {
                    Action::Home => http.get(t.url("/api/v1/channels")),
                    Action::Channel => http.get(t.url(&format!("/api/v1/channels/{slug}"))),
                    Action::Login => http
                        .post(t.url("/api/v1/auth/login"))
                        .json(&serde_json::json!({"login": me.username, "password": me.password})),
                    Action::Follow => {
                        let Some((path, method)) = &follow else {
                            continue;
                        };
                        let url = t.url(&path.replace("{slug}", slug));
                        let r = if method == "put" {
                            http.put(url)
                        } else {
                            http.post(url)
                        };
                        r.bearer_auth(&me.access)
                    }
                };
                let name = ACTIONS
                    .iter()
                    .find(|(a, _)| *a == action)
                    .map_or("?", |x| x.1);
                let started = Instant::now();
                let res =
                    tokio::time::timeout_at(end_at + Duration::from_secs(5), req.send()).await;
                match res {
                    Ok(Ok(r)) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        if let Some(e) = eps.get(name) {
                            e.lat.record(started.elapsed());
                            e.ok.inc();
                        }
                    }
                    Ok(Ok(r)) => errors.add(format!("{name} {}", r.status().as_u16())),
                    Ok(Err(_)) => errors.add(format!("{name} transport")),
                    Err(_) => errors.add(format!("{name} timeout")),
                }
                let pause = Duration::from_secs_f64(rng.exp(think).min(think * 10.0));
                tokio::time::sleep_until((tokio::time::Instant::now() + pause).min(end_at)).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    ticker.stop().await;
    let secs = (ctx.common.ramp + ctx.common.duration).as_secs_f64();
    let mut report = Report::new("api", &t.base);
    report.measured_secs = secs;
    report.param("users", opts.users);
    report.param("think_secs", opts.think.as_secs_f64());
    report.param("weights", &weights);
    report.param("channels", slugs.len());
    report.param("follow_endpoint", follow.map(|f| f.0));
    report.absorb(&rec.snapshot());
    for (_, name) in ACTIONS {
        let n = report.counter(&ctx.name(name));
        report
            .figures
            .insert(ctx.name(&format!("{name}_per_sec")), n as f64 / secs);
    }
    report.notes = notes;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_follow_route_only_when_documented() {
        let doc = serde_json::json!({"paths": {"/api/v1/channels": {"get": {}}}});
        assert_eq!(follow_route(&doc), None);
        let doc = serde_json::json!({"paths": {"/api/v1/channels/{slug}/follow": {"put": {}, "delete": {}}}});
        assert_eq!(
            follow_route(&doc),
            Some(("/api/v1/channels/{slug}/follow".into(), "put".into()))
        );
    }

    #[test]
    fn the_mix_follows_its_weights() {
        let mut rng = Rng::new(3);
        let mut n = [0u32; 4];
        for _ in 0..10_000 {
            n[choose(&[50, 35, 15, 0], &mut rng) as usize] += 1;
        }
        assert_eq!(n[3], 0);
        assert!(
            (4700..5300).contains(&n[0]) && (3200..3800).contains(&n[1]),
            "{n:?}"
        );
    }
}
