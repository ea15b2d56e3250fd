//! `spawn_app()`: boots the real server on port 0 with its own database (a fresh SQLite file,
//! or a new PostgreSQL database dropped afterwards) and, for PostgreSQL runs, Redis with its
//! own key prefix. The PostgreSQL+Redis variant needs `STREAMHALL_TEST_POSTGRES` (a server
//! URL without database, e.g. `postgres://postgres@127.0.0.1:5432`) and
//! `STREAMHALL_TEST_REDIS`; `./dev test` sets both.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{Value, json};
use streamhall::{config::Config, startup::Application};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite file, in-process rate limits.
    Sqlite,
    /// PostgreSQL and Redis.
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub rtmp_addr: std::net::SocketAddr,
    pub srt_addr: std::net::SocketAddr,
    pub client: Client,
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub first_admin: Option<(String, String)>,
    pub config: Config,
    /// The server's live tree (in this process): tests may subscribe to its bus.
    pub live: streamhall_actors::Live,
    handle: actix_web::dev::ServerHandle,
    cleanup: Option<Cleanup>,
    _dir: Option<tempfile::TempDir>,
}

struct Cleanup {
    pg_admin: Option<String>,
    pg_database: Option<String>,
    redis: Option<(String, String)>,
}

pub fn postgres_url() -> String {
    std::env::var("STREAMHALL_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!("STREAMHALL_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432): run ./dev test")
    })
}

pub fn redis_url() -> String {
    std::env::var("STREAMHALL_TEST_REDIS").unwrap_or_else(|_| {
        panic!("STREAMHALL_TEST_REDIS is not set (e.g. redis://127.0.0.1:6379): run ./dev test")
    })
}

/// A fresh, empty database for `backend`: its URL, and what to drop afterwards.
pub async fn fresh_database(
    backend: Backend,
    dir: &std::path::Path,
) -> (String, Option<(String, String)>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.join("streamhall.db").display()),
            None,
        ),
        Backend::Postgres => {
            let admin = postgres_url().trim_end_matches('/').to_owned();
            let name = format!("streamhall_test_{}", uuid::Uuid::new_v4().simple());
            let conn = Database::connect(format!("{admin}/postgres"))
                .await
                .expect("connect to PostgreSQL");
            conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create database");
            conn.close().await.ok();
            (format!("{admin}/{name}"), Some((admin, name)))
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    spawn_app_in(backend, dir, tweak).await
}

/// Like [`spawn_app_with`], with `dir` as the data directory.
pub async fn spawn_app_in(
    backend: Backend,
    dir: tempfile::TempDir,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let (db_url, pg) = fresh_database(backend, dir.path()).await;
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("addr");
    config.http.workers = 1;
    config.rtmp.listen = "127.0.0.1:0".parse().expect("addr");
    config.srt.listen = "127.0.0.1:0".parse().expect("addr");
    config.database.url = Some(SecretString::from(db_url.clone()));
    config.database.max_connections = 4;
    config.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
    let mut redis = None;
    if backend == Backend::Postgres {
        let prefix = format!("streamhall_test:{}:", uuid::Uuid::new_v4().simple());
        config.redis.url = Some(SecretString::from(redis_url()));
        config.redis.key_prefix = prefix.clone();
        config.redis.pool_size = 4;
        redis = Some((redis_url(), prefix));
    }
    tweak(&mut config);
    start(
        config,
        backend,
        Some(dir),
        Cleanup {
            pg_admin: pg.as_ref().map(|p| p.0.clone()),
            pg_database: pg.map(|p| p.1),
            redis,
        },
    )
    .await
}

/// A server on the shared PostgreSQL and a Redis the test runs itself ([`PrivateRedis`]), so
/// it can stop and start Redis.
pub async fn spawn_app_with_redis(redis: &PrivateRedis) -> TestApp {
    let url = format!("redis://127.0.0.1:{}", redis.port);
    spawn_app_with(Backend::Postgres, |c| {
        c.redis.url = Some(SecretString::from(url));
    })
    .await
}

/// A server on PostgreSQL and Redis servers the test runs itself ([`PrivatePostgres`],
/// [`PrivateRedis`]), so it can stop and start them. A fresh database is made on `pg`.
pub async fn spawn_app_on(
    pg: &PrivatePostgres,
    redis: &PrivateRedis,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let conn = Database::connect(format!("{}/postgres", pg.url()))
        .await
        .expect("connect to the test's PostgreSQL");
    conn.execute_unprepared("CREATE DATABASE streamhall")
        .await
        .expect("create database");
    conn.close().await.ok();
    let db_url = format!("{}/streamhall", pg.url());
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    spawn_app_with(Backend::Postgres, |c| {
        c.database.url = Some(SecretString::from(db_url));
        c.redis.url = Some(SecretString::from(redis_url));
        tweak(c);
    })
    .await
}

/// Boots another server on the same config (same database): a second node, or the same
/// node again when `app` is gone. It gets a node name of its own, since the first may still
/// run (two nodes with one name would take each other's chat and bus events for their own).
pub async fn restart(app: &TestApp) -> TestApp {
    let mut config = app.config.clone();
    config.cluster.node_id = Some(format!("node-{}", uuid::Uuid::new_v4().simple()));
    start(
        config,
        app.backend,
        None,
        Cleanup {
            pg_admin: None,
            pg_database: None,
            redis: None,
        },
    )
    .await
}

async fn start(
    config: Config,
    backend: Backend,
    dir: Option<tempfile::TempDir>,
    cleanup: Cleanup,
) -> TestApp {
    let mut app = Application::build(config.clone())
        .await
        .expect("build application");
    let first_admin = app.first_admin.take().map(|a| {
        use secrecy::ExposeSecret;
        (a.username, a.password.expose_secret().to_owned())
    });
    let url = format!("http://{}", app.http_addr());
    let rtmp_addr = app.rtmp_addr();
    let srt_addr = app.srt_addr();
    let handle = app.handle();
    let live = app.live().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    let db = Database::connect(config.database_url())
        .await
        .expect("test db connection");
    TestApp {
        url,
        rtmp_addr,
        srt_addr,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Below the server's 5 s keep-alive: a pooled connection the server is closing
            // must not be reused (hyper then reports IncompleteMessage).
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("client"),
        db,
        backend,
        first_admin,
        config,
        live,
        handle,
        cleanup: Some(cleanup),
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        let Some(cleanup) = self.cleanup.take() else {
            return;
        };
        if cleanup.pg_database.is_none() && cleanup.redis.is_none() {
            return;
        }
        // Drop runs outside async context: clean up on a thread with its own runtime.
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let (Some(admin), Some(name)) = (cleanup.pg_admin, cleanup.pg_database)
                    && let Ok(conn) = Database::connect(format!("{admin}/postgres")).await
                {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute_unprepared(&drop).await;
                    let _ = conn.close().await;
                }
                if let Some((url, prefix)) = cleanup.redis
                    && let Ok(pool) = deadpool_redis::Config::from_url(url)
                        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    && let Ok(mut conn) = pool.get().await
                {
                    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> = deadpool_redis::redis::cmd("DEL")
                            .arg(keys)
                            .query_async(&mut conn)
                            .await;
                    }
                }
            });
        })
        .join();
        let _ = joined;
    }
}

/// A signed-up user's tokens.
pub struct Session {
    pub user_id: i64,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.url, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.api(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    /// An anonymous GET of an API path.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.api(path))
            .send()
            .await
            .expect("request")
    }

    /// An anonymous GET of an API path, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("json")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// A GET with a bearer token, as JSON.
    pub async fn get_auth_json(&self, path: &str, token: &str) -> Value {
        self.get_auth(path, token).await.json().await.expect("json")
    }

    /// `/readyz`: its status and body.
    pub async fn readyz(&self) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .expect("readyz");
        (res.status(), res.json().await.expect("readyz json"))
    }

    /// The first column of the first row of `sql` (a count), read from the server's database.
    pub async fn count(&self, sql: &str) -> i64 {
        self.db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .expect("a number")
    }

    pub async fn register(&self, username: &str) -> Session {
        let password = format!("pw-{username}-secret");
        let res = self
            .post_json(
                "/auth/register",
                &json!({"username": username, "email": format!("{username}@example.com"), "password": password}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        let body: Value = res.json().await.expect("json");
        session(&body, &password)
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"login": login, "password": password}),
            None,
        )
        .await
    }

    /// Creates a channel; returns the response body (`channel`, `stream_key`).
    pub async fn create_channel(&self, token: &str, slug: &str) -> Value {
        let res = self
            .post_json(
                "/channels",
                &json!({"slug": slug, "title": format!("{slug} live")}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create channel {slug}");
        res.json().await.expect("json")
    }
}

/// The stream key in a `create_channel` response.
pub fn key_of(created: &Value) -> String {
    created["stream_key"]
        .as_str()
        .expect("stream key")
        .to_owned()
}

pub fn session(body: &Value, password: &str) -> Session {
    Session {
        user_id: body["user"]["id"].as_i64().expect("user id"),
        password: password.to_owned(),
        access: body["access_token"].as_str().expect("access").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
    }
}

/// Asserts the status and the stable error code; returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}

/// Polls `check` until it returns true or the deadline passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` until it returns `Some`, or fails at the deadline.
pub async fn poll_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs an async test body against each backend: `sqlite` (embedded defaults) and
/// `postgres` (PostgreSQL + Redis).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[actix_web::test]
            async fn sqlite() { super::$name($crate::helpers::Backend::Sqlite).await }
            #[actix_web::test]
            async fn postgres() { super::$name($crate::helpers::Backend::Postgres).await }
        }
    )* };
}

/// A Redis server of the test's own, so it can be stopped and started again.
pub struct PrivateRedis {
    pub port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    pub fn start(port: u16) -> PrivateRedis {
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is needed for this test");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of the test's own (Debian's server binaries, `initdb` into a temporary
/// directory, run as the `postgres` user when the tests run as root), so it can be stopped
/// like a crash and started again.
pub struct PrivatePostgres {
    port: u16,
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").exists())
                    .max()
            })
            .expect(
                "PostgreSQL's server binaries (Debian package postgresql) are needed for this test",
            );
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = PrivatePostgres {
            port: PrivateRedis::free_port(),
            bin,
            dir,
        };
        if is_root() {
            let ok = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the PostgreSQL directory");
        }
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
            ],
        );
        pg.start_again();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let exe = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let mut all: Vec<&std::ffi::OsStr> = vec!["-D".as_ref(), data.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        self.run("pg_ctl", &all);
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.pg_ctl(&[
            "-w",
            "-t",
            "30",
            "-o",
            &opts,
            "-l",
            &log.to_string_lossy(),
            "start",
        ]);
    }

    /// Stops the server the way a crash does (`immediate`: no checkpoint, connections cut).
    pub fn crash(&self) {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
