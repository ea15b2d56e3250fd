#!/usr/bin/python3
"""The API against its own OpenAPI document, fuzzed: schemathesis as a signed-in user.

    /usr/bin/python3 tests/openapi_fuzz.py BIN SCHEMATHESIS [--max-time SECONDS] [-- ARGS...]

`./dev test` runs it (stage `openapi_fuzz`) with the server binary `cargo test` built and a
schemathesis from its own venv; ARGS go to `schemathesis run` as they are (e.g. `--seed 1`). It:

1. starts `BIN serve` on a fresh temporary data directory (SQLite, files), HTTP on a free
   port of 127.0.0.1, RTMP and SRT on free ports too, with the login, registration, email
   change and webhook ping throttles raised so that the fuzzer's requests reach the handlers
   instead of stopping at 429 (which stays documented wherever it can happen);
2. registers two users, `fuzzer` (the one schemathesis signs in as) and `viewer`, gives each
   a channel (`fuzz` and `other`) with a webhook and a restream destination (on a dead port
   of 127.0.0.1), makes `viewer` a moderator of `fuzz`, has each follow the other's channel
   and pings `fuzz`'s webhook once; about half of the generated `slug`, `username` and `id`
   path parameters are then taken from these, so the owner's paths, another owner's (403)
   and missing ones (404) all get requests;
3. runs schemathesis on /api/v1/openapi.json with the fuzzer's bearer token (passed in the
   environment, never on a command line or in the output) within a time budget, checking
   that no answer is a 5xx, that every status is documented for its operation, that every
   body matches its documented schema, content type and headers (`Retry-After` on a 429),
   and (schemathesis counts it as an error) that no connection closes without an answer;
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
        "response_headers_conformance",
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
            # Webhooks and restream destinations on this machine, so the setup can create
            # some (nothing listens there: a delivery fails, a restream is never started).
            "STREAMHALL_NOTIFY__WEBHOOKS__ALLOW_PRIVATE": '["127.0.0.0/8"]',
            "STREAMHALL_INGEST__ALLOW_PRIVATE": '["127.0.0.0/8"]',
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


def login(base, username, password):
    status, body = call(base, "POST", "/api/v1/auth/login", {"login": username, "password": password})
    if status != 200:
        raise Failed(f"signing in as {username}: {status}")
    return body["access_token"]


def setup(base, method, path, body, token, want):
    status, answer = call(base, method, path, body, token)
    if status != want:
        raise Failed(f"setup: {method} {path}: {status} {answer}")
    return answer


def populate(base):
    """Two users with a channel each and something in every list of `fuzz`; the fuzzer's
    token. Ids start at 1 in a fresh database: webhook 1 and restream 1 are `fuzz`'s."""
    fuzzer = sign_up(base, "fuzzer")
    viewer = sign_up(base, "viewer")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: deliveries fail, quickly
    for token, slug in [(fuzzer, "fuzz"), (viewer, "other")]:
        setup(base, "POST", "/api/v1/channels", {"slug": slug, "title": f"{slug} channel"}, token, 201)
        setup(base, "POST", f"/api/v1/channels/{slug}/webhooks",
              {"url": f"http://{dead}/hook", "events": ["stream.online"]}, token, 201)
        setup(base, "POST", f"/api/v1/channels/{slug}/restreams",
              {"name": "mirror", "url": f"rtmp://{dead}/live", "stream_key": "k"}, token, 201)
    setup(base, "PUT", "/api/v1/channels/fuzz/moderators/viewer", None, fuzzer, 204)
    setup(base, "POST", "/api/v1/channels/other/follow", None, fuzzer, 200)
    setup(base, "POST", "/api/v1/channels/fuzz/follow", None, viewer, 200)
    setup(base, "POST", "/api/v1/channels/fuzz/webhooks/1/ping", None, fuzzer, 202)
    return fuzzer


def schemathesis_config(path):
    # The token comes from the environment: schemathesis substitutes ${...} when it loads this.
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            """headers = { Authorization = "Bearer ${STREAMHALL_FUZZ_TOKEN}" }

[dictionaries.slugs]
values = ["fuzz", "other"]

[dictionaries.usernames]
values = ["fuzzer", "viewer"]

[dictionaries.ids]
values = [1, 2, 3]

[dictionaries.services]
values = ["chat_directory", "presence", "notifier"]

[dictionaries.others]
values = ["other"]

[parameters]
"path.slug" = { dictionary = "slugs", probability = 0.5 }
"path.username" = { dictionary = "usernames", probability = 0.5 }
"path.kind" = { dictionary = "services", probability = 0.5 }

# The state has to last the whole run: a DELETE takes its slug from `viewer`'s side (403) or
# makes one up (404), never `fuzz`, which would leave every later request a 404.
[[operations]]
include-method = "DELETE"
parameters = { "path.slug" = { dictionary = "others", probability = 0.5 }, "path.username" = { dictionary = "usernames", probability = 0.5 } }

# Integer ids only where the setup made some (webhook 1 and restream 1 are `fuzz`'s, 2
# `other`'s, 3 is nobody's); video and clip ids are strings, and there are none.
[[operations]]
include-path-regex = "/(webhooks|restreams)/"
parameters = { "path.slug" = { dictionary = "slugs", probability = 0.5 }, "path.id" = { dictionary = "ids", probability = 0.5 } }
"""
        )


def admin_password(stdout_path):
    """The generated administrator's password from the first start's banner; the file is
    removed once read, and the password is never printed."""
    try:
        with open(stdout_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.strip().partition(": ")
                if key == "password" and value:
                    return value
    finally:
        os.remove(stdout_path)
    raise Failed("the first start printed no administrator password")


def schemathesis_pass(schemathesis, config, base, token, max_time, work, selection, extra):
    cmd = [schemathesis, "--config-file", config, "run", f"{base}/api/v1/openapi.json"]
    cmd += ["--url", base, "--checks", CHECKS, "--max-time", str(max_time)]
    # One worker: with more, hypothesis parses lambdas' source in several threads at once, which
    # CPython 3.11's ast module does not survive ("AST constructor recursion depth mismatch"),
    # and the run ends in a schemathesis error instead of a verdict on the server.
    cmd += ["--workers", "1", "--request-timeout", "10", "--generation-database", "none"]
    cmd += ["--no-color", "--suppress-health-check", "all"]
    cmd += selection + extra
    say("schemathesis run " + " ".join(cmd[4:]))
    env = dict(os.environ, STREAMHALL_FUZZ_TOKEN=token)
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=work)
    say(f"schemathesis finished in {time.monotonic() - started:.0f} s with exit code {result.returncode}")
    return result.returncode == 0


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
    # stdout carries the first start's banner with the generated administrator's password:
    # read once for the admin pass, then deleted.
    stdout_path = os.path.join(work, "stdout")
    with open(log_path, "wb") as log, open(stdout_path, "wb") as out:
        proc = subprocess.Popen(
            [bin_path, "serve"],
            env=server_env(data_dir, port),
            cwd=work,
            stdout=out,
            stderr=log,
        )
    try:
        wait_healthy(base, proc, log_path)
        say(f"server on {base} (data and log in {work})")
        admin = login(base, "admin", admin_password(stdout_path))
        token = populate(base)
        config = os.path.join(work, "schemathesis.toml")
        schemathesis_config(config)
        problems = []
        # Everything but the admin routes as `fuzzer`, then the admin routes as the admin (as
        # `fuzzer` they are all 403). The admin pass gets a sixth of the time.
        admin_time = max(10, max_time // 6)
        not_admin = ["--exclude-path-regex", "^/api/v1/admin/"]
        for path in EXCLUDED_PATHS:
            not_admin += ["--exclude-path", path]
        if not schemathesis_pass(schemathesis, config, base, token, max_time - admin_time, work, not_admin, extra):
            problems.append("schemathesis found failures as a user (above)")
        only_admin = ["--include-path-regex", "^/api/v1/admin/"]
        for path in EXCLUDED_PATHS:
            only_admin += ["--exclude-path", path]
        if not schemathesis_pass(schemathesis, config, base, admin, admin_time, work, only_admin, extra):
            problems.append("schemathesis found failures as the admin (above)")
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
