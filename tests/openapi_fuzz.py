#!/usr/bin/python3
"""The API against its own OpenAPI document, fuzzed: schemathesis as a signed-in user.

    /usr/bin/python3 tests/openapi_fuzz.py BIN SCHEMATHESIS [--max-time SECONDS] [-- ARGS...]

`./dev test` runs it (stage `openapi_fuzz`) with the release binary and a schemathesis from
its own venv; ARGS go to `schemathesis run` as they are (e.g. `--seed 1`). It:

1. starts `BIN serve` on a fresh temporary data directory (SQLite, files), HTTP on a free
   port of 127.0.0.1, RTMP and SRT on free ports too, with the login, registration, email
   change and webhook ping throttles raised so that the fuzzer's requests reach the handlers
   instead of stopping at 429 (which stays documented wherever it can happen);
2. registers two users, `fuzzer` (the one schemathesis signs in as) and `viewer`, and gives
   each a channel (`fuzz` and `other`), so that about half of the generated `slug` and
   `username` path parameters name something that exists: the owner's paths, another
   owner's (403) and missing ones (404) all get requests;
3. runs schemathesis on /api/v1/openapi.json with the fuzzer's bearer token (passed in the
   environment, never on a command line or in the output) within a time budget, checking
   that no answer is a 5xx, that every status is documented for its operation, that every
   body matches its documented schema and content type, and (schemathesis counts it as an
   error) that no connection closes without an answer;
4. fails when schemathesis does, when the server has died, or when its log shows a panic.

Left out: the WebSocket upgrades (a 101 and a socket are not something schemathesis can
judge). Kept in on purpose: `PUT /users/me/password` and `POST /auth/logout`. Neither can end
the fuzzer's session: a password change needs the current password, which is random and
appears nowhere the fuzzer looks, and logout revokes only the refresh token it is given,
never an access token, and the fuzzer is given none.

Only the standard library; no third-party packages.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

START_DEADLINE = 30  # seconds for the server to answer /healthz
STOP_DEADLINE = 15  # seconds for it to exit after SIGTERM
DEFAULT_MAX_TIME = 120  # seconds of fuzzing

EXCLUDED_PATHS = [
    "/api/v1/chat/{slug}/ws",
    "/api/v1/notifications/ws",
    "/api/v1/admin/health/ws",
]

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
    ]
)


class Failed(Exception):
    pass


def say(msg):
    print(f"openapi-fuzz: {msg}", flush=True)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir, http_port):
    # Nothing from the caller's STREAMHALL_* (a database URL, a Redis) leaks into this server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHALL_")}
    env.update(
        {
            "STREAMHALL_DATA_DIR": data_dir,
            "STREAMHALL_HTTP__LISTEN": f"127.0.0.1:{http_port}",
            "STREAMHALL_RTMP__LISTEN": f"127.0.0.1:{free_port()}",
            "STREAMHALL_SRT__LISTEN": f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
            "STREAMHALL_LOG__LEVEL": "warn",
            # A test server: the throttles would otherwise answer most of the fuzzer's
            # registrations, logins and email changes with 429 before any handler logic.
            "STREAMHALL_AUTH__THROTTLE__REGISTRATIONS_PER_IP": "1000000",
            "STREAMHALL_AUTH__THROTTLE__LOGIN_FAILURES_PER_IP": "1000000",
            "STREAMHALL_AUTH__THROTTLE__LOGIN_FAILURES_PER_ACCOUNT_IP": "1000000",
            "STREAMHALL_AUTH__THROTTLE__LOGIN_FAILURES_PER_ACCOUNT": "1000000",
            "STREAMHALL_AUTH__THROTTLE__EMAIL_CHANGES_PER_USER": "1000000",
            "STREAMHALL_NOTIFY__WEBHOOKS__PINGS_PER_MINUTE": "1000000",
        }
    )
    return env


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def wait_healthy(base, proc, log_path):
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if proc.poll() is not None:
            raise Failed(f"the server exited at start with {proc.returncode} (log: {log_path})")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise Failed(f"no answer on {base}/healthz within {START_DEADLINE} s (log: {log_path})")
        time.sleep(0.1)


def sign_up(base, username):
    password = secrets.token_urlsafe(24)
    status, body = call(
        base,
        "POST",
        "/api/v1/auth/register",
        {"username": username, "email": f"{username}@example.com", "password": password},
    )
    if status != 201:
        raise Failed(f"registering {username}: {status} {body}")
    return body["access_token"]


def create_channel(base, token, slug):
    status, body = call(base, "POST", "/api/v1/channels", {"slug": slug, "title": f"{slug} channel"}, token)
    if status != 201:
        raise Failed(f"creating channel {slug}: {status} {body}")


def schemathesis_config(path):
    # The token comes from the environment: schemathesis substitutes ${...} when it loads this.
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            """headers = { Authorization = "Bearer ${STREAMHALL_FUZZ_TOKEN}" }

[dictionaries.slugs]
values = ["fuzz", "other"]

[dictionaries.usernames]
values = ["fuzzer", "viewer"]

[parameters]
"path.slug" = { dictionary = "slugs", probability = 0.5 }
"path.username" = { dictionary = "usernames", probability = 0.5 }
"""
        )


def panics(log_path):
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip() for line in f if "panicked" in line]


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(bin_path, schemathesis, max_time, extra):
    work = tempfile.mkdtemp(prefix="streamhall-openapi-fuzz.")
    data_dir = os.path.join(work, "data")
    log_path = os.path.join(work, "server.log")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # stdout carries the first start's banner with the generated admin password: dropped.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [bin_path, "serve"],
            env=server_env(data_dir, port),
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_healthy(base, proc, log_path)
        say(f"server on {base} (data and log in {work})")
        token = sign_up(base, "fuzzer")
        create_channel(base, token, "fuzz")
        create_channel(base, sign_up(base, "viewer"), "other")
        config = os.path.join(work, "schemathesis.toml")
        schemathesis_config(config)
        cmd = [schemathesis, "--config-file", config, "run", f"{base}/api/v1/openapi.json"]
        cmd += ["--url", base, "--checks", CHECKS, "--max-time", str(max_time)]
        cmd += ["--workers", "2", "--request-timeout", "10", "--generation-database", "none"]
        cmd += ["--no-color", "--suppress-health-check", "all"]
        for path in EXCLUDED_PATHS:
            cmd += ["--exclude-path", path]
        cmd += extra
        say("schemathesis run " + " ".join(cmd[4:]))
        env = dict(os.environ, STREAMHALL_FUZZ_TOKEN=token)
        started = time.monotonic()
        result = subprocess.run(cmd, env=env, cwd=work)
        say(f"schemathesis finished in {time.monotonic() - started:.0f} s with exit code {result.returncode}")
        problems = []
        if result.returncode != 0:
            problems.append("schemathesis found failures (above)")
        if proc.poll() is not None:
            problems.append(f"the server died during the run (exit {proc.returncode})")
        found = panics(log_path)
        if found:
            problems.append("the server log shows panics:\n  " + "\n  ".join(found[:10]))
        if problems:
            raise Failed("; ".join(problems) + f" (server log: {log_path})")
    finally:
        stop(proc)
    shutil.rmtree(work, ignore_errors=True)


def main(argv):
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    max_time = DEFAULT_MAX_TIME
    if "--max-time" in argv:
        i = argv.index("--max-time")
        max_time = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        run(os.path.abspath(argv[1]), argv[2], max_time, extra)
    except Failed as e:
        say(f"FAILED: {e}")
        return 1
    say("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
