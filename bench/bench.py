"""Benchmark of activation-request (Rust) against Python 3 + boto3 and Node.js + AWS SDK v3
handlers doing the same approval. Run by ./bench/run.

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
# The user the grant run buys for: its own entitlement, apart from the approvals'.
GRANT_USER = "BENCH_GRANT_USER"
MIB = 1024 * 1024
NODE_DIR = ROOT / "bench" / "baseline-node"
# The trust store the functions load in Lambda: the system's bundle (Amazon Linux 2023's holds
# about as many roots as Debian's); the throwaway CA is appended to it.
SYSTEM_BUNDLE = Path(os.environ.get("BENCH_SYSTEM_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
SMALL_MEMORY_MB = 128
FULL_CPU_MB = 1769


def env_int(name, default, minimum):
    value = int(os.environ.get(name, default))
    if value < minimum:
        sys.exit(f"{name} must be at least {minimum}")
    return value


COLD = env_int("BENCH_COLD", 15, 1)
WARM = env_int("BENCH_WARM", 1000, 10)
CONCURRENCY = env_int("BENCH_CONCURRENCY", 8, 2)
# The "128 MB" mode: after init, each process runs under a CPU quota of 128/1769 of one CPU per
# period. AWS does not publish Lambda's period; BENCHMARKS.md has the run at 100 ms as well.
SMALL_COLD = env_int("BENCH_SMALL_COLD", 5, 1)
SMALL_WARM = env_int("BENCH_SMALL_WARM", 200, 10)
QUOTA_PERIOD_US = env_int("BENCH_QUOTA_PERIOD_US", 20000, 1000)
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
    """(utime, stime) in ns (all threads, live or dead) from /proc/<pid>/stat: coarse (clock
    ticks), a cross-check of schedstat and the split between user and kernel time."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * tick, int(fields[12]) * tick


class CpuQuota:
    """A cgroup (v2's `cpu.max` or v1's `cpu` controller) whose processes get `share` of one CPU
    per `period_us`. `unavailable` says why not, where the controller cannot be written."""

    def __init__(self, share, period_us):
        self.path, self.unavailable = None, None
        quota_us = max(1000, round(share * period_us))  # the kernel's minimum quota is 1 ms
        name = f"gigastore-bench-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        try:
            if v2.exists():
                if "cpu" not in v2.read_text().split():
                    raise OSError("the cgroup v2 hierarchy has no cpu controller")
                control = Path("/sys/fs/cgroup/cgroup.subtree_control")
                if "cpu" not in control.read_text().split():
                    control.write_text("+cpu")
                self.path = Path("/sys/fs/cgroup") / name
                self.path.mkdir()
                (self.path / "cpu.max").write_text(f"{quota_us} {period_us}")
            else:
                root = Path("/sys/fs/cgroup/cpu")
                if not (root / "cpu.cfs_quota_us").exists():
                    raise OSError("no cgroup v2 and no v1 cpu controller under /sys/fs/cgroup")
                self.path = root / name
                self.path.mkdir()
                (self.path / "cpu.cfs_period_us").write_text(str(period_us))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota_us))
        except OSError as e:
            self.unavailable = f"{e.__class__.__name__}: {e}"
            self.remove()
        self.quota_us, self.period_us = quota_us, period_us

    def add(self, pid):
        """Moves the process (all its threads) under the quota."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self):
        if self.path is not None:
            try:
                self.path.rmdir()  # only once its processes have exited
            except OSError:
                pass
            self.path = None


class Session:
    """One function process and the Runtime API it polls (its own port). With `quota`, the
    process is put under that CPU quota when its first /next arrives: after init, as in Lambda."""

    def __init__(self, label, check, quota=None):
        self.label = label
        self.check = check
        self.quota = quota
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
        if self.quota is not None and not self.polls:
            self.quota.add(self.proc.pid)
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
    return str(Path(cmd[-1]).parent) if cmd[-1].endswith((".py", ".mjs")) else None


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


def proxy_answer(body):
    """An API Gateway proxy response's status and JSON body, or None."""
    try:
        proxy = json.loads(body)
        inner = proxy.get("body") or ""
        if proxy.get("isBase64Encoded"):
            inner = base64.b64decode(inner).decode()
        return proxy.get("statusCode"), json.loads(inner)
    except (ValueError, AttributeError, TypeError):
        return None


def check_success(body):
    """The API Gateway proxy response must be 200 with {"returnCode":"SUCCESS",...}."""
    answer = proxy_answer(body)
    if answer and answer[0] == 200 and isinstance(answer[1], dict) and answer[1].get("returnCode") == "SUCCESS":
        return True, ""
    return False, f"not a SUCCESS: {body[:500]!r}"


def check_granted(body):
    """A new purchase: 201 with the purchase it recorded."""
    answer = proxy_answer(body)
    if answer and answer[0] == 201 and isinstance(answer[1], dict) and answer[1].get("purchaseId"):
        return True, ""
    return False, f"not a 201 grant: {body[:500]!r}"


def check_run(body):
    """A fulfilment run's report: a JSON object that counts what it did."""
    try:
        run = json.loads(body)
        if isinstance(run, dict) and "completed" in run:
            return True, ""
    except ValueError:
        pass
    return False, f"not a fulfilment run: {body[:500]!r}"


# --- events ---------------------------------------------------------------------------------


def api_event(template, body):
    """(request id, event): `template` with a fresh request id and `body` as its JSON body."""
    rid = str(uuid.uuid4())
    event = dict(template, body=json.dumps(body))
    event["requestContext"] = dict(template["requestContext"], requestId=rid)
    return rid, json.dumps(event).encode()


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
            out.append(api_event(self.template, {
                "inventoryItemId": ITEM,
                "userToken": self.user_token,
                "metaTag": f"order-{self.count}",
                "activationId": f"bench-{self.run}-{self.count}",
            }))
        return out


class Grants:
    """Signed `POST /purchases` events shaped like events/purchase-api/grant.json: one unit of
    ITEM for GRANT_USER, a fresh purchase id each."""

    def __init__(self):
        self.template = json.loads((ROOT / "events/purchase-api/grant.json").read_text())
        self.count = 0
        self.run = uuid.uuid4().hex[:8]

    def make(self, n):
        out = []
        for _ in range(n):
            self.count += 1
            out.append(api_event(self.template, {"purchaseId": f"bench-{self.run}-{self.count}",
                                                 "userToken": GRANT_USER, "inventoryItemId": ITEM,
                                                 "quantity": 1}))
        return out


class Schedules:
    """EventBridge Scheduler's events, which start a fulfilment run."""

    count = 0

    def make(self, n):
        self.count += n
        return [(str(uuid.uuid4()), json.dumps({"source": "aws.scheduler", "detail": {}}).encode())
                for _ in range(n)]


def signed_user_token(sub, ttl_s=3600):
    """An HS256 JWT naming `sub`, as a reseller's backend issues one (README)."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = b64(json.dumps({"sub": sub, "exp": int(time.time()) + ttl_s}, separators=(",", ":")).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


# --- the runs -------------------------------------------------------------------------------


def cold_start(label, cmd, env, events, out_dir, check=check_success, quota=None):
    session = Session(label, check, quota)
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


def warm(label, cmd, env, events, out_dir, n, concurrency=None, check=check_success, quota=None):
    session = Session(label, check, quota)
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
        user_ticks, kernel_ticks = (end - start for end, start in zip(ticks_end, ticks_start))
        # The kernel's share of the ticks: mostly TCP on loopback, where sending also runs the
        # receiving side (the proxy's, the harness's).
        kernel_share = kernel_ticks / max(1, user_ticks + kernel_ticks)
        result = {
            "n": n,
            "user_cpu_per_invocation_ms": (cpu_end - cpu_start) * (1 - kernel_share) / n / 1e6,
            "pollers": session.max_waiting,
            "threads": threads,
            "latency_median_ms": statistics.median(latencies),
            "latency_p99_ms": latencies[math.ceil(0.99 * len(latencies)) - 1],
            "latency_max_ms": latencies[-1],
            "cpu_per_invocation_ms": (cpu_end - cpu_start) / n / 1e6,
            "cpu_per_invocation_ticks_ms": (user_ticks + kernel_ticks) / n / 1e6,
            "kernel_share": kernel_share,
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


def node_version(out):
    """Node's version and the SDK's installed for the baseline."""
    if shutil.which("node") is None:
        return "no Node.js"
    try:
        lock = json.loads((NODE_DIR / "node_modules/@aws-sdk/client-dynamodb/package.json").read_text())
        sdk = f"@aws-sdk/client-dynamodb {lock['version']}"
    except (OSError, ValueError, KeyError):
        sdk = "SDK not installed"
    return f"Node.js {out(['node', '--version'])}, {sdk}"


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
        "node": node_version(out),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- report ---------------------------------------------------------------------------------


def median(rows, key):
    return statistics.median(r[key] for r in rows)


COLD_KEYS = ("init_ms", "cpu_first_next_ms", "cpu_first_invocation_ms", "cpu_init_plus_first_ms",
             "first_invocation_wall_ms", "log_bytes_init", "log_bytes_first_invocation",
             "rss_after_first_kib")
WARM_KEYS = ("cpu_per_invocation_ms", "latency_median_ms", "latency_p99_ms", "peak_rss_kib",
             "throughput_per_s", "log_bytes_per_invocation", "kernel_share", "user_cpu_per_invocation_ms")


def summarize_cold(rows):
    s = {k: median(rows, k) for k in COLD_KEYS}
    s["init_ms_min"] = min(r["init_ms"] for r in rows)
    s["init_ms_max"] = max(r["init_ms"] for r in rows)
    return s


def summarize(results):
    """Medians of every cold series; the warm runs' figures beside them."""
    s = {}
    for kind, rows in results["cold"].items():
        s[kind] = summarize_cold(rows)
        if kind in results["warm"]:
            s[kind].update({k: results["warm"][kind][k] for k in WARM_KEYS})
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
    r, p, n = s["rust"], s["python"], s.get("node")
    sizes = results["sizes"]
    x86 = max(v["bytes"] for v in sizes["x86_64"].values())
    arm = max((v["bytes"] for v in sizes["arm64"].values()), default=None)
    t = [
        ("init (wall) <= 0.05x Python, full CA bundle", ratio(r["init_ms"], p["init_ms"]), "x", 0.05),
        ("CPU at the first /next <= 0.02x Python, full CA bundle",
         ratio(r["cpu_first_next_ms"], p["cpu_first_next_ms"]), "x", 0.02),
        ("CPU inside the first invocation after a cold start <= 2 ms", r["cpu_first_invocation_ms"], "ms", 2.0),
        ("CPU init + first invocation <= 0.05x Python", ratio(r["cpu_init_plus_first_ms"], p["cpu_init_plus_first_ms"]), "x", 0.05),
        ("warm CPU per approved activation <= 0.15x Python", ratio(r["cpu_per_invocation_ms"], p["cpu_per_invocation_ms"]), "x", 0.15),
        ("warm CPU per approved activation <= 0.10x Node",
         ratio(r["cpu_per_invocation_ms"], n and n["cpu_per_invocation_ms"]), "x", 0.10),
        (f"peak RSS after {results['warm']['rust']['n'] + 1} activations <= 16 MiB", r["peak_rss_kib"] * 1024 / MIB, "MiB", 16.0),
        ("stripped binary x86_64 <= 6 MiB (largest function)", x86 / MIB, "MiB", 6.0),
        ("stripped binary arm64 <= 6 MiB (largest function)", None if arm is None else arm / MIB, "MiB", 6.0),
    ]
    return [
        {"target": name, "measured": v, "unit": unit, "limit": limit,
         "met": None if v is None else v <= limit}
        for name, v, unit, limit in t
    ]


BASELINES = (("python", "Python"), ("node", "Node"))


def table(lines, s, rows, kinds=("rust", "python", "node")):
    """A Markdown table of `rows` (name, key, unit) for `kinds`, with Rust's ratio to each
    baseline present."""
    present = [k for k in kinds if k in s]
    base = [(k, name) for k, name in BASELINES if k in present]
    names = {"rust": "Rust", "python": "Python", "node": "Node"}
    lines.append("| metric | " + " | ".join(names[k] for k in present) + " | "
                 + " | ".join(f"Rust/{name}" for _, name in base) + " |")
    lines.append("|---|" + "---:|" * (len(present) + len(base)))
    for name, key, unit in rows:
        scale = 1024 if unit == "MiB" else 1
        values = {k: (None if s[k].get(key) is None else s[k][key] * scale) for k in present}
        ratios = [ratio(values["rust"], values[b]) for b, _ in base]
        lines.append(f"| {name} | " + " | ".join(fmt(values[k], unit) for k in present) + " | "
                     + " | ".join("n/a" if q is None else f"{q:.3f}" for q in ratios) + " |")


def report(results):
    s = results["summary"]
    r = s["rust"]
    m = results["machine"]
    t = results["trust"]
    lines = [
        "# activation-request benchmark: Rust vs. Python 3 + boto3 and Node.js + AWS SDK v3",
        "",
    ]
    if results["failures"] or not results["table_check"]["consistent"]:
        lines += [
            f"**FAILED: {results['failures']} invocations did not answer as expected; table "
            f"{'consistent' if results['table_check']['consistent'] else 'INCONSISTENT'} "
            f"({results['table_check']}).**",
            "",
        ]
    lines += [
        f"{m['date']}; commit `{m['git_commit'][:12]}`{' (with uncommitted changes)' if m['git_dirty'] else ''}; "
        f"{m['nproc']} CPUs ({m['cpu_model']}), kernel {m['kernel']}, {m['mem_total_mib']} MiB; "
        f"load average at start {' '.join(m['loadavg_start'])}, at the end {' '.join(m['loadavg_end'])}; "
        f"{m['rustc']}; Python {m['python']}, boto3 {m['boto3']}; {m['node']}.",
        "",
        f"Cold starts: {results['params']['cold']} each (medians; first one of each discarded as page-cache warm-up). "
        f"Warm: {results['params']['warm']} approved activations in one process after its first. "
        "Every invocation is an approved activation: one TransactWriteItems over TLS (a Python proxy, "
        "throwaway CA) to moto on loopback (bench/moto_server.py: transactions cost O(1) in the table size). "
        f"Trust: Rust and Python load `{t['bundle']}` ({t['roots']} roots) with the throwaway CA appended "
        "(`SSL_CERT_FILE`, `AWS_CA_BUNDLE`); Node keeps its compiled-in roots and adds the CA "
        "(`NODE_EXTRA_CA_CERTS`), as its runtime does in Lambda. "
        "Compare ratios: absolute numbers move with the machine's load.",
        "",
    ]
    if results.get("node_skipped"):
        lines += [f"**Node baseline skipped: {results['node_skipped']}.**", ""]
    table(lines, s, [
        ("init (spawn -> first /next)", "init_ms", "ms"),
        ("CPU at first /next", "cpu_first_next_ms", "ms"),
        ("CPU of the first invocation", "cpu_first_invocation_ms", "ms"),
        ("CPU init + first invocation", "cpu_init_plus_first_ms", "ms"),
        ("wall time of the first invocation", "first_invocation_wall_ms", "ms"),
        ("warm CPU per invocation", "cpu_per_invocation_ms", "ms"),
        ("- of which in user space (split by utime/stime ticks)", "user_cpu_per_invocation_ms", "ms"),
        ("warm latency median", "latency_median_ms", "ms"),
        ("warm latency p99", "latency_p99_ms", "ms"),
        (f"peak RSS (VmHWM) after {results['params']['warm'] + 1} invocations", "peak_rss_kib", "MiB"),
        ("RSS (VmHWM) after the first invocation", "rss_after_first_kib", "MiB"),
        ("log bytes written at init (stdout+stderr)", "log_bytes_init", " B"),
        ("log bytes of the first invocation", "log_bytes_first_invocation", " B"),
        ("log bytes per warm invocation", "log_bytes_per_invocation", " B"),
    ])
    one = s["rust-1ca"]
    lines += [
        "",
        "Spread of init over the cold starts: "
        + ", ".join(f"{k} {fmt(s[k]['init_ms_min'], 'ms')} .. {fmt(s[k]['init_ms_max'], 'ms')}"
                    for k in ("rust", "python", "node") if k in s) + ".",
        "",
        f"**Trust store.** Rust's cold starts with a file of one CA instead of the full bundle: init "
        f"{fmt(one['init_ms'], 'ms')} (full bundle {fmt(r['init_ms'], 'ms')}), CPU at first /next "
        f"{fmt(one['cpu_first_next_ms'], 'ms')} (full bundle {fmt(r['cpu_first_next_ms'], 'ms')}; "
        f"{r['cpu_first_next_ms'] / one['cpu_first_next_ms']:.2f}x).",
        "",
        f"**The local harness in init's wall time.** A process that only connects to the TLS proxy, "
        f"makes one handshake (same CA) and waits for moto's answer to one request takes "
        f"{fmt(results['harness']['handshake_and_request_ms'], 'ms')} (median of "
        f"{results['harness']['n']}), of which its own CPU is {fmt(results['harness']['cpu_ms'], 'ms')}: "
        "that wait is the proxy's and moto's (Python, on the same two cores), not the function's. "
        f"Rust's init minus that wait: {fmt(r['init_ms'] - results['harness']['wait_ms'], 'ms')}.",
    ]

    sizes = results["sizes"]
    pkg = results["python_package_bytes"]
    lines += ["", "## Sizes", "", "| binary | x86_64 | arm64 |", "|---|---:|---:|"]
    for name, v in sizes["x86_64"].items():
        arm = sizes["arm64"].get(name)
        lines.append(f"| {name} | {fmt(v['bytes'], 'MiB')} | {fmt(arm and arm['bytes'], 'MiB')} |")
    lines += [
        "",
        f"Python's deployment package if it bundles boto3 (handler.py, boto3 and its dependencies, "
        f".py and data files; no interpreter): {fmt(pkg, 'MiB')}. "
        + (f"Node's if it bundles the SDK (node_modules): {fmt(results['node_package_bytes'], 'MiB')}; "
           "Lambda's nodejs20.x runtime includes SDK v3." if results.get("node_package_bytes") else ""),
    ]
    if sizes["arm64_note"]:
        lines.append(f"arm64 sizes: {sizes['arm64_note']}")
    for kind, v in sizes["x86_64"].items():
        if not v["stripped"]:
            lines.append(f"Note: {kind} (x86_64) still has a symbol table.")

    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for tg in results["targets"]:
        v = tg["measured"]
        shown = "n/a" if v is None else (f"{v:.3f}x" if tg["unit"] == "x" else f"{v:.2f} {tg['unit']}")
        met = "?" if tg["met"] is None else ("yes" if tg["met"] else "**no**")
        lines.append(f"| {tg['target']} | {shown} | {met} |")

    small = results["small"]
    lines += ["", f"## At a {SMALL_MEMORY_MB} MB function's CPU share", ""]
    if small.get("skipped"):
        lines.append(f"**Skipped: {small['skipped']}.**")
    else:
        lines += [
            f"After init (unthrottled, as in Lambda), each process runs in a cgroup with a CPU quota of "
            f"{small['quota_us']} us per {small['period_us']} us ({SMALL_MEMORY_MB}/{FULL_CPU_MB} of one CPU). "
            f"Cold: {SMALL_COLD} cold starts each (medians). Warm: {SMALL_WARM} invocations, sent one after another.",
            "",
        ]
        table(lines, small["summary"], [
            ("first invocation after a cold start, wall", "first_invocation_wall_ms", "ms"),
            ("warm latency median", "latency_median_ms", "ms"),
            ("warm latency p99", "latency_p99_ms", "ms"),
            ("warm CPU per invocation", "cpu_per_invocation_ms", "ms"),
        ])

    w = results["warm"]["rust"]
    v = results["verified"]
    lines += [
        "",
        "## New paths",
        "",
        "**Verified user tokens** (HS256; one Rust process after its first invocation):",
        "",
        "| | plain user token | verified token | ratio |",
        "|---|---:|---:|---:|",
        f"| CPU per invocation | {fmt(w['cpu_per_invocation_ms'], 'ms')} | {fmt(v['cpu_per_invocation_ms'], 'ms')} | {v['cpu_per_invocation_ms'] / w['cpu_per_invocation_ms']:.2f} |",
        f"| latency median / p99 | {fmt(w['latency_median_ms'], 'ms')} / {fmt(w['latency_p99_ms'], 'ms')} | {fmt(v['latency_median_ms'], 'ms')} / {fmt(v['latency_p99_ms'], 'ms')} | |",
        "",
        "**The purchase API and the top-up worker** (Rust; cold starts interleaved with the others, "
        "medians; the grant's warm run is one process after its first):",
        "",
        "| function | init | CPU at first /next | CPU of the first invocation | warm CPU per invocation | warm latency median / p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, what in (("purchase-api", "purchase-api, a grant (`POST /purchases`)"),
                       ("fulfilment", "fulfilment (top-up worker), a scheduled run with nothing due")):
        c = s[kind]
        g = results["warm"].get(kind)
        lines.append(
            f"| {what} | {fmt(c['init_ms'], 'ms')} | {fmt(c['cpu_first_next_ms'], 'ms')} | "
            f"{fmt(c['cpu_first_invocation_ms'], 'ms')} | "
            + (f"{fmt(g['cpu_per_invocation_ms'], 'ms')} | {fmt(g['latency_median_ms'], 'ms')} / {fmt(g['latency_p99_ms'], 'ms')} |"
               if g else "n/a | n/a |"))

    if results["variants"]:
        lines += [
            "",
            "## Variants (BENCH_RUST_VARIANTS)",
            "",
            "| build | init | CPU at first /next | CPU of the first invocation | warm CPU per invocation | vs. rust | warm latency median / p99 | peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label in ["rust"] + [f"variant:{name}" for name in results["variants"]]:
            c = s[label]
            lines.append(
                f"| {label} | {fmt(c['init_ms'], 'ms')} | {fmt(c['cpu_first_next_ms'], 'ms')} | "
                f"{fmt(c['cpu_first_invocation_ms'], 'ms')} | {fmt(c['cpu_per_invocation_ms'], 'ms')} | "
                f"{c['cpu_per_invocation_ms'] / r['cpu_per_invocation_ms']:.3f} | "
                f"{fmt(c['latency_median_ms'], 'ms')} / {fmt(c['latency_p99_ms'], 'ms')} | "
                f"{fmt(c['peak_rss_kib'] * 1024, 'MiB')} |")

    c = results["concurrent"]
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
        f"Threads at the end of the warm run: "
        + ", ".join(f"{k} {results['warm'][k]['threads']}" for k in ("rust", "python", "node") if k in results["warm"])
        + f". Run took {results['duration_s']:.0f} s.",
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


def variants():
    """BENCH_RUST_VARIANTS="label=/path/to/binary,...": other builds of activation-request,
    measured in the same run as the main one (cold and warm)."""
    out = {}
    for entry in filter(None, (e.strip() for e in os.environ.get("BENCH_RUST_VARIANTS", "").split(","))):
        label, sep, path = entry.partition("=")
        if not sep or not label or not Path(path).is_file():
            raise BenchError(f"BENCH_RUST_VARIANTS: {entry!r} is not label=/path/to/an/existing/binary")
        out[label] = path
    return out


def node_baseline(env, ca):
    """The Node.js baseline's command and environment, or why it cannot run."""
    status = os.environ.get("BENCH_NODE_STATUS", "ok")  # bench/run's: node and npm ci
    if status != "ok":
        return None, status
    if shutil.which("node") is None:
        return None, "node is not installed"
    if not (NODE_DIR / "node_modules" / "@aws-sdk" / "client-dynamodb").is_dir():
        return None, f"its dependencies are not installed (npm ci --prefix {NODE_DIR.relative_to(ROOT)})"
    # Node keeps its compiled-in roots, as in Lambda; the throwaway CA is added to them.
    # The SDK would warn once on stderr that its later releases need Node.js 22.
    env = dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request-node", NODE_EXTRA_CA_CERTS=str(ca),
               AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="true")
    for name in ("SSL_CERT_FILE", "AWS_CA_BUNDLE"):
        env.pop(name, None)
    return (["node", str(NODE_DIR / "runtime.mjs")], env), None


def node_package_bytes():
    modules = NODE_DIR / "node_modules"
    if not modules.is_dir():
        return None
    return sum(f.stat().st_size for f in modules.rglob("*") if f.is_file()) + (NODE_DIR / "handler.mjs").stat().st_size


def harness_wait(ca, port, n=10):
    """What init waits for that is the harness's: a TLS handshake with the proxy and one request
    answered by moto, from a small Python process (its own CPU measured apart)."""
    code = (
        "import http.client, json, ssl, sys, time\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
        "t0 = time.perf_counter_ns(); c0 = time.process_time_ns()\n"
        "conn = http.client.HTTPSConnection('127.0.0.1', int(sys.argv[2]), context=ctx)\n"
        "conn.request('POST', '/', body=b'{}', headers={'X-Amz-Target': 'DynamoDB_20120810.ListTables',"
        " 'Content-Type': 'application/x-amz-json-1.0', 'Authorization': 'AWS4-HMAC-SHA256 "
        "Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0'})\n"
        "conn.getresponse().read()\n"
        "print(json.dumps([(time.perf_counter_ns() - t0) / 1e6, (time.process_time_ns() - c0) / 1e6]))\n"
    )
    walls, cpus = [], []
    for _ in range(n + 1):
        wall, cpu = json.loads(run([PY, "-c", code, str(ca), str(port)]))
        walls.append(wall)
        cpus.append(cpu)
    walls, cpus = walls[1:], cpus[1:]  # the first warms the page cache
    return {"n": n, "handshake_and_request_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus),
            "wait_ms": statistics.median(w - c for w, c in zip(walls, cpus))}


def bench(tmp, home, arm64_status):
    started = time.monotonic()
    results = {
        "params": {"cold": COLD, "warm": WARM, "concurrency": CONCURRENCY, "small_cold": SMALL_COLD,
                   "small_warm": SMALL_WARM, "quota_period_us": QUOTA_PERIOD_US},
        "machine": machine_facts(),
        "sizes": binary_sizes(arm64_status),
        "python_package_bytes": python_package_bytes(),
        "node_package_bytes": node_package_bytes(),
    }

    env, ca, roots, tls_port = setup(tmp, home)
    results["trust"] = {"bundle": str(SYSTEM_BUNDLE), "roots": roots}
    rust = [os.environ.get("BENCH_RUST_BIN") or str(ROOT / "target/release/activation-request")]
    kinds = {
        # BENCH_RUST_BIN: another build of the function, e.g. one with symbols for `perf`.
        "rust": (rust, dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request")),
        "python": ([PY, str(ROOT / "bench/baseline/runtime.py")],
                   dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request-python")),
    }
    node, results["node_skipped"] = node_baseline(env, ca)
    if node:
        kinds["node"] = node
    else:
        log(f"Node baseline skipped: {results['node_skipped']}")
    results["variants"] = variants()
    approvals = dict(kinds)
    approvals["rust-1ca"] = (rust, dict(env, AWS_LAMBDA_FUNCTION_NAME="activation-request", SSL_CERT_FILE=str(ca)))
    for label, path in results["variants"].items():
        approvals[f"variant:{label}"] = ([path], kinds["rust"][1])
    events, grants, schedules = Events(), Grants(), Schedules()
    # The other paths: what a grant costs, and the top-up worker's init (nothing due: its first
    # run reads gsi2 and finds nothing; Gigastore is never called).
    paths = {
        "purchase-api": ([str(ROOT / "target/release/purchase-api")],
                         dict(env, AWS_LAMBDA_FUNCTION_NAME="purchase-api"), grants, check_granted),
        "fulfilment": ([str(ROOT / "target/release/fulfilment")],
                       dict(env, AWS_LAMBDA_FUNCTION_NAME="fulfilment", GIGASTORE_API_URL="https://127.0.0.1:9",
                            GIGASTORE_CLIENT_ID="bench", GIGASTORE_CLIENT_SECRET="bench-only"),
                       schedules, check_run),
    }
    out_dir = tmp / "logs"
    out_dir.mkdir()

    results["harness"] = harness_wait(ca, tls_port)
    results["cold"] = {k: [] for k in list(approvals) + list(paths)}
    log(f"cold starts: {COLD} each of {', '.join(results['cold'])}, interleaved (one discarded warm-up each first)")
    for i in range(COLD + 1):
        for kind, (cmd, kenv) in approvals.items():
            r = cold_start(f"{kind}-cold-{i}", cmd, kenv, events, out_dir)
            if i > 0:
                results["cold"][kind].append(r)
        for kind, (cmd, kenv, maker, check) in paths.items():
            r = cold_start(f"{kind}-cold-{i}", cmd, kenv, maker, out_dir, check)
            if i > 0:
                results["cold"][kind].append(r)
    results["warm"] = {}
    for kind in list(kinds) + [f"variant:{label}" for label in results["variants"]]:
        log(f"warm: {WARM} invocations in one {kind} process")
        cmd, kenv = approvals[kind]
        results["warm"][kind] = warm(f"{kind}-warm", cmd, kenv, events, out_dir, WARM)
    log(f"warm: {WARM} grants in one purchase-api process")
    cmd, kenv, maker, check = paths["purchase-api"]
    results["warm"]["purchase-api"] = warm("purchase-api-warm", cmd, kenv, maker, out_dir, WARM, check=check)
    log(f"warm, verified user tokens: {WARM} invocations in one Rust process, each with a signed token")
    cmd, kenv = kinds["rust"]
    events.user_token = signed_user_token(USER)
    results["verified"] = warm("rust-verified", cmd, dict(kenv, USER_TOKEN_JWT_SECRET=JWT_SECRET),
                               events, out_dir, WARM)
    events.user_token = USER
    log(f"concurrent mode: AWS_LAMBDA_MAX_CONCURRENCY={CONCURRENCY}, {WARM} invocations (Rust)")
    results["concurrent"] = warm("rust-concurrent", cmd, kenv, events, out_dir, WARM, concurrency=CONCURRENCY)

    quota = CpuQuota(SMALL_MEMORY_MB / FULL_CPU_MB, QUOTA_PERIOD_US)
    if quota.unavailable:
        results["small"] = {"skipped": f"no writable cgroup cpu controller ({quota.unavailable})"}
        log(f"{SMALL_MEMORY_MB} MB mode skipped: {results['small']['skipped']}")
    else:
        try:
            small = {"quota_us": quota.quota_us, "period_us": quota.period_us, "cold": {}, "warm": {}}
            log(f"{SMALL_MEMORY_MB} MB mode: {quota.quota_us} us per {quota.period_us} us after init; "
                f"{SMALL_COLD} cold starts and {SMALL_WARM} warm invocations each")
            for i in range(SMALL_COLD):
                for kind, (cmd, kenv) in kinds.items():
                    small["cold"].setdefault(kind, []).append(
                        cold_start(f"{kind}-small-cold-{i}", cmd, kenv, events, out_dir, quota=quota))
            for kind, (cmd, kenv) in kinds.items():
                small["warm"][kind] = warm(f"{kind}-small-warm", cmd, kenv, events, out_dir, SMALL_WARM, quota=quota)
            small["summary"] = summarize(small)
            results["small"] = small
        finally:
            quota.remove()

    results["failures"] = len(FAILURES)
    results["failure_samples"] = [f"{label} {rid}: {why[:300]}" for label, rid, why in FAILURES[:5]]
    results["invocations"] = events.count + grants.count + schedules.count
    results["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    results["summary"] = summarize(results)
    results["targets"] = targets(results, results["summary"])
    results["duration_s"] = round(time.monotonic() - started, 1)

    # Every approval must show as exactly one unit used.
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
        print(f"bench: FAILED: {len(FAILURES)} invocations did not answer as expected", file=sys.stderr)
        status = 1
    if not results["table_check"]["consistent"]:
        print(f"bench: FAILED: table check {results['table_check']}", file=sys.stderr)
        status = 1
    return status


def dynamodb(env):
    """A boto3 client of the bench's table, through the TLS proxy."""
    import boto3

    return boto3.client(
        "dynamodb", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"],
        verify=env["AWS_CA_BUNDLE"], aws_access_key_id="local", aws_secret_access_key="local",
    )


def units_used(env):
    """The entitlement's `units_used`, read with one GetItem (`entitlements show` also queries
    every activation, which moto answers too slowly once there are thousands)."""
    item = dynamodb(env).get_item(
        TableName=env["TABLE_NAME"], Key={"pk": {"S": f"USER#{USER}"}, "sk": {"S": f"ENT#{ITEM}"}},
        ConsistentRead=True,
    )["Item"]
    return int(item["units_used"]["N"])


def setup(tmp, home):
    """moto behind the TLS proxy, the table and the entitlement; the functions' environment."""
    log("throwaway CA and server certificate")
    ca, cert, key = make_certs(tmp)
    try:
        system = SYSTEM_BUNDLE.read_text()
    except OSError as e:
        raise BenchError(f"{SYSTEM_BUNDLE}: {e} (BENCH_SYSTEM_BUNDLE names another CA bundle)")
    roots = system.count("-----BEGIN CERTIFICATE-----")
    if roots < 100:
        raise BenchError(f"{SYSTEM_BUNDLE} holds {roots} roots: not a system bundle like Lambda's")
    bundle = tmp / "bundle.pem"
    bundle.write_text(system.rstrip("\n") + "\n" + ca.read_text())
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
    needed = 5 * (COLD + 1) + 6 * (WARM + 1) + 3 * (SMALL_COLD + SMALL_WARM + 1) + 10
    # A purchase holds at most 100 units: one grant makes the entitlement, which is then given
    # enough units for the run directly (the bench never refunds, so no purchase needs them).
    run([cli, "grant", "--user-token", USER, "--item", ITEM, "--quantity", "100"], env=env)
    dynamodb(env).update_item(
        TableName=table, Key={"pk": {"S": f"USER#{USER}"}, "sk": {"S": f"ENT#{ITEM}"}},
        UpdateExpression="SET units_granted = :n", ExpressionAttributeValues={":n": {"N": str(max(100000, 2 * needed))}},
    )
    return env, ca, roots, tls_port


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
