//! The `streamhall` binary as an operator runs it: `--help`, first start on an empty data
//! directory (prints the URL and the admin password once), JSON logs, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_streamhall");

#[test]
fn help_explains_commands_and_options() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "migrate",
        "user",
        "--config",
        "STREAMHALL_SECTION__KEY",
    ] {
        assert!(text.contains(word), "--help should mention {word}:\n{text}");
    }
    let out = Command::new(BIN)
        .args(["user", "create", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--admin") && text.contains("--password-stdin"),
        "{text}"
    );
}

/// An S3 store that is not there: `serve` refuses to start and names the key to fix, without
/// printing the secret. The endpoint is a port nobody listens on, then (with `CI=true` or when
/// the test command started one) a bucket missing on the test S3 server.
#[test]
fn a_missing_object_store_stops_serve_with_the_key_to_fix() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut cases = vec![(closed_url, "objects.s3.endpoint")];
    if let Ok(s3) = std::env::var("STREAMHALL_TEST_S3") {
        cases.push((s3, "objects.s3.bucket"));
    }
    for (endpoint, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .arg("serve")
            .env("STREAMHALL_DATA_DIR", dir.path())
            .env("STREAMHALL_HTTP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_RTMP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_SRT__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_OBJECTS__BACKEND", "s3")
            .env("STREAMHALL_OBJECTS__S3__ENDPOINT", &endpoint)
            .env("STREAMHALL_OBJECTS__S3__BUCKET", "no-such-bucket-here")
            .env("STREAMHALL_OBJECTS__S3__ACCESS_KEY", "test")
            .env("STREAMHALL_OBJECTS__S3__SECRET_KEY", "do-not-print-me")
            .output()
            .unwrap();
        assert!(!out.status.success(), "serve started without its store");
        let err = String::from_utf8_lossy(&out.stderr);
        let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
        assert!(err.contains(key), "stderr should name {key}:\n{err}");
        assert!(
            !all.contains("do-not-print-me"),
            "the secret was printed:\n{all}"
        );
    }
}

#[test]
fn a_bad_config_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("streamhall.toml");
    std::fs::write(&file, "[http]\nlisten_on = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("listen_on"), "{err}");
}

#[test]
fn first_start_prints_url_and_admin_once_and_sigterm_stops() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env("STREAMHALL_DATA_DIR", dir.path())
            .env("STREAMHALL_HTTP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_RTMP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_SRT__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_LOG__FORMAT", "json")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = stdout_lines(&mut child);
        let stderr = child.stderr.take().unwrap();
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let _ = etx.send(line.unwrap());
            }
        });
        (child, rx, erx)
    };

    let (mut child, out, err) = start();
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("password:")) {
        lines.push(
            out.recv_timeout(Duration::from_secs(30))
                .expect("first-start banner"),
        );
    }
    let text = lines.join("\n");
    assert!(
        text.contains("streamhall is ready at http://127.0.0.1:"),
        "{text}"
    );
    let password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("streamhall is ready at "))
        .unwrap()
        .to_owned();

    // The admin can sign in with it.
    let body = format!(r#"{{"login":"admin","password":"{password}"}}"#);
    let res = http_post(&url, "/api/v1/auth/login", &body);
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");

    stop(&mut child);
    let logs: Vec<String> = err.try_iter().collect();
    assert!(
        logs.iter().all(|l| l.starts_with('{')),
        "json logs: {logs:?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains(&password)),
        "the password must never reach the log"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("\"listening\"") || l.contains("listening")),
        "{logs:?}"
    );

    // A second start shows no password.
    let (mut child, out, _err) = start();
    let line = out.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(line.contains("streamhall is ready at"), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!out.try_iter().any(|l| l.contains("password")));
    stop(&mut child);
}

/// The child's stdout, a line at a time, from a reader thread.
fn stdout_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

fn stop(child: &mut std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful stop exits 0, got {status}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 POST over a plain socket (keeps this test free of an async runtime).
fn http_post(base: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The newcomer's path: no data-dir override, so `./data` under the directory the server was
/// started in, said in the banner as an absolute path.
#[test]
fn the_default_data_dir_is_dot_data_made_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("STREAMHALL_DATA_DIR")
        .env("STREAMHALL_HTTP__LISTEN", "127.0.0.1:0")
        .env("STREAMHALL_RTMP__LISTEN", "127.0.0.1:0")
        .env("STREAMHALL_SRT__LISTEN", "127.0.0.1:0")
        .env("STREAMHALL_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let mut lines = Vec::new();
    let banner = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the banner names the data directory");
        if let Some(d) = line.trim().strip_prefix("data directory: ") {
            break d.to_owned();
        }
        lines.push(line);
    };
    let expected = dir.path().canonicalize().unwrap().join("data");
    assert_eq!(
        std::path::Path::new(&banner).canonicalize().unwrap(),
        expected,
        "{lines:?}"
    );
    assert!(std::path::Path::new(&banner).is_absolute());
    assert!(expected.join("streamhall.db").exists());
    stop(&mut child);
}

/// Without SMTP, an operator hands a user a reset link: `streamhall user reset-link NAME`
/// prints one, and it sets the password once.
#[test]
fn the_cli_prints_a_reset_link_that_works_once() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(dir.path())
            .env("STREAMHALL_DATA_DIR", dir.path())
            .env("STREAMHALL_HTTP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_RTMP__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_SRT__LISTEN", "127.0.0.1:0")
            .env("STREAMHALL_LOG__LEVEL", "warn");
        c
    };
    let mut create = cmd(&[
        "user",
        "create",
        "--username",
        "zed",
        "--email",
        "zed@example.com",
        "--password-stdin",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"the old password\n")
        .unwrap();
    assert!(create.wait().unwrap().success());

    let out = cmd(&["user", "reset-link", "Zed@Example.com"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("password reset link for zed"), "{text}");
    let token: String = text
        .split("/reset?token=")
        .nth(1)
        .expect("a link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert!(token.starts_with("pr_"), "{text}");

    let out = cmd(&["user", "reset-link", "nobody"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account is named"),
        "{out:?}"
    );

    let mut server = cmd(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut server);
    let url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the banner");
        if let Some(url) = line.trim().strip_prefix("streamhall is ready at ") {
            break url.to_owned();
        }
    };
    let body = format!(r#"{{"token":"{token}","new_password":"the new password"}}"#);
    let res = http_post(&url, "/api/v1/auth/password-reset/confirm", &body);
    assert!(res.starts_with("HTTP/1.1 204"), "{res}");
    let res = http_post(&url, "/api/v1/auth/password-reset/confirm", &body);
    assert!(res.starts_with("HTTP/1.1 422"), "{res}");
    let res = http_post(
        &url,
        "/api/v1/auth/login",
        r#"{"login":"zed","password":"the new password"}"#,
    );
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    stop(&mut server);
}
