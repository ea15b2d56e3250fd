"""What the Python benchmarks here share: the JSON API call, the children of a process, and the
result lines `./dev bench` reads."""
import json, os, urllib.error, urllib.request


def req(url, body=None, token=None, method=None):
    """One JSON API call; an HTTP error ends the benchmark with the method, URL and answer."""
    r = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    r.add_header("content-type", "application/json")
    if token:
        r.add_header("authorization", "Bearer " + token)
    try:
        return json.load(urllib.request.urlopen(r, timeout=10))
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method or ('POST' if body is not None else 'GET')} {url}: {e.code} {e.read().decode()}")


def children(pid):
    """The pids whose parent is `pid`, from /proc."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(pid):
                    out.append(int(p))
            except OSError:
                pass
    return out


def record(**fields):
    """Appends one result as a JSON line to $BENCH_JSONL when it is set (`./dev bench` sets it
    and builds its table from these lines); otherwise the printed lines are the output."""
    path = os.environ.get("BENCH_JSONL")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(fields) + "\n")
