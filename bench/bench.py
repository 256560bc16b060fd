"""Benchmark of activation-request (Rust) against a Python 3 + boto3 handler. Run by ./bench/run.

Everything on 127.0.0.1: moto's DynamoDB-API server behind a TLS proxy (throwaway CA), and a
local Lambda Runtime API (2018-06-01) in this process, which reads each function's CPU time from
/proc/<pid>/task/*/schedstat (ns) the moment a /next request arrives, i.e. while it waits.
Writes bench/results/latest.{md,json} and prints the Markdown report. Exit 1 on any failure.
"""
import base64
import collections
import datetime
import hashlib
import hmac
import http.server
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = str(ROOT / ".venv" / "bin" / "python")
# Every function's binary is measured for size; activation-request is the one benchmarked.
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists())
SECRET = "bench-secret"
USER = "BENCH_USER_TOKEN"
# The HS256 key of the run with verified user tokens (README, "Verified user tokens").
JWT_SECRET = "bench-user-token-key-at-least-32-bytes"
ITEM = "1_GB"
MIB = 1024 * 1024


def env_int(name, default, minimum):
    value = int(os.environ.get(name, default))
    if value < minimum:
        sys.exit(f"{name} must be at least {minimum}")
    return value


COLD = env_int("BENCH_COLD", 15, 1)
WARM = env_int("BENCH_WARM", 1000, 10)
CONCURRENCY = env_int("BENCH_CONCURRENCY", 8, 2)
WAIT = 60  # seconds any one step may take


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- children -------------------------------------------------------------------------------

CHILDREN = []
FAILURES = []  # (session, request id, what) of every invocation that did not answer SUCCESS


def spawn(cmd, **kw):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)
    CHILDREN.append(proc)
    return proc


def stop(proc, grace=3):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def stop_all():
    for proc in list(CHILDREN):
        try:
            stop(proc, 2)
        except Exception:
            pass


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what}: nothing listens on 127.0.0.1:{port} after {WAIT} s")


def run(cmd, env=None, timeout=120):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


# --- measuring a process --------------------------------------------------------------------


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


def ticks_cpu_ns(pid):
    """utime + stime (all threads, live or dead) from /proc/<pid>/stat: coarse, a cross-check."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


class Session:
    """One function process and the Runtime API it polls (its own port)."""

    def __init__(self, label, check):
        self.label = label
        self.check = check
        self.cond = threading.Condition()
        self.events = collections.deque()
        self.polls = []  # (arrival ns, cpu ns, log bytes) of each /next request
        self.handed = {}  # request id -> ns the /next answer was written
        self.done = []  # (request id, handed ns, response ns, ok)
        self.failures = []  # (request id or None, what)
        self.waiting = 0
        self.max_waiting = 0
        self.closed = False
        self.proc = None
        self.tid_cpu = {}
        self.cpu_lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        self.server.daemon_threads = True
        self.server.session = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    # CPU of all threads: the latest reading of every thread ever seen, so a thread that exits
    # keeps what it had used when last read.
    def cpu(self):
        pid = self.proc.pid
        with self.cpu_lock:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except FileNotFoundError:
                tids = []
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                        self.tid_cpu[tid] = int(f.read().split()[0])
                except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                    pass
            return sum(self.tid_cpu.values())

    def start(self, cmd, env, out_dir):
        self.stdout_path = out_dir / f"{self.label}.stdout"
        self.stderr_path = out_dir / f"{self.label}.stderr"
        env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.port}")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            with self.cond:
                started = time.perf_counter_ns()
                self.proc = spawn(cmd, env=env, stdout=out, stderr=err, cwd=cmd_dir(cmd))
                self.cond.notify_all()
        return started

    def log_bytes(self):
        return self.stdout_path.stat().st_size + self.stderr_path.stat().st_size

    def feed(self, events):
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def wait_for(self, predicate, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                if self.proc.poll() is not None:
                    raise BenchError(
                        f"{self.label}: process exited with {self.proc.returncode} "
                        f"waiting for {what}; stderr:\n{tail(self.stderr_path)}\n"
                        f"stdout:\n{tail(self.stdout_path)}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{self.label}: timed out after {timeout} s waiting for {what}")
                self.cond.wait(min(left, 0.25))

    def close(self):
        FAILURES.extend((self.label, rid, why) for rid, why in self.failures)
        if self.proc is not None:  # first, so it never sees its pending /next refused
            stop(self.proc)
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # Called by the Runtime API handler threads.
    def next_event(self):
        arrived = time.perf_counter_ns()
        with self.cond:
            while self.proc is None and not self.closed:
                self.cond.wait(0.25)
        cpu = self.cpu()
        logged = self.log_bytes()
        with self.cond:
            self.polls.append((arrived, cpu, logged))
            self.waiting += 1
            self.max_waiting = max(self.max_waiting, self.waiting)
            self.cond.notify_all()
            try:
                while not self.events:
                    if self.closed:
                        return None
                    self.cond.wait(0.25)
                return self.events.popleft()
            finally:
                self.waiting -= 1

    def mark_handed(self, rid):
        with self.cond:
            self.handed[rid] = time.perf_counter_ns()

    def response(self, rid, body):
        received = time.perf_counter_ns()
        ok, why = self.check(body)
        with self.cond:
            self.done.append((rid, self.handed.get(rid, received), received, ok))
            if not ok:
                self.failures.append((rid, why))
            self.cond.notify_all()

    def failure(self, rid, what):
        """An /invocation/<id>/error (counted as a done, failed invocation) or an init error."""
        received = time.perf_counter_ns()
        with self.cond:
            if rid is not None:
                self.done.append((rid, self.handed.get(rid, received), received, False))
            self.failures.append((rid, what))
            self.cond.notify_all()


def tail(path, n=2000):
    try:
        return path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""


def cmd_dir(cmd):
    return str(Path(cmd[-1]).parent) if cmd[-1].endswith(".py") else None


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Lambda Runtime API 2018-06-01: next, response, error, init error."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    PREFIX = "/2018-06-01/runtime"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        self.wfile.write("\r\n".join(lines).encode() + body)  # one write: no Nagle stall

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_GET(self):
        session = self.server.session
        if self.path != f"{self.PREFIX}/invocation/next":
            return self.reply(404, b'{"errorType":"NotFound"}')
        event = session.next_event()
        if event is None:  # the session is over: the process is being stopped
            self.close_connection = True
            return
        rid, body = event
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", rid),
            ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 6000)),
            ("Lambda-Runtime-Invoked-Function-Arn",
             "arn:aws:lambda:us-east-1:123456789012:function:activation-request"),
            ("Lambda-Runtime-Trace-Id", trace),
        ]
        session.mark_handed(rid)
        self.reply(200, body, headers)

    def do_POST(self):
        session = self.server.session
        body = self.read_body()
        parts = self.path[len(self.PREFIX):].strip("/").split("/")
        if parts[:1] == ["invocation"] and len(parts) == 3 and parts[2] == "response":
            session.response(parts[1], body)
        elif parts[:1] == ["invocation"] and len(parts) == 3 and parts[2] == "error":
            session.failure(parts[1], "invocation error: " + body.decode(errors="replace"))
        elif parts == ["init", "error"]:
            session.failure(None, "init error: " + body.decode(errors="replace"))
        else:
            return self.reply(404, b'{"errorType":"NotFound"}')
        self.reply(202, b'{"status":"OK"}')


def check_success(body):
    """The API Gateway proxy response must be 200 with {"returnCode":"SUCCESS",...}."""
    try:
        proxy = json.loads(body)
        inner = proxy.get("body") or ""
        if proxy.get("isBase64Encoded"):
            import base64

            inner = base64.b64decode(inner).decode()
        answer = json.loads(inner)
        if proxy.get("statusCode") == 200 and answer.get("returnCode") == "SUCCESS":
            return True, ""
    except (ValueError, AttributeError, TypeError):
        pass
    return False, f"not a SUCCESS: {body[:500]!r}"


# --- events ---------------------------------------------------------------------------------


class Events:
    """API Gateway HTTP API v2 events shaped like events/activation-request/approve.json, the
    secret in the query string (as replay.json carries it), a fresh activationId each."""

    def __init__(self):
        self.template = json.loads((ROOT / "events/activation-request/approve.json").read_text())
        headers = self.template["headers"]
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
        self.template["rawQueryString"] = f"token={SECRET}"
        self.template["queryStringParameters"] = {"token": SECRET}
        self.count = 0
        self.run = uuid.uuid4().hex[:8]
        self.user_token = USER  # a signed token naming USER in the verified run

    def make(self, n):
        out = []
        for _ in range(n):
            self.count += 1
            rid = str(uuid.uuid4())
            event = dict(self.template)
            event["requestContext"] = dict(self.template["requestContext"], requestId=rid)
            event["body"] = json.dumps(
                {
                    "inventoryItemId": ITEM,
                    "userToken": self.user_token,
                    "metaTag": f"order-{self.count}",
                    "activationId": f"bench-{self.run}-{self.count}",
                }
            )
            out.append((rid, json.dumps(event).encode()))
        return out


def signed_user_token(sub, ttl_s=3600):
    """An HS256 JWT naming `sub`, as a reseller's backend issues one (README)."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = b64(json.dumps({"sub": sub, "exp": int(time.time()) + ttl_s}, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


# --- the runs -------------------------------------------------------------------------------


def cold_start(kind, index, cmd, env, events, out_dir):
    session = Session(f"{kind}-cold-{index}", check_success)
    try:
        session.feed(events.make(1))  # answered as soon as the first /next arrives
        started = session.start(cmd, env, out_dir)
        session.wait_for(
            lambda: len(session.done) >= 1 and len(session.polls) >= 2,
            "the first invocation and the second /next",
        )
        (first_at, cpu_first, log_first), (_, cpu_second, log_second) = session.polls[:2]
        _, handed, answered, _ = session.done[0]
        result = {
            "init_ms": (first_at - started) / 1e6,
            "cpu_first_next_ms": cpu_first / 1e6,
            "cpu_first_invocation_ms": (cpu_second - cpu_first) / 1e6,
            "cpu_init_plus_first_ms": cpu_second / 1e6,
            "first_invocation_wall_ms": (answered - handed) / 1e6,
            "rss_after_first_kib": status_kib(session.proc.pid, "VmHWM"),
            "log_bytes_init": log_first,
            "log_bytes_first_invocation": log_second - log_first,
        }
    finally:
        session.close()
    return result


def warm(kind, cmd, env, events, out_dir, n, concurrency=None):
    label = f"{kind}-warm" if concurrency is None else f"{kind}-concurrent"
    session = Session(label, check_success)
    try:
        if concurrency is not None:
            env = dict(env, AWS_LAMBDA_MAX_CONCURRENCY=str(concurrency))
        session.feed(events.make(1))  # the cold invocation: not measured here
        session.start(cmd, env, out_dir)
        session.wait_for(lambda: len(session.done) >= 1, "the first invocation")
        session.wait_for(lambda: session.waiting >= 1, "the process to wait in /next")
        if concurrency is not None:  # give every poller the time to connect
            try:
                session.wait_for(lambda: session.waiting >= concurrency, "pollers", timeout=3)
            except BenchError:
                pass
        pollers = session.waiting  # all idle now: each waits in /next
        cpu_start, ticks_start, log_start = session.cpu(), ticks_cpu_ns(session.proc.pid), session.log_bytes()
        released = time.perf_counter_ns()
        session.feed(events.make(n))
        session.wait_for(
            lambda: len(session.done) >= n + 1 and session.waiting >= pollers,
            f"{n} invocations",
            timeout=WAIT + n,  # bounded: at most 1 s per invocation
        )
        cpu_end, ticks_end = session.cpu(), ticks_cpu_ns(session.proc.pid)
        pid = session.proc.pid
        hwm, rss = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS")
        threads = len(os.listdir(f"/proc/{pid}/task"))
        log_end = session.log_bytes()
        said = [line for path in (session.stdout_path, session.stderr_path)
                for line in path.read_text(errors="replace").splitlines()
                if "CONCURRENCY" in line.upper()]
        measured = session.done[1:]
        last = max(answered for _, _, answered, _ in measured)
        latencies = sorted((answered - handed) / 1e6 for _, handed, answered, _ in measured)
        result = {
            "n": n,
            "pollers": session.max_waiting,
            "threads": threads,
            "latency_median_ms": statistics.median(latencies),
            "latency_p99_ms": latencies[math.ceil(0.99 * len(latencies)) - 1],
            "latency_max_ms": latencies[-1],
            "cpu_per_invocation_ms": (cpu_end - cpu_start) / n / 1e6,
            "cpu_per_invocation_ticks_ms": (ticks_end - ticks_start) / n / 1e6,
            "throughput_per_s": n / ((last - released) / 1e9),
            "peak_rss_kib": hwm,
            "rss_kib": rss,
            "log_bytes_per_invocation": (log_end - log_start) / n,
            "concurrency_log": said[:1],
        }
    finally:
        session.close()
    return result


# --- setup ----------------------------------------------------------------------------------


def make_certs(tmp):
    ext = tmp / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    o = ["openssl"]
    run(o + ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp / "ca.key",
             "-out", tmp / "ca.pem", "-days", "2", "-subj", "/CN=gigastore bench throwaway CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(o + ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp / "server.key",
             "-out", tmp / "server.csr", "-subj", "/CN=127.0.0.1"])
    run(o + ["x509", "-req", "-in", tmp / "server.csr", "-CA", tmp / "ca.pem",
             "-CAkey", tmp / "ca.key", "-CAcreateserial", "-out", tmp / "server.pem",
             "-days", "2", "-extfile", ext])
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


def elf_facts(path):
    """(machine, stripped): e_machine, and whether a .symtab section is left."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None, None
    machine = int.from_bytes(data[18:20], "little")
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    stripped = True
    for i in range(shnum):
        sh_type = int.from_bytes(data[shoff + i * shentsize + 4: shoff + i * shentsize + 8], "little")
        if sh_type == 2:  # SHT_SYMTAB
            stripped = False
    return {62: "x86_64", 183: "aarch64"}.get(machine, str(machine)), stripped


def binary_sizes(arm64_status):
    sizes = {"x86_64": {}, "arm64": {}, "arm64_note": None}
    for name in FUNCTIONS:
        path = ROOT / "target/release" / name
        machine, stripped = elf_facts(path)
        sizes["x86_64"][name] = {"bytes": path.stat().st_size, "machine": machine, "stripped": stripped}
    if arm64_status != "ok":
        sizes["arm64_note"] = arm64_status
        return sizes
    for name in FUNCTIONS:
        path = ROOT / "target/lambda" / name / "bootstrap"
        if not path.exists():
            path = ROOT / "target/aarch64-unknown-linux-gnu/release" / name
        if not path.exists():
            sizes["arm64_note"] = f"built, but {name}'s binary was not found"
            continue
        machine, stripped = elf_facts(path)
        sizes["arm64"][name] = {"bytes": path.stat().st_size, "machine": machine, "stripped": stripped}
    return sizes


def python_package_bytes():
    """What the baseline ships if it bundles boto3 (its .py files and data, no bytecode)."""
    from importlib import metadata

    total = (ROOT / "bench/baseline/handler.py").stat().st_size
    for dist in ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"]:
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            continue
        for f in files:
            p = f.locate()
            if p.suffix != ".pyc" and "dist-info" not in str(f) and p.is_file():
                total += p.stat().st_size
    return total


def machine_facts():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1])

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"

    dirty = out(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "mem_total_mib": mem // 1024,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "git_commit": out(["git", "rev-parse", "HEAD"]) or os.environ.get("BENCH_COMMIT", "unknown"),
        "git_dirty": bool(dirty),
        "rustc": out(["rustc", "--version"]),
        "python": platform.python_version(),
        "boto3": __import__("boto3").__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- report ---------------------------------------------------------------------------------


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def summarize(results):
    s = {}
    for kind in ("rust", "python"):
        cold = results["cold"][kind]
        s[kind] = {
            k: median(cold, k)
            for k in ("init_ms", "cpu_first_next_ms", "cpu_first_invocation_ms",
                      "cpu_init_plus_first_ms", "first_invocation_wall_ms", "log_bytes_init",
                      "log_bytes_first_invocation", "rss_after_first_kib")
        }
        s[kind]["init_ms_min"] = min(r["init_ms"] for r in cold)
        s[kind]["init_ms_max"] = max(r["init_ms"] for r in cold)
        w = results["warm"][kind]
        for k in ("cpu_per_invocation_ms", "latency_median_ms", "latency_p99_ms", "peak_rss_kib",
                  "throughput_per_s", "log_bytes_per_invocation"):
            s[kind][k] = w[k]
    return s


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "ms":
        return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"
    if unit == "MiB":
        return f"{v / MIB:.2f} MiB"
    if unit == " B":
        return f"{v:.0f} B"
    return f"{v:.1f}{unit}"


def ratio(a, b):
    return a / b if a is not None and b else None


def targets(results, s):
    r, p = s["rust"], s["python"]
    sizes = results["sizes"]
    x86 = max(v["bytes"] for v in sizes["x86_64"].values())
    arm = max((v["bytes"] for v in sizes["arm64"].values()), default=None)
    t = [
        ("init <= 0.05x Python", ratio(r["init_ms"], p["init_ms"]), "x", 0.05),
        ("CPU inside the first invocation after a cold start <= 2 ms", r["cpu_first_invocation_ms"], "ms", 2.0),
        ("CPU init + first invocation <= 0.05x Python", ratio(r["cpu_init_plus_first_ms"], p["cpu_init_plus_first_ms"]), "x", 0.05),
        ("warm CPU per approved activation <= 0.15x Python", ratio(r["cpu_per_invocation_ms"], p["cpu_per_invocation_ms"]), "x", 0.15),
        (f"peak RSS after {results['warm']['rust']['n'] + 1} activations <= 16 MiB", r["peak_rss_kib"] * 1024 / MIB, "MiB", 16.0),
        ("stripped binary x86_64 <= 6 MiB (largest function)", x86 / MIB, "MiB", 6.0),
        ("stripped binary arm64 <= 6 MiB (largest function)", None if arm is None else arm / MIB, "MiB", 6.0),
    ]
    return [
        {"target": name, "measured": v, "unit": unit, "limit": limit,
         "met": None if v is None else v <= limit}
        for name, v, unit, limit in t
    ]


def report(results):
    s = results["summary"]
    r, p = s["rust"], s["python"]
    m = results["machine"]
    lines = [
        "# activation-request benchmark: Rust vs. Python 3 + boto3",
        "",
    ]
    if results["failures"] or not results["table_check"]["consistent"]:
        lines += [
            f"**FAILED: {results['failures']} invocations did not answer SUCCESS; table "
            f"{'consistent' if results['table_check']['consistent'] else 'INCONSISTENT'} "
            f"({results['table_check']}).**",
            "",
        ]
    lines += [
        f"{m['date']}; commit `{m['git_commit'][:12]}`{' (with uncommitted changes)' if m['git_dirty'] else ''}; "
        f"{m['nproc']} CPUs ({m['cpu_model']}), kernel {m['kernel']}, {m['mem_total_mib']} MiB; "
        f"load average at start {' '.join(m['loadavg_start'])}; {m['rustc']}; Python {m['python']}, boto3 {m['boto3']}.",
        "",
        f"Cold starts: {results['params']['cold']} each (medians; first one of each discarded as page-cache warm-up). "
        f"Warm: {results['params']['warm']} approved activations in one process after its first. "
        "Every invocation is an approved activation: one TransactWriteItems over TLS (a Python proxy, "
        "throwaway CA) to moto on loopback (bench/moto_server.py: transactions cost O(1) in the table size). "
        "Compare ratios: absolute numbers move with the machine's load.",
        "",
        "| metric | Rust | Python | Rust/Python |",
        "|---|---:|---:|---:|",
    ]

    def row(name, a, b, unit):
        q = ratio(a, b)
        lines.append(f"| {name} | {fmt(a, unit)} | {fmt(b, unit)} | {'n/a' if q is None else f'{q:.3f}'} |")

    row("init (spawn -> first /next)", r["init_ms"], p["init_ms"], "ms")
    row("CPU at first /next", r["cpu_first_next_ms"], p["cpu_first_next_ms"], "ms")
    row("CPU of the first invocation", r["cpu_first_invocation_ms"], p["cpu_first_invocation_ms"], "ms")
    row("CPU init + first invocation", r["cpu_init_plus_first_ms"], p["cpu_init_plus_first_ms"], "ms")
    row("wall time of the first invocation", r["first_invocation_wall_ms"], p["first_invocation_wall_ms"], "ms")
    row("warm CPU per invocation", r["cpu_per_invocation_ms"], p["cpu_per_invocation_ms"], "ms")
    row("warm latency median", r["latency_median_ms"], p["latency_median_ms"], "ms")
    row("warm latency p99", r["latency_p99_ms"], p["latency_p99_ms"], "ms")
    row(f"peak RSS (VmHWM) after {results['params']['warm'] + 1} invocations",
        r["peak_rss_kib"] * 1024, p["peak_rss_kib"] * 1024, "MiB")
    row("RSS (VmHWM) after the first invocation", r["rss_after_first_kib"] * 1024,
        p["rss_after_first_kib"] * 1024, "MiB")
    row("log bytes written at init (stdout+stderr)", r["log_bytes_init"], p["log_bytes_init"], " B")
    row("log bytes of the first invocation", r["log_bytes_first_invocation"],
        p["log_bytes_first_invocation"], " B")
    row("log bytes per warm invocation", r["log_bytes_per_invocation"], p["log_bytes_per_invocation"], " B")
    sizes = results["sizes"]
    pkg = results["python_package_bytes"]
    for name, v in sizes["x86_64"].items():
        row(f"stripped binary x86_64: {name}", v["bytes"], pkg, "MiB")
    for name, v in sizes["arm64"].items():
        row(f"stripped binary arm64: {name}", v["bytes"], pkg, "MiB")
    lines += [
        "",
        "Python's size column is handler.py plus boto3 and its dependencies (.py and data files), "
        "what its deployment package holds if it bundles boto3; the interpreter is not counted.",
    ]
    if sizes["arm64_note"]:
        lines.append(f"arm64 sizes: {sizes['arm64_note']}")
    for kind, v in sizes["x86_64"].items():
        if not v["stripped"]:
            lines.append(f"Note: {kind} (x86_64) still has a symbol table.")
    lines += [
        "",
        f"Spread of init over the cold starts: Rust {fmt(r['init_ms_min'], 'ms')} .. {fmt(r['init_ms_max'], 'ms')}, "
        f"Python {fmt(p['init_ms_min'], 'ms')} .. {fmt(p['init_ms_max'], 'ms')}.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
    ]
    for t in results["targets"]:
        v = t["measured"]
        shown = "n/a" if v is None else (f"{v:.3f}x" if t["unit"] == "x" else f"{v:.2f} {t['unit']}")
        met = "?" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {shown} | {met} |")
    c, w = results["concurrent"], results["warm"]["rust"]
    v = results["verified"]
    lines += [
        "",
        "## Verified user tokens (Rust, HS256, one process after its first invocation)",
        "",
        "| | plain user token | verified token | ratio |",
        "|---|---:|---:|---:|",
        f"| CPU per invocation | {fmt(w['cpu_per_invocation_ms'], 'ms')} | {fmt(v['cpu_per_invocation_ms'], 'ms')} | {v['cpu_per_invocation_ms'] / w['cpu_per_invocation_ms']:.2f} |",
        f"| latency median / p99 | {fmt(w['latency_median_ms'], 'ms')} / {fmt(w['latency_p99_ms'], 'ms')} | {fmt(v['latency_median_ms'], 'ms')} / {fmt(v['latency_p99_ms'], 'ms')} | |",
    ]
    lines += [
        "",
        f"## Concurrent mode (AWS_LAMBDA_MAX_CONCURRENCY={results['params']['concurrency']}, Rust)",
        "",
        f"Pollers observed: at most {c['pollers']} outstanding /next at once"
        + (" (the binary polls one at a time: the concurrent mode is not used)." if c["pollers"] <= 1 else ".")
        + (f" It logged: `{c['concurrency_log'][0][:400]}`" if c["concurrency_log"] else ""),
        "",
        "| | 1 at a time | concurrent | ratio |",
        "|---|---:|---:|---:|",
        f"| throughput | {w['throughput_per_s']:.0f}/s | {c['throughput_per_s']:.0f}/s | {c['throughput_per_s'] / w['throughput_per_s']:.2f} |",
        f"| CPU per invocation | {fmt(w['cpu_per_invocation_ms'], 'ms')} | {fmt(c['cpu_per_invocation_ms'], 'ms')} | {c['cpu_per_invocation_ms'] / w['cpu_per_invocation_ms']:.2f} |",
        f"| latency median / p99 | {fmt(w['latency_median_ms'], 'ms')} / {fmt(w['latency_p99_ms'], 'ms')} | {fmt(c['latency_median_ms'], 'ms')} / {fmt(c['latency_p99_ms'], 'ms')} | |",
        f"| peak RSS | {fmt(w['peak_rss_kib'] * 1024, 'MiB')} | {fmt(c['peak_rss_kib'] * 1024, 'MiB')} | |",
        "",
        "moto applies one request at a time (scripts/moto_server.py), so the table caps throughput here "
        "and concurrent invocations queue there (their latency); "
        "the TLS proxy, moto and this harness share the machine's cores with the function.",
        "",
        f"Failures: {results['failures']} of {results['invocations']} invocations. The table's entitlement "
        f"shows {results['table_check']['units_used']} units used for {results['table_check']['invocations']} "
        f"approving invocations ({'consistent' if results['table_check']['consistent'] else 'INCONSISTENT'}). "
        f"Threads at the end of the warm run: Rust {w['threads']}, Python {results['warm']['python']['threads']}. "
        f"Run took {results['duration_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    arm64_status = os.environ.get("BENCH_ARM64_STATUS", "not attempted")
    tmp = Path(tempfile.mkdtemp(prefix="gigastore-bench-"))
    home = tmp / "home"
    home.mkdir()
    try:
        return bench(tmp, home, arm64_status)
    finally:
        stop_all()
        subprocess.run(["rm", "-rf", str(tmp)])


def bench(tmp, home, arm64_status):
    started = time.monotonic()
    results = {
        "params": {"cold": COLD, "warm": WARM, "concurrency": CONCURRENCY},
        "machine": machine_facts(),
        "sizes": binary_sizes(arm64_status),
        "python_package_bytes": python_package_bytes(),
    }

    env, cli = setup(tmp, home)
    commands = {
        # BENCH_RUST_BIN: another build of the function, e.g. one with symbols for `perf`.
        "rust": ([os.environ.get("BENCH_RUST_BIN") or str(ROOT / "target/release/activation-request")],
                 dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request")),
        "python": ([PY, str(ROOT / "bench/baseline/runtime.py")],
                   dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request-python")),
    }
    events = Events()
    out_dir = tmp / "logs"
    out_dir.mkdir()

    results["cold"] = {"rust": [], "python": []}
    log(f"cold starts: {COLD} each, alternating (one discarded warm-up each first)")
    for i in range(COLD + 1):
        for kind in ("rust", "python"):
            cmd, kenv = commands[kind]
            r = cold_start(kind, i, cmd, kenv, events, out_dir)
            if i > 0:
                results["cold"][kind].append(r)
    results["warm"] = {}
    for kind in ("rust", "python"):
        log(f"warm: {WARM} invocations in one {kind} process")
        cmd, kenv = commands[kind]
        results["warm"][kind] = warm(kind, cmd, kenv, events, out_dir, WARM)
    log(f"warm, verified user tokens: {WARM} invocations in one Rust process, each with a signed token")
    cmd, kenv = commands["rust"]
    events.user_token = signed_user_token(USER)
    results["verified"] = warm("rust-verified", cmd, dict(kenv, USER_TOKEN_JWT_SECRET=JWT_SECRET),
                               events, out_dir, WARM)
    events.user_token = USER
    log(f"concurrent mode: AWS_LAMBDA_MAX_CONCURRENCY={CONCURRENCY}, {WARM} invocations (Rust)")
    cmd, kenv = commands["rust"]
    results["concurrent"] = warm("rust", cmd, kenv, events, out_dir, WARM, concurrency=CONCURRENCY)

    results["failures"] = len(FAILURES)
    results["failure_samples"] = [f"{label} {rid}: {why[:300]}" for label, rid, why in FAILURES[:5]]
    results["invocations"] = events.count
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    results["summary"] = summarize(results)
    results["targets"] = targets(results, results["summary"])
    results["duration_s"] = round(time.monotonic() - started, 1)

    # Every invocation is an approval: the table must show exactly one unit used for each.
    used = units_used(env)
    results["table_check"] = {"units_used": used, "invocations": events.count,
                              "consistent": used == events.count}

    logs = RESULTS / "logs"  # the functions' stdout/stderr of this run, to look at
    subprocess.run(["rm", "-rf", str(logs)])
    shutil.copytree(out_dir, logs)

    text = report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(text)
    log(f"done in {results['duration_s']} s; bench/results/latest.md and latest.json written")
    status = 0
    if FAILURES:
        for line in results["failure_samples"]:
            print(f"bench: failed invocation: {line}", file=sys.stderr)
        print(f"bench: FAILED: {len(FAILURES)} invocations did not answer SUCCESS", file=sys.stderr)
        status = 1
    if not results["table_check"]["consistent"]:
        print(f"bench: FAILED: table check {results['table_check']}", file=sys.stderr)
        status = 1
    return status



def units_used(env):
    """The entitlement's `units_used`, read with one GetItem (`entitlements show` also queries
    every activation, which moto answers too slowly once there are thousands)."""
    import boto3

    client = boto3.client(
        "dynamodb", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
        verify=env["AWS_CA_BUNDLE"], aws_access_key_id="local", aws_secret_access_key="local",
    )
    item = client.get_item(
        TableName=env["TABLE_NAME"], Key={"pk": {"S": f"USER#{USER}"}, "sk": {"S": f"ENT#{ITEM}"}},
        ConsistentRead=True,
    )["Item"]
    return int(item["units_used"]["N"])


def setup(tmp, home):
    """moto behind the TLS proxy, the table and the entitlement; the functions' environment."""
    log("throwaway CA and server certificate")
    ca, cert, key = make_certs(tmp)
    moto_port, tls_port = free_port(), free_port()
    log(f"moto on 127.0.0.1:{moto_port}, TLS proxy on 127.0.0.1:{tls_port}")
    # scripts/moto_server.py, with transactions that do not copy the whole table (see there).
    moto = spawn([PY, str(ROOT / "bench/moto_server.py"), "-H", "127.0.0.1", "-p", str(moto_port),
                  "--exit-with-parent"], stdout=open(tmp / "moto.log", "wb"), stderr=subprocess.STDOUT)
    proxy = spawn([PY, str(ROOT / "bench/tls_proxy.py"), "--port", str(tls_port), "--target-port",
                   str(moto_port), "--cert", str(cert), "--key", str(key)],
                  stdout=open(tmp / "proxy.log", "wb"), stderr=subprocess.STDOUT)
    wait_port(moto_port, moto, "moto")
    wait_port(tls_port, proxy, "TLS proxy")

    # Trust what Lambda trusts (the system's roots) plus the throwaway CA, so loading the roots
    # costs what it costs there.
    bundle = tmp / "bundle.pem"
    bundle.write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes() + ca.read_bytes())

    table = "gigastore-bench"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),  # no ~/.aws files, as in Lambda
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL_DYNAMODB": f"https://127.0.0.1:{tls_port}",
        "SSL_CERT_FILE": str(bundle),
        "AWS_CA_BUNDLE": str(bundle),
        "TABLE_NAME": table,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "WEBHOOK_SECRETS": SECRET,
    }
    cli = str(ROOT / "target/release/entitlements")
    log("table and entitlement (through TLS: checks the CA is trusted)")
    run([cli, "create-table", "--template", str(ROOT / "template.yaml")], env=env)
    needed = 2 * (COLD + 1) + 3 * (WARM + 1) + 10
    # The CLI grants at most 100 units at once: one grant makes the entitlement, then the run's
    # units are set directly.
    run([cli, "grant", "--user-token", USER, "--item", ITEM, "--quantity", "100"], env=env)
    import boto3

    boto3.client(
        "dynamodb", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
        verify=env["AWS_CA_BUNDLE"], aws_access_key_id="local", aws_secret_access_key="local",
    ).update_item(
        TableName=table, Key={"pk": {"S": f"USER#{USER}"}, "sk": {"S": f"ENT#{ITEM}"}},
        UpdateExpression="SET units_granted = :n",
        ExpressionAttributeValues={":n": {"N": str(max(100000, 2 * needed))}},
    )
    return env, cli


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
