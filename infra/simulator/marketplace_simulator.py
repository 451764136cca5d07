#!/usr/bin/env python3
"""Atom SaaS marketplace simulator: a real HTTP server on loopback, for tests.

The sync service pushes skill ratings from self-hosted Atom instances to the
Atom SaaS marketplace. This simulator speaks the marketplace contract the Rust
client speaks, so the client can be tested end to end over real sockets, and
adds what the real service cannot give a test:

* fault knobs: latency, a random failure rate, unknown skills, scripted
  answers (e.g. 429 with Retry-After), the legacy ``rating_id`` field, and
  "accepted, then answered too late" (the client times out, the rating exists);
* a hostile marketplace: huge or chunked answers, a Content-Length that lies,
  redirects, a skill listing hundreds of thousands of ratings, and ratings
  that break every rule of the contract (see below);
* counters and a request log, to prove that a rating was created exactly once,
  that the client never had more than N requests in flight, or whether a
  request carried the API token (the log says so; it never holds the token);
* a control API under ``/_sim/`` to read and seed state, change the
  configuration at run time and reset between tests.

Standard library only. Usage:

    python3 infra/simulator/marketplace_simulator.py --host 127.0.0.1 --port 0 \
        [--token TOKEN] [--latency-ms N] [--fail-rate F] [--seed S] [--verbose]

It prints one line ``LISTENING http://HOST:PORT`` once bound, serves until
SIGTERM or SIGINT, then exits 0. A non-loopback --host exits 2.

Marketplace (needs X-Instance-ID; X-API-Token must match a configured token):
    POST /skills/{skill_id}/rate                 create (Idempotency-Key aware)
    PUT  /skills/{skill_id}/ratings/{remote_id}  update (Idempotency-Key aware)
    GET  /skills/{skill_id}                      the skill and its ratings

Control (no auth, never delayed or failed):
    GET  /_sim/stats           counters and the request log
    GET  /_sim/ratings         every stored rating, all fields
    POST /_sim/ratings         insert a rating directly (201)
    POST /_sim/raw-ratings     store a rating exactly as given, unchecked (201)
    PUT  /_sim/ratings/{id}    merge fields; a field set to null is removed
    DELETE /_sim/ratings/{id}  remove a rating (204, or 404)
    GET|POST /_sim/config      read / merge the configuration
    POST /_sim/reset           forget everything, restore the command-line config
    POST /_sim/reset-stats     clear the request log and counters only

Configuration keys (POST /_sim/config merges top-level keys; a key given
replaces its whole value):
    token                   required X-API-Token, or null: anything is accepted
    latency_ms              delay of each marketplace request
    fail_rate, fail_status  share of marketplace requests answered fail_status
    unknown_skills          skill ids answered 404
    legacy_id_field         create/update answers name the id "rating_id"
    accept_then_delay_rate, accept_then_delay_ms
                            share of stored creates/updates answered that late
    script                  forced answers, see below
    skill_padding_ratings   {"skill_id": N}: GET /skills/{skill_id} lists its
                            real ratings, then N generated ones (ids
                            "filler-0000001"..., users "filler-user-1"...),
                            streamed with an exact Content-Length; they are not
                            stored and never show in /_sim/ratings
    skill_tiny_entries      {"skill_id": N}: GET /skills/{skill_id} lists, after
                            those, N entries that are the bare number 1
                            ("[...,1,1,1]": two bytes each, 2,000,000 of them
                            fit in 4 MiB), streamed the same way

Script entries. A marketplace request (once auth passed) takes the first entry
whose "match" it satisfies (an entry without "match" matches every request),
removes it from the script and gets this answer instead of the real one:
    status          200..599 (a 3xx gives its Location through "headers")
    headers         {name: value}; Content-Length and Transfer-Encoding are
                    ignored: the knobs below decide the framing
    body            a JSON value; default {"error": "scripted response"} for a
                    status >= 400, else {}
    body_bytes      N (0..512 MiB): the body is exactly N bytes, generated and
                    streamed in 64 KiB pieces: '{"id":"rr-big","pad":"xxx...'
                    (not valid JSON); "body" is then ignored
    chunked         true: Transfer-Encoding: chunked, no Content-Length
    content_length  N: declare Content-Length N whatever the body's real size,
                    send at most N bytes of the body, then close the
                    connection (for "declares 10 GB, sends a little, closes");
                    not with chunked
    match           {"method": "POST", "path_prefix": "/skills/s1"}: both
                    optional; the request's method and path (before any query,
                    not percent-decoded) must match

Raw ratings (POST /_sim/raw-ratings): the JSON object is stored as given.
skill_id and user_id must be strings; id, if given, any string not yet used
(e.g. "../x"), else one is assigned; every other field may hold any JSON value
(a rating of 99 or 4.5, a 2,000-character comment, nested objects). A create
by that user for that skill answers 409 with that id, and GET
/skills/{skill_id} lists the rating with all its fields exactly as given.

Request log entries (GET /_sim/stats, "requests"): method, path, status,
idempotency_key, skill_id, user_id, at, took_ms, and token_present (the
request had an X-API-Token header) and token_matches (it equals the configured
token; null when no token is configured), both noted before auth is checked.
"""

import argparse
import copy
import ipaddress
import json
import random
import signal
import socket
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

DEFAULT_CONFIG = {
    "token": None,  # None: anything is accepted
    "latency_ms": 0,
    "fail_rate": 0.0,
    "fail_status": 500,
    "unknown_skills": [],
    "legacy_id_field": False,
    "accept_then_delay_rate": 0.0,
    "accept_then_delay_ms": 0,
    "script": [],  # forced answers: [{"status": 429, "headers": {...}, "body": {...}}]
    "skill_padding_ratings": {},  # skill_id -> number of generated ratings to list
    "skill_tiny_entries": {},  # skill_id -> number of bare `1` entries to list after them
}
RATING_FIELDS = ("id", "skill_id", "user_id", "rating", "comment",
                 "created_at", "updated_at", "timestamp", "instance_id")
# Servers may send only created_at, or a timestamp: a rating edited through
# the control API can carry any of the three, or none.
SKILL_VIEW_FIELDS = ("id", "user_id", "rating", "comment", "created_at", "updated_at",
                     "timestamp")
SCRIPT_FIELDS = {"status", "headers", "body", "body_bytes", "chunked", "content_length", "match"}
MAX_BODY_BYTES = 512 * 1024 * 1024
MAX_PADDING_RATINGS = 10_000_000
PIECE = 64 * 1024  # a streamed body is written in pieces of about this size
BIG_BODY_HEAD = b'{"id":"rr-big","pad":"'
FILLER = (b'{"id": "filler-%07d", "user_id": "filler-user-%d", "rating": %d, "comment": null, '
          b'"created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z"}')


class SimError(Exception):
    """An error answer: HTTP status and a JSON body {"error": message, ...}."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": message, **extra}


def now_rfc3339():
    """Current UTC time, RFC 3339, millisecond precision, Z suffix."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_rate(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def is_script(script):
    def ok(item):
        if not isinstance(item, dict) or not set(item) <= SCRIPT_FIELDS:
            return False
        headers, match = item.get("headers", {}), item.get("match", {})
        body_bytes, length = item.get("body_bytes", 0), item.get("content_length", 0)
        return (is_int(item.get("status")) and 200 <= item["status"] <= 599
                and isinstance(headers, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
                and is_int(body_bytes) and 0 <= body_bytes <= MAX_BODY_BYTES
                and isinstance(item.get("chunked", False), bool)
                and is_int(length) and length >= 0
                and not (item.get("chunked") and "content_length" in item)
                and isinstance(match, dict) and set(match) <= {"method", "path_prefix"}
                and all(isinstance(v, str) for v in match.values()))
    return isinstance(script, list) and all(ok(item) for item in script)


def is_padding(value):
    return isinstance(value, dict) and all(
        isinstance(k, str) and is_int(n) and 0 <= n <= MAX_PADDING_RATINGS
        for k, n in value.items())


CONFIG_CHECKS = {
    "token": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "latency_ms": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "fail_rate": (is_rate, "a number from 0 to 1"),
    "fail_status": (lambda v: is_int(v) and 100 <= v <= 599, "an HTTP status code"),
    "unknown_skills": (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
                       "a list of strings"),
    "legacy_id_field": (lambda v: isinstance(v, bool), "a boolean"),
    "accept_then_delay_rate": (is_rate, "a number from 0 to 1"),
    "accept_then_delay_ms": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "script": (is_script, "a list of {status, headers?, body?, body_bytes?, chunked?, "
                          "content_length?, match?} objects"),
    "skill_padding_ratings": (is_padding, f"an object of skill id -> integer from 0 to "
                                          f"{MAX_PADDING_RATINGS}"),
    "skill_tiny_entries": (is_padding, f"an object of skill id -> integer from 0 to "
                                       f"{MAX_PADDING_RATINGS}"),
}


def validate_config(patch):
    if not isinstance(patch, dict):
        raise SimError(400, "config must be a JSON object")
    for key, value in patch.items():
        if key not in CONFIG_CHECKS:
            raise SimError(400, f"unknown config key: {key}")
        check, wanted = CONFIG_CHECKS[key]
        if not check(value):
            raise SimError(400, f"config key {key} must be {wanted}")


def validate_rating_body(body, skill_id, create, status=422):
    """Checks a create (or update) body; raises SimError naming the bad field."""
    if create or "skill_id" in body:
        if "skill_id" not in body:
            raise SimError(status, "skill_id is required")
        if body["skill_id"] != skill_id:
            raise SimError(status, "skill_id does not match the path")
    if create and (not isinstance(body.get("user_id"), str) or not body["user_id"].strip()):
        raise SimError(status, "user_id must be a non-empty string")
    if not is_int(body.get("rating")) or not 1 <= body["rating"] <= 5:
        raise SimError(status, "rating must be an integer from 1 to 5")
    if body.get("comment") is not None and not isinstance(body["comment"], str):
        raise SimError(status, "comment must be a string or null")


def encode(obj):
    return json.dumps(obj).encode("utf-8")


def to_bytes(body):
    """An answer body as bytes: `body` is bytes, a JSON value or None (empty)."""
    return body if isinstance(body, bytes) else b"" if body is None else encode(body)


class Stream:
    """An answer body written piece by piece, never held whole in memory.

    `pieces` is a callable returning an iterable of bytes (it may be called
    more than once); `length` their total size. `chunked` sends it with
    Transfer-Encoding: chunked; `declared_length` sends that Content-Length
    instead of the real one, at most that many bytes, then closes."""

    def __init__(self, length, pieces, chunked=False, declared_length=None):
        self.length, self.pieces = length, pieces
        self.chunked, self.declared_length = chunked, declared_length


def big_body_pieces(size):
    """`size` bytes: the start of a JSON rating, then "x" padding."""
    head = BIG_BODY_HEAD[:size]
    if head:
        yield head
    left, pad = size - len(head), b"x" * PIECE
    while left > 0:
        yield pad if left >= PIECE else pad[:left]
        left -= PIECE


def skill_pieces(skill_id, ratings, filler_count, tiny_count=0):
    """The body of GET /skills/{skill_id}, the listed ratings, the filler, then the tiny
    entries, in pieces."""
    def parts():
        yield b'{"id": ' + encode(skill_id) + b', "ratings": ['
        for i, rating in enumerate(ratings):
            yield (b", " if i else b"") + encode(rating)
        sep = b", " if ratings else b""
        for i in range(1, filler_count + 1):
            yield sep + FILLER % (i, i, 1 + i % 5)
            sep = b", "
        left = tiny_count
        if left:
            yield sep + b"1"
            left -= 1
        while left:
            run = min(left, PIECE // 2)
            yield b",1" * run
            left -= run
        yield b"]}"

    buffered, size = [], 0
    for part in parts():
        buffered.append(part)
        size += len(part)
        if size >= PIECE:
            yield b"".join(buffered)
            buffered, size = [], 0
    if buffered:
        yield b"".join(buffered)


def json_object(raw):
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SimError(400, "invalid JSON body") from None
    if not isinstance(body, dict):
        raise SimError(400, "body must be a JSON object")
    return body


class Simulator:
    """All mutable state, guarded by one (non re-entrant) lock. Nothing here sleeps."""

    def __init__(self, base_config, seed):
        self.lock = threading.Lock()
        self.base_config, self.seed, self.generation = copy.deepcopy(base_config), seed, 0
        self.reset()

    def reset(self):
        with self.lock:
            self.config = copy.deepcopy(self.base_config)
            self.rng = random.Random(self.seed)
            self.ratings = {}  # id -> rating
            # (skill_id, user_id) -> id: the one-rating-per-user rule without a
            # scan, so a backlog of 10,000 does not slow every create down.
            self.by_user = {}
            self.raw_ids = set()  # ratings stored through /_sim/raw-ratings, listed as given
            self.next_seq = 1
            self.idempotency = {}  # (method, path, key) -> (status, body bytes)
            self.creates = self.updates = 0
            self._clear_stats()

    def reset_stats(self):
        with self.lock:
            self._clear_stats()

    def _clear_stats(self):
        # Requests in flight across a reset belong to an old generation and
        # leave the fresh in_flight counter alone.
        self.generation += 1
        self.in_flight = self.max_in_flight = self.requests_total = 0
        self.log = []

    # -- request accounting

    def enter(self, method, path, key, skill_id, token):
        """Logs a request's arrival; `token` is its X-API-Token (None if absent), never logged."""
        with self.lock:
            self.requests_total += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            wanted = self.config["token"]
            entry = {"method": method, "path": path, "status": None, "idempotency_key": key,
                     "skill_id": skill_id, "user_id": None, "at": time.time(),
                     "token_present": token is not None,
                     "token_matches": None if wanted is None else token == wanted}
            self.log.append(entry)
            return entry, self.generation, self.config["latency_ms"]

    def record(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    def leave(self, generation):
        with self.lock:
            if generation == self.generation:
                self.in_flight -= 1

    def stats(self):
        with self.lock:
            by_status = {}
            for entry in self.log:
                if entry["status"] is not None:
                    by_status[str(entry["status"])] = by_status.get(str(entry["status"]), 0) + 1
            return {"requests_total": self.requests_total, "by_status": by_status,
                    "max_in_flight": self.max_in_flight, "in_flight": self.in_flight,
                    "creates": self.creates, "updates": self.updates,
                    "ratings_count": len(self.ratings), "requests": [dict(e) for e in self.log]}

    # -- configuration and fault decisions

    def get_config(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def merge_config(self, patch):
        validate_config(patch)
        with self.lock:
            self.config.update(copy.deepcopy(patch))
            return copy.deepcopy(self.config)

    def check_auth(self, headers):
        with self.lock:
            token = self.config["token"]
        if token is not None and headers.get("X-API-Token") != token:
            raise SimError(401, "invalid api token")
        if not (headers.get("X-Instance-ID") or "").strip():
            raise SimError(400, "missing X-Instance-ID")

    def next_scripted(self, method, path):
        """Removes and returns the first script entry matching the request, or None."""
        with self.lock:
            script = self.config["script"]
            for i, item in enumerate(script):
                match = item.get("match", {})
                if (match.get("method", method).upper() == method.upper()
                        and path.startswith(match.get("path_prefix", ""))):
                    return script.pop(i)
            return None

    def roll(self, rate_key, value_key):
        """config[value_key] with probability config[rate_key], else None."""
        with self.lock:
            return self.config[value_key] if self.rng.random() < self.config[rate_key] else None

    # -- ratings (marketplace)

    def _next_id(self):
        while f"rr-{self.next_seq:06d}" in self.ratings:  # a raw rating may hold it
            self.next_seq += 1
        self.next_seq += 1
        return f"rr-{self.next_seq - 1:06d}"

    def _new_rating(self, skill_id, user_id, rating, comment, created_at, updated_at, instance_id):
        rating = {"id": self._next_id(), "skill_id": skill_id, "user_id": user_id,
                  "rating": rating, "comment": comment, "created_at": created_at,
                  "updated_at": updated_at, "instance_id": instance_id}
        self.ratings[rating["id"]] = rating
        self.by_user[(skill_id, user_id)] = rating["id"]
        return rating

    def _find(self, skill_id, user_id):
        rating_id = self.by_user.get((skill_id, user_id))
        return self.ratings.get(rating_id) if rating_id else None

    def _public(self, rating):
        out = {k: rating[k] for k in RATING_FIELDS if k in rating}
        if self.config["legacy_id_field"]:
            out = {("rating_id" if k == "id" else k): v for k, v in out.items()}
        return out

    def _check_skill(self, skill_id):
        if skill_id in self.config["unknown_skills"]:
            raise SimError(404, "skill not found")

    def _remember(self, method, path, key, status, data):
        if key and (200 <= status < 300 or status == 409):
            self.idempotency[(method, path, key)] = (status, data)
        return status, data

    def create(self, path, skill_id, body, key, instance_id):
        """Returns (status, body bytes, stored?)."""
        validate_rating_body(body, skill_id, create=True)
        with self.lock:
            self._check_skill(skill_id)
            if key and ("POST", path, key) in self.idempotency:
                return (*self.idempotency[("POST", path, key)], False)
            existing = self._find(skill_id, body["user_id"])
            if existing:
                out = {"error": "user already rated this skill", "id": existing["id"]}
                return (*self._remember("POST", path, key, 409, encode(out)), False)
            stamp = now_rfc3339()
            rating = self._new_rating(skill_id, body["user_id"], body["rating"],
                                      body.get("comment"), stamp, stamp, instance_id)
            self.creates += 1
            return (*self._remember("POST", path, key, 201, encode(self._public(rating))), True)

    def update(self, path, skill_id, remote_id, body, key, entry):
        """Returns (status, body bytes, stored?)."""
        validate_rating_body(body, skill_id, create=False)
        with self.lock:
            self._check_skill(skill_id)
            if key and ("PUT", path, key) in self.idempotency:
                return (*self.idempotency[("PUT", path, key)], False)
            rating = self.ratings.get(remote_id)
            if rating is None or rating.get("skill_id") != skill_id:
                raise SimError(404, "rating not found")
            entry["user_id"] = rating.get("user_id")
            rating.update(rating=body["rating"], comment=body.get("comment"),
                          updated_at=now_rfc3339())
            self.updates += 1
            return (*self._remember("PUT", path, key, 200, encode(self._public(rating))), True)

    def skill(self, skill_id):
        """The skill view: a JSON value, or a Stream when filler ratings are configured."""
        with self.lock:
            self._check_skill(skill_id)
            ratings = sorted((r for r in self.ratings.values() if r.get("skill_id") == skill_id),
                             key=lambda r: r["id"])
            view = [copy.deepcopy(r) if r["id"] in self.raw_ids
                    else {k: r[k] for k in SKILL_VIEW_FIELDS if k in r} for r in ratings]
            filler = self.config["skill_padding_ratings"].get(skill_id, 0)
            tiny = self.config["skill_tiny_entries"].get(skill_id, 0)
        if not filler and not tiny:
            return {"id": skill_id, "ratings": view}
        # Generated twice, never held: once to measure, once to send.
        length = sum(len(piece) for piece in skill_pieces(skill_id, view, filler, tiny))
        return Stream(length, lambda: skill_pieces(skill_id, view, filler, tiny))

    # -- ratings (control API)

    def all_ratings(self):
        with self.lock:
            return {"ratings": [dict(self.ratings[k]) for k in sorted(self.ratings)]}

    def insert(self, body):
        for field in ("skill_id", "user_id"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise SimError(400, f"{field} must be a non-empty string")
        validate_rating_body(body, body["skill_id"], create=True, status=400)
        for field in ("created_at", "updated_at", "instance_id"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise SimError(400, f"{field} must be a string")
        with self.lock:
            if self._find(body["skill_id"], body["user_id"]):
                raise SimError(409, "user already rated this skill")
            created = body.get("created_at") or now_rfc3339()
            return dict(self._new_rating(
                body["skill_id"], body["user_id"], body["rating"], body.get("comment"),
                created, body.get("updated_at") or created, body.get("instance_id")))

    def insert_raw(self, body):
        for field in ("skill_id", "user_id"):
            if not isinstance(body.get(field), str):
                raise SimError(400, f"{field} must be a string")
        if "id" in body and not isinstance(body["id"], str):
            raise SimError(400, "id must be a string")
        with self.lock:
            if self._find(body["skill_id"], body["user_id"]):
                raise SimError(409, "user already rated this skill")
            if body.get("id") in self.ratings:
                raise SimError(409, "a rating with this id exists")
            rating = {"id": body["id"] if "id" in body else self._next_id(), **body}
            self.ratings[rating["id"]] = rating
            self.by_user[(rating["skill_id"], rating["user_id"])] = rating["id"]
            self.raw_ids.add(rating["id"])
            return copy.deepcopy(rating)

    def patch(self, rating_id, body):
        checks = {"rating": is_int, "comment": lambda v: isinstance(v, str),
                  "created_at": lambda v: isinstance(v, str),
                  "updated_at": lambda v: isinstance(v, str),
                  "timestamp": lambda v: isinstance(v, str)}
        for key, value in body.items():
            if key not in checks:
                raise SimError(400, f"field {key} cannot be changed")
            if value is not None and not checks[key](value):
                raise SimError(400, f"field {key} has the wrong type")
        with self.lock:
            rating = self.ratings.get(rating_id)
            if rating is None:
                raise SimError(404, "rating not found")
            for key, value in body.items():
                if value is None:
                    rating.pop(key, None)
                else:
                    rating[key] = value
            return dict(rating)

    def delete(self, rating_id):
        with self.lock:
            rating = self.ratings.pop(rating_id, None)
            if rating is None:
                raise SimError(404, "rating not found")
            self.raw_ids.discard(rating_id)
            self.by_user.pop((rating.get("skill_id"), rating.get("user_id")), None)


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: every answer has a true Content-Length or is chunked; one that
    # declares a false Content-Length (script "content_length") closes.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # the body waits for the client's delayed ACK of the headers (40 ms).
    disable_nagle_algorithm = True
    server_version = "AtomMarketplaceSimulator/1.0"
    sim = None  # set on a subclass in main()
    verbose = False

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if self.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        try:
            raw = self.read_body()
        except SimError as err:
            return self.send(err.status, err.body)
        path = urlsplit(self.path).path
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "_sim":
            try:
                self.send(*self.control(parts[1:], raw))
            except SimError as err:
                self.send(err.status, err.body)
            except Exception as err:  # a simulator bug still gets an answer
                traceback.print_exc()
                self.send(500, {"error": f"simulator bug: {err!r}"})
        else:
            self.marketplace(path, parts, raw)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise SimError(411, "chunked bodies are not supported; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise SimError(400, "invalid Content-Length") from None
        return self.rfile.read(length) if length else b""

    def send(self, status, body=None, headers=None):
        """Writes one complete answer; `body` is bytes, a JSON value, None or a Stream."""
        if not isinstance(body, Stream):
            data = to_bytes(body)
            body = Stream(len(data), lambda: (data,))
        no_body = status in (204, 304)  # these carry neither a body nor a Content-Length
        declared = body.declared_length
        out = {"content-type": ("Content-Type", "application/json")}  # lower name -> header
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                out[name.lower()] = (name, value)
        if declared is not None:
            out["connection"] = ("Connection", "close")  # also sets close_connection
        self.send_response(status)
        for name, value in out.values():
            self.send_header(name, value)
        if body.chunked and not no_body:
            self.send_header("Transfer-Encoding", "chunked")
        elif not no_body:
            self.send_header("Content-Length", str(body.length if declared is None else declared))
        self.end_headers()
        try:
            left = body.length if declared is None else min(body.length, declared)
            for piece in () if no_body else body.pieces():
                piece = piece[:left]
                left -= len(piece)
                if body.chunked and piece:  # an empty chunk would end the body
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                elif piece:
                    self.wfile.write(piece)
                if left <= 0:
                    break
            if body.chunked and not no_body:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)

    def control(self, parts, raw):
        """Answers a /_sim/ request: (status, body), or raises SimError."""
        sim, route = self.sim, (self.command, "/".join(parts))
        if route == ("GET", "stats"):
            return 200, sim.stats()
        if route == ("GET", "config"):
            return 200, sim.get_config()
        if route == ("POST", "config"):
            return 200, sim.merge_config(json_object(raw))
        if route == ("POST", "reset"):
            sim.reset()
            return 200, {}
        if route == ("POST", "reset-stats"):
            sim.reset_stats()
            return 200, {}
        if route == ("GET", "ratings"):
            return 200, sim.all_ratings()
        if route == ("POST", "ratings"):
            return 201, sim.insert(json_object(raw))
        if route == ("POST", "raw-ratings"):
            return 201, sim.insert_raw(json_object(raw))
        if len(parts) == 2 and parts[0] == "ratings" and self.command == "PUT":
            return 200, sim.patch(parts[1], json_object(raw))
        if len(parts) == 2 and parts[0] == "ratings" and self.command == "DELETE":
            sim.delete(parts[1])
            return 204, None
        raise SimError(404, "no such control endpoint")

    def marketplace(self, path, parts, raw):
        sim, key = self.sim, self.headers.get("Idempotency-Key")
        skill_id = parts[1] if len(parts) >= 2 and parts[0] == "skills" else None
        entry, generation, latency_ms = sim.enter(self.command, self.path, key, skill_id,
                                                  self.headers.get("X-API-Token"))
        try:
            if latency_ms:
                time.sleep(latency_ms / 1000)
            try:
                status, body, headers = self.process(path, parts, raw, key, entry)
            except SimError as err:
                status, body, headers = err.status, err.body, None
            except Exception as err:  # a simulator bug still gets an answer
                traceback.print_exc()
                status, body, headers = 500, {"error": f"simulator bug: {err!r}"}, None
            # Arrival to answer ready: the latency knob plus the simulator's own
            # time, so a benchmark can tell when the simulator is the bottleneck.
            sim.record(entry, status=status,
                       took_ms=round((time.time() - entry["at"]) * 1000, 1))
        finally:
            # Out of flight before the answer is written: a client can send its
            # next request only once it has this answer, so counting it in
            # flight any longer would show a cap overshoot that never happened.
            sim.leave(generation)
        self.send(status, body, headers)

    def process(self, path, parts, raw, key, entry):
        """Auth, script, failure roll, then the real work: (status, body, headers)."""
        sim = self.sim
        sim.check_auth(self.headers)
        scripted = sim.next_scripted(self.command, path)
        if scripted is not None:
            return self.scripted_answer(scripted)
        fail_status = sim.roll("fail_rate", "fail_status")
        if fail_status is not None:
            return fail_status, {"error": "simulated failure"}, None

        is_skills = parts[0] == "skills" and len(parts) >= 2 and parts[1] != ""
        allowed = {(2, ""): "GET", (3, "rate"): "POST", (4, "ratings"): "PUT"}.get(
            (len(parts), parts[2] if len(parts) > 2 else "")) if is_skills else None
        if allowed is None:
            raise SimError(404, "not found")
        if self.command != allowed:
            return 405, {"error": "method not allowed"}, {"Allow": allowed}
        if allowed == "GET":
            return 200, sim.skill(parts[1]), None

        body = json_object(raw)
        if isinstance(body.get("user_id"), str):
            sim.record(entry, user_id=body["user_id"])
        if allowed == "POST":
            instance_id = self.headers.get("X-Instance-ID")
            status, data, stored = sim.create(path, parts[1], body, key, instance_id)
        else:
            status, data, stored = sim.update(path, parts[1], parts[3], body, key, entry)
        delay_ms = sim.roll("accept_then_delay_rate", "accept_then_delay_ms") if stored else None
        if delay_ms:
            time.sleep(delay_ms / 1000)  # stored, but the answer comes late
        return status, data, None


    @staticmethod
    def scripted_answer(scripted):
        """A script entry as (status, body, headers)."""
        status = scripted["status"]
        chunked, declared = scripted.get("chunked", False), scripted.get("content_length")
        if "body_bytes" in scripted:
            size = scripted["body_bytes"]
            body = Stream(size, lambda: big_body_pieces(size), chunked, declared)
        else:
            body = scripted.get("body", {"error": "scripted response"} if status >= 400 else {})
            if chunked or declared is not None:
                data = to_bytes(body)
                body = Stream(len(data), lambda: (data,), chunked, declared)
        return status, body, scripted.get("headers")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def loopback_host(host):
    """The address to bind for a loopback host, or None if `host` is not loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description="Atom SaaS marketplace simulator (loopback only)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--token", default=None, help="required X-API-Token (default: any)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of each marketplace request")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share answered fail_status")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    host = loopback_host(args.host)
    if host is None:
        print(f"error: --host {args.host!r} is not a loopback address "
              "(use 127.0.0.1, ::1 or localhost)", file=sys.stderr)
        return 2
    config = dict(DEFAULT_CONFIG, token=args.token, latency_ms=args.latency_ms,
                  fail_rate=args.fail_rate)
    try:
        validate_config(config)
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    handler = type("BoundHandler", (Handler,),
                   {"sim": Simulator(config, args.seed), "verbose": args.verbose})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = type("BoundServer", (Server,), {"address_family": family})((host, args.port), handler)

    # serve_forever runs in the main thread; a signal has another thread stop
    # it (calling shutdown() from the serving thread itself would deadlock).
    def on_signal(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"LISTENING http://{shown}:{bound_port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
