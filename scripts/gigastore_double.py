"""A local double of Gigastore's partner REST API, for tests and local runs. Standard library only.

It implements only what Gigastore documents (../shared/gigastore-api.md; our account of it is
docs/gigastore-contract.md, "Gigastore's REST API: what we call"), and answers where the docs are
silent the way that is worst for a client: a top-up is never idempotent (the same metatag or
idempotency-key charges again), and error bodies have no documented shape (a 4xx here is
{"status": "error", "message": "..."}, which no client may rely on).

Gigastore's API:
  POST /reseller/authenticate                   Basic <clientId:clientSecret> -> accessToken (24 h)
  GET  /gigastore/products/inventory            the fixed catalogue below
  GET  /gigastore/activations/customers/{uid}   customer, totalAvailableBalance, activatedItems, relatedEsims
  POST /gigastore/activations/top-up            charges the reseller's credit, creates an activatedItem
  POST /activations/activated-items/{uid}/refund   credits back, once, valid and unused items only

Control endpoints (not Gigastore's), JSON in and out:
  POST /_double/reset     forget everything: customers, ledger, faults, tokens, counts; credit 100.00
  POST /_double/seed      {"credit"?: "100.00", "refundLimit"?: 5,
                           "customers"?: [{"uid", "countrySet", "email"?}]}
                          customers exist only through a first package, bought through the SDK
                          outside this API: seeding stands for it. credit is the reseller's account.
  POST /_double/use       {"activatedItemUid"}: the item's data is being used (no refund any more)
  GET  /_double/ledger    {"credit", "entries": [{"seq", "kind": "charge"|"refund", "customerUid",
                           "inventoryItemId", "metatag", "activatedItemUid", "amount", "currency",
                           "idempotencyKey"}]}: every charge and refund, in order
  GET  /_double/calls     {"authentications", "tokens": [every token issued],
                           "requests": [{"method", "path", "status", "idempotencyKey"}]}
                          ("status" null when the connection was dropped or hung without answer)
  POST /_double/faults    {"fault", "times"?: 1, "method"?, "path"?, ...}: the next `times` calls
                          that match (method, and path prefix; without a path, every call but
                          /reseller/authenticate) misbehave:
      "500_before"   answer 500 without doing anything
      "500_after"    do it (commit), then answer 500
      "drop_after"   do it, then close the connection without an answer
      "hang"         {"seconds"?: 30, "commit"?: true}: do it first (commit true, the default), or
                     never (false), and send nothing for `seconds`, then close the connection
                     (longer than any client's deadline: the answer is lost)
      "expire_token" answer 401 as if the token had expired; that token is no longer valid
      "refuse"       {"status": 400, "body"?: any JSON}: answer that, without doing anything
      "listing_lag"  {"reads"?: N} the customer's next N reads omit its newest activated item, or
                     {"seconds": S} items younger than S seconds are omitted from every read until
                     reset (a listing may lag: read-after-write is not documented)

Usage: gigastore_double.py [--host 127.0.0.1] [--port 0] [--client-id ID] [--client-secret S]
                           [--exit-with-parent]
Prints the port it listens on (one line, the number alone) once it accepts connections; logs go to
stderr. --port 0 picks a free port. Credentials default to $GIGASTORE_DOUBLE_CLIENT_ID and
$GIGASTORE_DOUBLE_CLIENT_SECRET, else double-client-id / double-client-secret.
"""
import argparse
import base64
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

TOKEN_SECONDS = 86400
DEFAULT_CREDIT = Decimal("100.00")
DEFAULT_REFUND_LIMIT = 5
FAULTS = {"500_before", "500_after", "drop_after", "hang", "expire_token", "refuse", "listing_lag"}


def price(value, currency="USD", index=0):
    return {"sortIndex": index, "priceValue": value, "currencyCode": currency}


def item(id_, name, size, unit, days, country_set, cost, retail):
    return {
        "id": id_, "productId": f"product-{id_}", "name": name,
        "sizeValue": size, "sizeUnit": unit,
        "validitySize": days, "validityUnit": "days", "validityUnlimited": False,
        "countrySet": country_set,
        "prices": [price(cost)],            # what Gigastore charges the reseller
        "retailPrices": [price(retail)],    # what expectedPrice must equal
    }


CATALOGUE = [
    item("1_GB", "1 GB Worldwide", 1, "GB", 7, "WWW", 2.50, 4.99),
    item("5_GB", "5 GB Worldwide", 5, "GB", 30, "WWW", 9.00, 17.99),
    item("EU_3_GB", "3 GB Europe", 3, "GB", 30, "EU", 4.00, 7.99),
    item("DE_10_GB", "10 GB Germany", 10, "GB", 30, "DE", 6.00, 11.49),
]


def now():
    return datetime.now(timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Refusal(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class State:
    """Everything the double knows, behind one lock."""

    def __init__(self, client_id, client_secret):
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.tokens = {}          # token -> expiry (epoch seconds)
        self.issued = []
        self.authentications = 0
        self.customers = {}       # uid -> customer
        self.items = {}           # activated item uid -> (customer uid, item)
        self.ledger = []
        self.credit = DEFAULT_CREDIT
        self.refund_limit = DEFAULT_REFUND_LIMIT
        self.refunds = 0
        self.faults = []
        self.lag_reads = 0
        self.lag_seconds = 0.0
        self.requests = []

    # -- faults ---------------------------------------------------------------------------
    def take_fault(self, method, path):
        for fault in self.faults:
            if fault["fault"] == "listing_lag":
                continue
            if fault.get("method") and fault["method"].upper() != method:
                continue
            prefix = fault.get("path")
            if prefix is None and path == "/reseller/authenticate":
                continue
            if prefix is not None and not path.startswith(prefix):
                continue
            if fault["fault"] == "expire_token" and path == "/reseller/authenticate":
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                self.faults.remove(fault)
            return fault
        return None

    # -- Gigastore's API ------------------------------------------------------------------
    def authenticate(self, header):
        expected = "Basic " + base64.b64encode(
            f"{self.client_id}:{self.client_secret}".encode()).decode()
        if not secrets.compare_digest(header or "", expected):
            raise Refusal(401, "invalid client credentials")
        self.authentications += 1
        claims = {"sub": self.client_id, "iat": int(time.time()),
                  "exp": int(time.time()) + TOKEN_SECONDS, "jti": uuid.uuid4().hex}
        token = ".".join([b64url(b'{"alg":"RS256","typ":"JWT"}'),
                          b64url(json.dumps(claims).encode()), b64url(secrets.token_bytes(32))])
        self.tokens[token] = time.time() + TOKEN_SECONDS
        self.issued.append(token)
        return {"accessToken": token, "expiresIn": TOKEN_SECONDS, "refreshToken": None,
                "refreshExpiresIn": 0, "tokenType": "Bearer", "idToken": None}

    def bearer(self, header):
        token = (header or "")[len("Bearer "):] if (header or "").startswith("Bearer ") else None
        if token is None or self.tokens.get(token, 0) < time.time():
            raise Refusal(401, "invalid or expired token")
        return token

    def catalogue_item(self, item_id):
        for entry in CATALOGUE:
            if entry["id"] == item_id:
                return entry
        return None

    def customer_view(self, uid):
        customer = self.customers.get(uid)
        if customer is None:
            raise Refusal(404, "customer not found")
        items = list(customer["items"])
        if self.lag_reads > 0 and items:
            self.lag_reads -= 1
            items = items[:-1]
        if self.lag_seconds > 0:
            cutoff = time.time() - self.lag_seconds
            items = [i for i in items if i["_created"] <= cutoff]
        available_mb = sum(i["balance"]["availableBalance"]["sizeValue"] for i in items
                           if not i["_refunded"])
        return {
            "customer": {"email": customer["email"], "uid": uid,
                         "profileUrl": f"https://double.invalid/profiles/{uid}"},
            "totalAvailableBalance": {"sizeValue": available_mb, "sizeUnit": "MB"},
            "activatedItems": [public(i) for i in items],
            "relatedEsims": [customer["esim"]],
        }

    def top_up(self, body, idempotency_key):
        if not isinstance(body, dict):
            raise Refusal(400, "a JSON object is required")
        for field in ("inventoryItemId", "customerUid"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise Refusal(400, f"{field} is required")
        metatag = body.get("metatag")
        if metatag is not None and not isinstance(metatag, str):
            raise Refusal(400, "metatag must be a string")
        customer = self.customers.get(body["customerUid"])
        if customer is None:
            raise Refusal(404, "customer not found")
        entry = self.catalogue_item(body["inventoryItemId"])
        if entry is None:
            raise Refusal(404, "inventory item not found")
        if entry["countrySet"] != customer["countrySet"]:
            raise Refusal(400, "country set of the item does not match the customer's")
        mode = body.get("activationMode", "NOW")
        if mode not in ("NOW", "FIRST_USE", "ON_DEMAND"):
            raise Refusal(400, "unknown activationMode")
        if mode == "ON_DEMAND" and len(entry["countrySet"]) == 2:
            raise Refusal(400, "ON_DEMAND is for worldwide and regional packages only")
        expected = body.get("expectedPrice")
        if expected is not None:
            if not isinstance(expected, dict) or "priceValue" not in expected:
                raise Refusal(400, "expectedPrice is invalid")
            retail = entry["retailPrices"][0]
            value = expected["priceValue"]
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or \
                    Decimal(value) != Decimal(str(retail["priceValue"])) or \
                    expected.get("currencyCode") != retail["currencyCode"]:
                raise Refusal(400, "expected price does not match the retail price")
        cost = Decimal(str(entry["prices"][0]["priceValue"]))
        if self.credit < cost:
            raise Refusal(400, "insufficient credit")
        self.credit -= cost
        created = now()
        size_mb = entry["sizeValue"] * (1024 if entry["sizeUnit"] == "GB" else 1)
        activated = {
            "uid": str(uuid.uuid4()),
            "metatag": metatag,
            "balance": {
                "activatedAt": iso(created) if mode == "NOW" else None,
                "expiresAt": iso(created + timedelta(days=entry["validitySize"]))
                if mode == "NOW" else None,
                "activationMode": mode,
                "name": entry["name"],
                "size": {"sizeValue": size_mb, "sizeUnit": "MB"},
                "availableBalance": {"sizeValue": size_mb, "sizeUnit": "MB"},
                "validitySize": entry["validitySize"],
                "validityUnit": entry["validityUnit"],
            },
            "_created": time.time(), "_used": False, "_refunded": False,
            "_inventoryItemId": entry["id"], "_cost": cost,
        }
        customer["items"].append(activated)
        self.items[activated["uid"]] = (customer["uid"], activated)
        self.record("charge", customer["uid"], activated, cost, idempotency_key)
        return {"status": "success", "activatedItem": public(activated),
                "customer": {"email": customer["email"], "uid": customer["uid"],
                             "profileUrl": f"https://double.invalid/profiles/{customer['uid']}"},
                "esimProfile": None}

    def refund(self, activated_uid):
        found = self.items.get(activated_uid)
        if found is None:
            raise Refusal(404, "activated item not found")
        customer_uid, activated = found
        expires = activated["balance"]["expiresAt"]
        if activated["_refunded"]:
            raise Refusal(400, "package already refunded")
        if activated["_used"]:
            raise Refusal(400, "package is not unused")
        if expires is not None and expires < iso(now()):
            raise Refusal(400, "package is no longer valid")
        if self.refunds >= self.refund_limit:
            raise Refusal(400, "monthly refund limit reached")
        self.refunds += 1
        activated["_refunded"] = True
        self.credit += activated["_cost"]
        self.record("refund", customer_uid, activated, activated["_cost"], None)

    def record(self, kind, customer_uid, activated, amount, idempotency_key):
        self.ledger.append({
            "seq": len(self.ledger) + 1, "kind": kind, "customerUid": customer_uid,
            "inventoryItemId": activated["_inventoryItemId"], "metatag": activated["metatag"],
            "activatedItemUid": activated["uid"], "amount": str(amount), "currency": "USD",
            "idempotencyKey": idempotency_key,
        })

    # -- control --------------------------------------------------------------------------
    def seed(self, body):
        if "credit" in body:
            self.credit = Decimal(str(body["credit"]))
        if "refundLimit" in body:
            self.refund_limit = int(body["refundLimit"])
        for customer in body.get("customers", []):
            uid = customer["uid"]
            self.customers[uid] = {
                "uid": uid, "countrySet": customer["countrySet"],
                "email": customer.get("email", f"{uid}@example.com"),
                "items": [],
                "esim": {"iccid": "8937204016150" + f"{len(self.customers):07d}",
                         "imsi": "26021" + f"{len(self.customers):010d}",
                         "activationCode": f"LPA:1$double.invalid${uid}", "state": "INSTALLED"},
            }
        return {"customers": sorted(self.customers), "credit": str(self.credit)}

    def add_fault(self, body):
        name = body.get("fault")
        if name not in FAULTS:
            raise Refusal(400, f"fault must be one of {sorted(FAULTS)}")
        if name == "listing_lag":
            self.lag_reads = int(body.get("reads", 0))
            self.lag_seconds = float(body.get("seconds", 0))
            return {"fault": name}
        fault = dict(body)
        fault["times"] = int(body.get("times", 1))
        if name == "refuse" and not isinstance(fault.get("status"), int):
            raise Refusal(400, "refuse needs an integer status")
        self.faults.append(fault)
        return fault


def public(activated):
    return {k: v for k, v in activated.items() if not k.startswith("_")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GigastoreDouble/1"
    state: State = None

    def log_message(self, fmt, *args):
        sys.stderr.write("double: " + (fmt % args) + "\n")

    def do_GET(self):
        self.handle_call("GET")

    def do_POST(self):
        self.handle_call("POST")

    def do_DELETE(self):
        self.handle_call("DELETE")

    # -- plumbing -------------------------------------------------------------------------
    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return None
        try:
            return json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise Refusal(400, "the body is not JSON")

    def answer(self, status, payload, log):
        data = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
        log["status"] = status
        self.send_response(status)
        self.send_header("content-type", "application/json" if not isinstance(payload, bytes)
                         else "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_call(self, method):
        state = self.state
        path = self.path.split("?", 1)[0]
        key = self.headers.get("idempotency-key")
        log = {"method": method, "path": path, "status": None, "idempotencyKey": key}
        try:
            body = self.read_body()
        except Refusal as refusal:
            body = refusal
        if path.startswith("/_double/"):
            return self.control(method, path, body, log)
        with state.lock:
            state.requests.append(log)
            fault = state.take_fault(method, path)
        kind = fault["fault"] if fault else None
        if kind == "500_before":
            return self.answer(500, {"status": "error", "message": "internal error"}, log)
        if kind == "refuse":
            return self.answer(fault["status"], fault.get("body", {"status": "error",
                               "message": "refused"}), log)
        if kind == "expire_token":
            with state.lock:
                auth = self.headers.get("authorization") or ""
                state.tokens.pop(auth[len("Bearer "):], None)
            return self.answer(401, {"status": "error", "message": "token expired"}, log)
        if kind == "hang" and not fault.get("commit", True):
            time.sleep(float(fault.get("seconds", 30)))
            return self.drop()
        try:
            if isinstance(body, Refusal):
                raise body
            with state.lock:
                status, payload = self.route(method, path, body)
        except Refusal as refusal:
            status, payload = refusal.status, {"status": "error", "message": refusal.message}
        if kind == "500_after":
            return self.answer(500, {"status": "error", "message": "internal error"}, log)
        if kind == "drop_after":
            return self.drop()
        if kind == "hang":
            time.sleep(float(fault.get("seconds", 30)))
            return self.drop()
        return self.answer(status, payload, log)

    def route(self, method, path, body):
        """Gigastore's documented calls; called with the state's lock held."""
        state = self.state
        auth = self.headers.get("authorization")
        if method == "POST" and path == "/reseller/authenticate":
            return 200, state.authenticate(auth)
        if method == "GET" and path == "/gigastore/products/inventory":
            state.bearer(auth)
            return 200, {"items": CATALOGUE}
        prefix = "/gigastore/activations/customers/"
        if method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix):]:
            state.bearer(auth)
            return 200, state.customer_view(unquote(path[len(prefix):]))
        if method == "POST" and path == "/gigastore/activations/top-up":
            state.bearer(auth)
            return 200, state.top_up(body, self.headers.get("idempotency-key"))
        prefix, suffix = "/activations/activated-items/", "/refund"
        if method == "POST" and path.startswith(prefix) and path.endswith(suffix):
            state.bearer(auth)
            state.refund(unquote(path[len(prefix):-len(suffix)]))
            return 200, b"ok"
        raise Refusal(404, "not found")

    def control(self, method, path, body, log):
        state = self.state
        if isinstance(body, Refusal):
            return self.answer(400, {"error": body.message}, log)
        body = body or {}
        try:
            with state.lock:
                if method == "POST" and path == "/_double/reset":
                    state.reset()
                    return self.answer(200, {"reset": True}, log)
                if method == "POST" and path == "/_double/seed":
                    return self.answer(200, state.seed(body), log)
                if method == "POST" and path == "/_double/use":
                    found = state.items.get(body.get("activatedItemUid"))
                    if found is None:
                        raise Refusal(404, "activated item not found")
                    found[1]["_used"] = True
                    return self.answer(200, {"used": True}, log)
                if method == "GET" and path == "/_double/ledger":
                    return self.answer(200, {"credit": str(state.credit),
                                             "entries": state.ledger}, log)
                if method == "GET" and path == "/_double/calls":
                    return self.answer(200, {"authentications": state.authentications,
                                             "tokens": state.issued,
                                             "requests": state.requests}, log)
                if method == "POST" and path == "/_double/faults":
                    return self.answer(200, state.add_fault(body), log)
                raise Refusal(404, "no such control endpoint")
        except Refusal as refusal:
            return self.answer(refusal.status, {"error": refusal.message}, log)
        except (KeyError, TypeError, ValueError) as e:
            return self.answer(400, {"error": f"invalid control request: {e!r}"}, log)


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    parser = argparse.ArgumentParser(description="A local double of Gigastore's partner API.")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=0)
    parser.add_argument("--client-id",
                        default=os.environ.get("GIGASTORE_DOUBLE_CLIENT_ID", "double-client-id"))
    parser.add_argument("--client-secret",
                        default=os.environ.get("GIGASTORE_DOUBLE_CLIENT_SECRET",
                                               "double-client-secret"))
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args()
    if args.exit_with_parent:
        threading.Thread(target=exit_with_parent, daemon=True).start()
    Handler.state = State(args.client_id, args.client_secret)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
