#!/usr/bin/python3
"""Checks docker/ without a Docker engine (there is none on CI):

    /usr/bin/python3 tests/docker_check.py target/debug/streamhall

`./dev test` runs it after the README test. Each check fails the run on a broken input:

1. compose: `docker-compose config -q` (Debian's docker-compose v1, offline) on
   docker/compose.yml and docker/compose.cluster.yml with docker/.env.example, then, on the
   parsed files: every image has a version tag; secrets are `${VAR}` interpolations, never
   literals; every STREAMHALL_* variable names a key of streamhall.example.toml; PostgreSQL,
   Redis and each streamhall node have a health check and the nodes wait on them; the cluster's
   nodes share one JWT secret variable and have distinct node ids and advertise URLs.
2. the Dockerfile (a small linter: hadolint is in none of the registries we use): several
   stages; base images with version tags; COPY sources that exist and are not excluded by
   .dockerignore; COPY --from names an earlier stage; no secret-looking ENV or ARG; the final
   stage runs as a non-root USER, has a HEALTHCHECK on /readyz, the data VOLUME, the env
   defaults and EXPOSE 8080 1935; cargo builds with --locked after web/dist is in place.
   A built-in self-test feeds it broken Dockerfiles first, so the linter itself cannot rot.
3. the proxies and scrape configs: `caddy adapt` on the Caddyfile, `haproxy -c` on the RTMP
   balancer (servers = the cluster's nodes, `balance source`), `promtool check config` on both
   Prometheus files (targets = the compose services), `sh -n` on the SeaweedFS scripts.
4. Grafana: the dashboard JSON parses, names only provisioned datasources.
5. metrics: every `streamhall_*` name in the dashboard and the Prometheus files is exported by
   the server binary: it is started on a fresh data directory and free ports, a channel is
   created and ffmpeg pushes to it (so the per-stream series exist), and /metrics is scraped
   until every name is there (histogram `_bucket`/`_sum`/`_count` count as the base name).

A missing tool is an error when CI=true; otherwise that check is skipped with a warning.
Standard library plus PyYAML (Debian's python3-yaml).
"""

import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = os.path.join(ROOT, "docker")
ENV_EXAMPLE = os.path.join(DOCKER, ".env.example")
COMPOSE_ONE = os.path.join(DOCKER, "compose.yml")
COMPOSE_CLUSTER = os.path.join(DOCKER, "compose.cluster.yml")
CLUSTER_NODES = ["node-1", "node-2", "node-3"]
CI = os.environ.get("CI") == "true"

METRICS_DEADLINE = 120  # seconds from the first push to every per-stream series

errors = []


def say(msg):
    print(f"docker-check: {msg}", flush=True)


def fail(msg):
    errors.append(msg)
    print(f"docker-check: FAIL {msg}", flush=True)


def tool(name):
    path = shutil.which(name)
    if path is None:
        if CI:
            fail(f"`{name}` is missing (CI=true: every docker/ check must run)")
        else:
            say(f"warning: `{name}` is missing, its check is skipped")
    return path


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- 1. compose ------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|_KEY$)", re.I)
INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}")


def env_example():
    values = {}
    for line in read(ENV_EXAMPLE).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            values[k.strip()] = v.strip()
    return values


def config_keys():
    """Every key streamhall.example.toml mentions, commented out or not, as dotted paths."""
    keys, section = set(), ""
    for raw in read(os.path.join(ROOT, "streamhall.example.toml")).splitlines():
        line = raw.strip().lstrip("#").strip()
        m = re.fullmatch(r"\[([a-z0-9_.]+)\]", line)
        if m:
            section = m.group(1)
            keys.add(section)
            continue
        m = re.match(r"([a-z0-9_]+)\s*=", line)
        if m:
            keys.add(f"{section}.{m.group(1)}" if section else m.group(1))
    return keys


def env_key(name):
    return ".".join(p.lower() for p in name[len("STREAMHALL_"):].split("__"))


def check_compose_file(path, docker_compose, keys):
    rel = os.path.relpath(path, ROOT)
    if docker_compose:
        for profile in ([], ["--profile", "https"], ["--profile", "local"]):
            r = run([docker_compose, "--env-file", ENV_EXAMPLE, "-f", path, *profile, "config", "-q"], cwd=ROOT)
            if r.returncode != 0:
                fail(f"docker-compose config {' '.join(profile)} on {rel}: {r.stderr.strip() or r.stdout.strip()}")
                return None
        # Without a value for a required secret the file must refuse to render.
        env = {k: v for k, v in os.environ.items() if k not in env_example()}
        empty = tempfile.NamedTemporaryFile("w", suffix=".env", delete=False)
        empty.write("COMPOSE_PROJECT_NAME=streamhall\n")
        empty.close()
        r = run([docker_compose, "--env-file", empty.name, "-f", path, "config", "-q"], cwd=ROOT, env=env)
        os.unlink(empty.name)
        if r.returncode == 0:
            fail(f"{rel} renders without docker/.env: its secrets must be required (${{VAR:?…}})")
    raw = read(path)
    doc = yaml.safe_load(raw)
    services = doc.get("services") or {}
    if not services:
        fail(f"{rel}: no services")
        return None
    # Literal secrets: any environment entry whose name looks secret must be an interpolation.
    for name, svc in services.items():
        envs = svc.get("environment") or {}
        if isinstance(envs, list):
            envs = dict(e.split("=", 1) if "=" in e else (e, "") for e in envs)
        for k, v in envs.items():
            v = "" if v is None else str(v)
            if SECRET_NAME.search(k) and not INTERPOLATION.search(v):
                fail(f"{rel}: service {name}: {k} is a literal; secrets come from docker/.env")
            elif SECRET_NAME.search(k) and not re.search(r"\$\{[A-Z0-9_]+:\?", v):
                fail(f"{rel}: service {name}: {k} must be required (${{VAR:?…}}), not defaulted")
            if k.startswith("STREAMHALL_") and k.startswith("STREAMHALL_TEST_"):
                fail(f"{rel}: service {name}: {k} is a test variable")
            elif k.startswith("STREAMHALL_") and k != "STREAMHALL_CONFIG":
                key = env_key(k)
                if key not in keys:
                    fail(f"{rel}: service {name}: {k} is not a key of streamhall.example.toml ({key})")
            # URLs with credentials must take them from variables too.
            m = re.search(r"://[^/@\s]*:([^@/\s]+)@", v)
            if m and not INTERPOLATION.search(m.group(1)):
                fail(f"{rel}: service {name}: {k} has a literal password in its URL")
        image = svc.get("image", "")
        if not image:
            fail(f"{rel}: service {name} has no image")
        elif not image.startswith("${"):
            check_image_tag(f"{rel}: service {name}", image)
    for example_value in (v for k, v in env_example().items() if SECRET_NAME.search(k)):
        if len(example_value) >= 8 and example_value in raw:
            fail(f"{rel} contains the value of a secret from .env.example literally")
    return services


def check_image_tag(where, image):
    if "@sha256:" in image:
        return
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or tag in ("", "latest") or not re.search(r"\d", tag):
        fail(f"{where}: image `{image}` is not pinned to a version tag")


def depends(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {k: "service_started" for k in d}
    return {k: (v or {}).get("condition", "service_started") for k, v in d.items()}


def check_compose_semantics(one, cluster):
    for label, services, nodes in (("compose.yml", one, ["streamhall"]), ("compose.cluster.yml", cluster, CLUSTER_NODES)):
        if services is None:
            continue
        for s in ["postgres", "redis", "seaweedfs", *nodes]:
            if s not in services:
                fail(f"{label}: no service {s}")
            elif not services[s].get("healthcheck"):
                fail(f"{label}: service {s} has no health check")
        first = services.get(nodes[0], {})
        deps = depends(first)
        for s, cond in (("postgres", "service_healthy"), ("redis", "service_healthy"), ("seaweedfs-bucket", "service_completed_successfully")):
            if deps.get(s) != cond:
                fail(f"{label}: {nodes[0]} must depend on {s} with condition {cond} (has {deps.get(s)})")
        for s in ("caddy", "caddy-local"):
            if s not in services:
                fail(f"{label}: no service {s}")
            elif depends(services[s]).get(nodes[0]) != "service_healthy":
                fail(f"{label}: {s} must wait for {nodes[0]} to be healthy")
        profiles = {s: tuple(v.get("profiles") or ()) for s, v in services.items()}
        if profiles.get("caddy") != ("https",) or profiles.get("caddy-local") != ("local",):
            fail(f"{label}: caddy must be in profile https and caddy-local in profile local")
        for s in ("prometheus", "grafana", "loki", "alloy"):
            if s not in services:
                fail(f"{label}: no service {s}")
    if cluster is None:
        return
    ids, urls, jwt, keys = set(), set(), set(), set()
    for n in CLUSTER_NODES:
        env = cluster.get(n, {}).get("environment") or {}
        ids.add(env.get("STREAMHALL_CLUSTER__NODE_ID"))
        urls.add(env.get("STREAMHALL_CLUSTER__ADVERTISE_URL"))
        jwt.add(env.get("STREAMHALL_AUTH__JWT_SECRET"))
        if env.get("STREAMHALL_CLUSTER__NODE_ID") != n or env.get("STREAMHALL_CLUSTER__ADVERTISE_URL") != f"http://{n}:8080":
            fail(f"compose.cluster.yml: {n} must have node id {n} and advertise http://{n}:8080")
        if env.get("STREAMHALL_OBJECTS__BACKEND") != "s3":
            fail(f"compose.cluster.yml: {n} must use the S3 store (fs objects stay on one node)")
        keys.add(env.get("STREAMHALL_INGEST__CREDENTIALS_KEY"))
        tcp = [p for p in cluster.get(n, {}).get("ports", []) if not str(p).endswith("/udp")]
        if tcp:
            fail(f"compose.cluster.yml: {n} publishes TCP ports {tcp}; HTTP and RTMP go through Caddy and HAProxy")
    if len(jwt) != 1 or None in jwt:
        fail("compose.cluster.yml: every node must get the same JWT secret")
    if len(keys) != 1 or None in keys:
        fail("compose.cluster.yml: every node must get the same credentials key (sealed camera logins, SRT passphrases, restream keys)")
    rtmp = cluster.get("rtmp", {})
    if "1935:1935" not in [str(p) for p in rtmp.get("ports", [])]:
        fail("compose.cluster.yml: the rtmp balancer must publish 1935")


# --- 2. Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions(text):
    """(line number, INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out, buf, start = [], "", 0
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = i
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    return out


def dockerignore_patterns(root):
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        return []
    return [l.strip().rstrip("/") for l in read(path).splitlines() if l.strip() and not l.startswith("#")]


def ignored(rel, patterns):
    parts = rel.strip("/").split("/")
    for p in patterns:
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), p.lstrip("/")):
                return True
    return False


def lint_dockerfile(text, root):
    """The problems of a Dockerfile, as a list of strings (empty: clean)."""
    problems = []
    ins = dockerfile_instructions(text)
    stages, current = [], None
    patterns = dockerignore_patterns(root)
    for line, word, args in ins:
        if word == "FROM":
            toks = [t for t in args.split() if not t.startswith("--")]
            image = toks[0] if toks else ""
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            current = {"image": image, "name": name, "ins": [], "line": line}
            stages.append(current)
            if image not in [s["name"] for s in stages[:-1]]:
                if "@sha256:" not in image:
                    base, _, tag = image.rpartition(":")
                    if not base or "/" in tag or tag in ("", "latest") or not re.search(r"\d", tag):
                        problems.append(f"line {line}: base image `{image}` is not pinned to a version tag")
            continue
        if current is None:
            if word != "ARG":
                problems.append(f"line {line}: {word} before the first FROM")
            continue
        current["ins"].append((line, word, args))
        if word in ("ENV", "ARG"):
            for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)(=|\s|$)", args):
                if SECRET_NAME.search(m.group(1)) or re.search(r"PASS|SECRET|TOKEN", m.group(1), re.I):
                    problems.append(f"line {line}: {word} {m.group(1)} looks like a secret; pass secrets at run time")
        if word in ("COPY", "ADD"):
            toks = args.split()
            opts = [t for t in toks if t.startswith("--")]
            paths = [t for t in toks if not t.startswith("--")]
            if len(paths) < 2:
                problems.append(f"line {line}: {word} needs a source and a destination")
                continue
            src = paths[:-1]
            frm = [o.split("=", 1)[1] for o in opts if o.startswith("--from=")]
            if frm:
                earlier = [s["name"] for s in stages[:-1]]
                if frm[0] not in earlier:
                    problems.append(f"line {line}: COPY --from={frm[0]} names no earlier stage")
                continue
            for s in src:
                hits = glob.glob(os.path.join(root, s))
                if not hits:
                    problems.append(f"line {line}: {word} source `{s}` does not exist in the repository")
                elif s not in (".", "./") and all(ignored(os.path.relpath(h, root), patterns) for h in hits):
                    problems.append(f"line {line}: {word} source `{s}` is excluded by .dockerignore")
    if len(stages) < 2:
        problems.append("not a multi-stage build (one FROM)")
        return problems
    final = stages[-1]
    users = [a for _, w, a in final["ins"] if w == "USER"]
    if not users:
        problems.append("the final stage has no USER: it would run as root")
    elif users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"the final stage runs as `{users[-1]}`")
    checks = [a for _, w, a in final["ins"] if w == "HEALTHCHECK"]
    if not checks or "NONE" in checks[-1].upper().split():
        problems.append("the final stage has no HEALTHCHECK")
    elif "/readyz" not in checks[-1]:
        problems.append("the HEALTHCHECK does not ask /readyz")
    env = " ".join(a for _, w, a in final["ins"] if w == "ENV")
    for want in ("STREAMHALL_DATA_DIR=/var/lib/streamhall", "STREAMHALL_HTTP__LISTEN=0.0.0.0:8080", "STREAMHALL_LOG__FORMAT=json"):
        if want not in env.split():
            problems.append(f"the final stage does not set ENV {want}")
    vols = " ".join(a for _, w, a in final["ins"] if w == "VOLUME")
    if "/var/lib/streamhall" not in vols:
        problems.append("the final stage has no VOLUME /var/lib/streamhall")
    exposed = " ".join(a for _, w, a in final["ins"] if w == "EXPOSE").split()
    for port in ("8080", "1935"):
        if port not in [p.split("/")[0] for p in exposed]:
            problems.append(f"the final stage does not EXPOSE {port}")
    runs = [(l, a) for s in stages for l, w, a in s["ins"] if w == "RUN"]
    cargo = [(l, a) for l, a in runs if "cargo build" in a]
    if not cargo:
        problems.append("no stage runs cargo build")
    for l, a in cargo:
        if "--locked" not in a or "--release" not in a:
            problems.append(f"line {l}: cargo build without --release --locked")
        stage = next(s for s in stages if any(x[0] == l for x in s["ins"]))
        before = [x for x in stage["ins"] if x[0] < l and x[1] == "COPY" and "web/dist" in x[2]]
        if not before:
            problems.append(f"line {l}: cargo build runs before web/dist is copied into its stage (rust-embed needs it)")
    if not any("vite build" in a for _, a in runs):
        problems.append("no stage builds the web app (vite build)")
    return problems


def dockerfile_self_test(good_text):
    """The linter must reject each of these breakages of the real Dockerfile."""
    breakages = {
        "unpinned base": lambda t: t.replace("FROM debian:12-slim", "FROM debian:latest", 1),
        "no USER": lambda t: re.sub(r"^USER .*$", "", t, flags=re.M),
        "root USER": lambda t: re.sub(r"^USER .*$", "USER root", t, flags=re.M),
        "no HEALTHCHECK": lambda t: re.sub(r"^HEALTHCHECK .*?\n(    .*\n)*", "", t, flags=re.M),
        "missing COPY source": lambda t: t.replace("COPY web/package.json", "COPY web/package-nope.json", 1),
        "secret ENV": lambda t: t.replace("ENV STREAMHALL_DATA_DIR", "ENV STREAMHALL_AUTH__JWT_SECRET=abc STREAMHALL_DATA_DIR", 1),
        "single stage": lambda t: "FROM debian:12-slim\n" + "\n".join(
            l for l in t.splitlines() if not l.startswith("FROM") and "--from=" not in l),
        "cargo unlocked": lambda t: t.replace("--locked ", "", 1),
    }
    for name, breakage in breakages.items():
        broken = breakage(good_text)
        if broken == good_text:
            fail(f"Dockerfile self-test `{name}`: the breakage did not apply (update the self-test)")
        elif not lint_dockerfile(broken, ROOT):
            fail(f"Dockerfile self-test `{name}`: the linter passed a broken Dockerfile")


def check_dockerfile():
    text = read(os.path.join(DOCKER, "Dockerfile"))
    dockerfile_self_test(text)
    for p in lint_dockerfile(text, ROOT):
        fail(f"docker/Dockerfile: {p}")
    ignore = dockerignore_patterns(ROOT)
    for must in ("target", "web/node_modules", "data", ".git"):
        if must not in ignore:
            fail(f".dockerignore does not exclude {must}")


# --- 3. proxies, scrape configs, scripts ------------------------------------------------------


def check_proxies(one, cluster):
    caddy = tool("caddy")
    if caddy:
        for site, ups in (("live.example.com", "streamhall:8080"), (":80", "node-1:8080 node-2:8080 node-3:8080")):
            env = dict(os.environ, SITE_ADDRESS=site, UPSTREAMS=ups)
            r = run([caddy, "adapt", "--config", os.path.join(DOCKER, "caddy/Caddyfile"), "--adapter", "caddyfile"], env=env)
            if r.returncode != 0:
                fail(f"caddy adapt docker/caddy/Caddyfile (SITE_ADDRESS={site}): {r.stderr.strip()}")
                continue
            dials = re.findall(r'"dial":\s*"([^"]+)"', r.stdout)
            if sorted(dials) != sorted(ups.split()):
                fail(f"Caddyfile: upstreams {dials}, expected {ups.split()}")
            if '"/metrics"' not in r.stdout:
                fail("Caddyfile: /metrics is not kept from the outside")
    haproxy = tool("haproxy")
    cfg_path = os.path.join(DOCKER, "haproxy/haproxy.cfg")
    if haproxy:
        r = run([haproxy, "-c", "-f", cfg_path])
        if r.returncode != 0:
            fail(f"haproxy -c docker/haproxy/haproxy.cfg: {(r.stdout + r.stderr).strip()[-800:]}")
    text = read(cfg_path)
    servers = re.findall(r"^\s*server\s+\S+\s+([a-z0-9-]+):1935", text, re.M)
    if cluster is not None and sorted(servers) != sorted(CLUSTER_NODES):
        fail(f"haproxy.cfg: servers {servers} are not the cluster's nodes {CLUSTER_NODES}")
    if not re.search(r"^\s*balance\s+source\s*$", text, re.M) or not re.search(r"^\s*mode\s+tcp\s*$", text, re.M):
        fail("haproxy.cfg: RTMP must be balanced in TCP mode by source address")

    promtool = tool("promtool")
    for name, services, want in (("prometheus.yml", one, ["streamhall:8080"]),
                                 ("prometheus.cluster.yml", cluster, [f"{n}:8080" for n in CLUSTER_NODES])):
        path = os.path.join(DOCKER, "prometheus", name)
        if promtool:
            r = run([promtool, "check", "config", path])
            if r.returncode != 0:
                fail(f"promtool check config docker/prometheus/{name}: {r.stdout.strip()} {r.stderr.strip()}")
        doc = yaml.safe_load(read(path))
        targets = [t for sc in doc.get("scrape_configs", []) for c in sc.get("static_configs", []) for t in c.get("targets", [])]
        if sorted(targets) != sorted(want):
            fail(f"docker/prometheus/{name}: targets {targets}, expected {want}")
        if services is not None:
            for t in targets:
                if t.split(":")[0] not in services:
                    fail(f"docker/prometheus/{name}: target {t} is no compose service")
    compose_mounts = {
        "compose.yml": "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "compose.cluster.yml": "./prometheus/prometheus.cluster.yml:/etc/prometheus/prometheus.yml:ro",
    }
    for label, services in (("compose.yml", one), ("compose.cluster.yml", cluster)):
        if services is not None and compose_mounts[label] not in (services.get("prometheus", {}).get("volumes") or []):
            fail(f"{label}: prometheus does not mount its config ({compose_mounts[label]})")

    for script in glob.glob(os.path.join(DOCKER, "seaweedfs", "*.sh")):
        r = run(["sh", "-n", script])
        if r.returncode != 0:
            fail(f"sh -n {os.path.relpath(script, ROOT)}: {r.stderr.strip()}")


# --- 4. Grafana ------------------------------------------------------------------------------


def check_grafana():
    ds = yaml.safe_load(read(os.path.join(DOCKER, "grafana/provisioning/datasources/datasources.yml")))
    uids = {d["uid"] for d in ds.get("datasources", [])}
    dashboards = glob.glob(os.path.join(DOCKER, "grafana/dashboards/*.json"))
    if not dashboards:
        fail("no Grafana dashboard under docker/grafana/dashboards")
    exprs = []
    for path in dashboards:
        try:
            dash = json.loads(read(path))
        except json.JSONDecodeError as e:
            fail(f"{os.path.relpath(path, ROOT)} is not JSON: {e}")
            continue
        for p in dash.get("panels", []):
            for obj in [p, *p.get("targets", [])]:
                uid = (obj.get("datasource") or {}).get("uid")
                if uid and uid not in uids:
                    fail(f"{os.path.relpath(path, ROOT)}: panel {p.get('title')!r} uses datasource {uid!r}, not provisioned")
            for t in p.get("targets", []):
                if "expr" in t and (t.get("datasource") or p.get("datasource") or {}).get("type") != "loki":
                    exprs.append(t["expr"])
    return exprs


# --- 5. metrics from a running server --------------------------------------------------------

METRIC = re.compile(r"\bstreamhall_[a-z0-9_]+\b")


def referenced_metrics(exprs):
    names = set()
    texts = list(exprs)
    for p in glob.glob(os.path.join(DOCKER, "prometheus", "*.yml")):
        texts.append(read(p))
    for t in texts:
        for n in METRIC.findall(t):
            names.add(re.sub(r"_(bucket|sum|count)$", "", n))
    return names


def exported_metrics(text):
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) ", line)
        if m:
            names.add(m.group(1))
        elif line and not line.startswith("#"):
            names.add(re.sub(r"_(bucket|sum|count)$", "", re.split(r"[{ ]", line, 1)[0]))
    return names


def metrics_self_test():
    sample = "# TYPE streamhall_a histogram\nstreamhall_a_bucket{le=\"1\"} 1\nstreamhall_b 2\n"
    have = exported_metrics(sample)
    if not {"streamhall_a", "streamhall_b"} <= have or "streamhall_c" in have:
        fail("metrics self-test: the exposition parser is wrong")
    if referenced_metrics(["rate(streamhall_a_bucket[5m])"]) - have:
        fail("metrics self-test: a histogram's _bucket must count as its base name")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, token=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read().decode()
        return json.loads(raw) if r.headers.get_content_type() == "application/json" else raw


def check_metrics_exported(binary, wanted):
    if not binary or not os.access(binary, os.X_OK):
        fail(f"the server binary {binary!r} is not there: pass its path (./dev test builds it)")
        return
    ffmpeg = tool("ffmpeg")
    if not ffmpeg:
        return
    tmp = tempfile.mkdtemp(prefix="streamhall-docker-check.")
    hport, rport = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHALL_")}
    env.update(STREAMHALL_DATA_DIR=os.path.join(tmp, "data"), STREAMHALL_HTTP__LISTEN=f"127.0.0.1:{hport}",
               STREAMHALL_RTMP__LISTEN=f"127.0.0.1:{rport}", STREAMHALL_SRT__LISTEN=f"127.0.0.1:{free_port()}",
               STREAMHALL_LOG__FORMAT="json")
    log = open(os.path.join(tmp, "server.log"), "w")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    push = None
    base = f"http://127.0.0.1:{hport}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                http("GET", f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the server did not answer /healthz (log: {log.name})")
                time.sleep(0.2)
        token = http("POST", f"{base}/api/v1/auth/register",
                     {"username": "dockercheck", "email": "dockercheck@example.com", "password": "docker check password"})["access_token"]
        key = http("POST", f"{base}/api/v1/channels", {"slug": "dockercheck", "title": "docker check"}, token)["stream_key"]
        push = subprocess.Popen(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
             "-f", "lavfi", "-i", "sine", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
             "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{rport}/live/{key}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + METRICS_DEADLINE
        while True:
            text = http("GET", f"{base}/metrics")
            missing = wanted - exported_metrics(text)
            if not missing:
                break
            if time.time() > deadline or push.poll() is not None:
                fail(f"metrics the dashboard or Prometheus use but /metrics does not export: {sorted(missing)}"
                     + ("" if push.poll() is None else " (the ffmpeg push stopped)"))
                return
            time.sleep(1)
        say(f"ok: /metrics exports all {len(wanted)} names the dashboard and Prometheus use")
        if '{channel="dockercheck"}' not in text:
            fail("the live stream has no per-channel series in /metrics")
        if not re.search(r'^streamhall_live_streams\{status="(live|starting)"\} 1$', text, re.M):
            fail("streamhall_live_streams does not count the stream being pushed")
    except (RuntimeError, urllib.error.URLError, KeyError, OSError) as e:
        fail(f"scraping the server: {e}")
    finally:
        if push and push.poll() is None:
            push.kill()
            push.wait()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        if not errors:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    binary = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    keys = config_keys()
    dc = tool("docker-compose")
    say("compose files (docker-compose config -q with docker/.env.example)")
    one = check_compose_file(COMPOSE_ONE, dc, keys)
    cluster = check_compose_file(COMPOSE_CLUSTER, dc, keys)
    check_compose_semantics(one, cluster)
    say("Dockerfile (docker_check's linter, after its self-test)")
    check_dockerfile()
    say("Caddyfile, HAProxy, Prometheus, SeaweedFS scripts")
    check_proxies(one, cluster)
    say("Grafana provisioning and dashboard")
    exprs = check_grafana()
    metrics_self_test()
    wanted = referenced_metrics(exprs)
    say(f"metrics referenced: {', '.join(sorted(wanted))}")
    check_metrics_exported(binary, wanted)
    if errors:
        say(f"{len(errors)} problem(s)")
        sys.exit(1)
    say("all docker/ checks passed")


if __name__ == "__main__":
    main()
