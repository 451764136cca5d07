"""Tests of the marketplace simulator (infra/simulator/marketplace_simulator.py).

Each test starts the simulator as a real subprocess on a free loopback port,
talks to it over HTTP with urllib / http.client and stops it in tearDown.
Run from the repository root:  python3 -m unittest infra/simulator/test_marketplace_simulator.py
"""

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

SIMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "marketplace_simulator.py")
START_TIMEOUT = 10.0
HEADERS = {"X-API-Token": "tok", "X-Instance-ID": "inst-1"}


class Sim:
    """One running simulator subprocess."""

    def __init__(self, *args, host="127.0.0.1"):
        self.proc = subprocess.Popen(
            [sys.executable, SIMULATOR, "--host", host, "--port", "0", *args],
            stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("LISTENING http://"):
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line.split()[1]

    def request(self, method, path, body=None, headers=None, raw=None, timeout=10):
        """Returns (status, headers, parsed JSON body or None)."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, resp_headers, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, resp_headers, payload = err.code, err.headers, err.read()
        return status, resp_headers, json.loads(payload) if payload else None

    def market(self, method, path, body=None, key=None, headers=HEADERS, **kw):
        extra = {"Idempotency-Key": key} if key else {}
        return self.request(method, path, body, headers={**headers, **extra}, **kw)

    def control(self, method, path, body=None):
        status, _, payload = self.request(method, "/_sim/" + path, body)
        return status, payload

    def stats(self):
        return self.control("GET", "stats")[1]

    def address(self):
        host, port = self.url[len("http://"):].rsplit(":", 1)
        return host, int(port)

    def stream(self, method, path, body=None, headers=HEADERS):
        """Reads an answer piece by piece, keeping only its start.

        Returns (status, headers, bytes received, first 64 bytes)."""
        conn = http.client.HTTPConnection(*self.address(), timeout=30)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers=headers)
            resp = conn.getresponse()
            size, start = 0, b""
            while True:
                piece = resp.read(64 * 1024)
                if not piece:
                    break
                size += len(piece)
                start = (start + piece)[:64] if len(start) < 64 else start
            return resp.status, resp.headers, size, start
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def rating_body(skill="skill-1", user="user-1", rating=4, comment="nice"):
    return {"skill_id": skill, "user_id": user, "rating": rating, "comment": comment}


def wait_for(predicate, timeout=5.0):
    """Polls `predicate` until it is true or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


class SimulatorTest(unittest.TestCase):
    def setUp(self):
        self.sims = []
        self.sim = self.start()

    def tearDown(self):
        for sim in self.sims:
            sim.stop()

    def start(self, *args, host="127.0.0.1"):
        sim = Sim(*args, host=host)
        self.sims.append(sim)
        return sim

    # -- create and idempotency

    def test_create_returns_201_with_id(self):
        status, headers, body = self.sim.market("POST", "/skills/skill-1/rate", rating_body())
        self.assertEqual(status, 201)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(body["id"], "rr-000001")
        self.assertEqual((body["skill_id"], body["user_id"], body["rating"], body["comment"]),
                         ("skill-1", "user-1", 4, "nice"))
        self.assertEqual(body["instance_id"], "inst-1")
        self.assertRegex(body["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(body["created_at"], body["updated_at"])
        self.assertEqual(self.sim.stats()["creates"], 1)

    def test_idempotency_key_replays_the_first_answer(self):
        first = self.sim.market("POST", "/skills/skill-1/rate", rating_body(), key="k-1")
        second = self.sim.market("POST", "/skills/skill-1/rate", rating_body(), key="k-1")
        self.assertEqual(first[0], 201)
        self.assertEqual((second[0], second[2]), (first[0], first[2]))
        self.assertEqual(len(self.sim.control("GET", "ratings")[1]["ratings"]), 1)
        stats = self.sim.stats()
        self.assertEqual((stats["requests_total"], stats["creates"]), (2, 1))
        self.assertEqual([r["idempotency_key"] for r in stats["requests"]], ["k-1", "k-1"])
        self.assertEqual(stats["by_status"], {"201": 2})

    def test_second_create_for_same_user_is_409_with_existing_id(self):
        _, _, created = self.sim.market("POST", "/skills/skill-1/rate", rating_body(), key="a")
        status, _, body = self.sim.market("POST", "/skills/skill-1/rate",
                                          rating_body(rating=2), key="b")
        self.assertEqual(status, 409)
        self.assertEqual(body, {"error": "user already rated this skill", "id": created["id"]})
        # a 409 is remembered under its key too
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate",
                                         rating_body(), key="b")[0], 409)
        self.assertEqual(self.sim.stats()["ratings_count"], 1)

    def test_validation(self):
        cases = [
            ({"user_id": "u", "rating": 3, "comment": None}, "skill_id"),
            (rating_body(skill="other"), "skill_id"),
            (rating_body(user=""), "user_id"),
            (rating_body(user=7), "user_id"),
            (rating_body(rating=0), "rating"),
            (rating_body(rating=6), "rating"),
            (rating_body(rating=True), "rating"),
            (rating_body(rating=3.0), "rating"),
            (rating_body(comment=5), "comment"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                status, _, answer = self.sim.market("POST", "/skills/skill-1/rate", body)
                self.assertEqual(status, 422)
                self.assertIn(field, answer["error"])
        for raw in (b"{not json", b"[1, 2]"):
            with self.subTest(raw=raw):
                self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate", raw=raw)[0], 400)
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate",
                                         rating_body(comment=None))[0], 201)
        self.assertEqual(self.sim.stats()["ratings_count"], 1)

    def test_token_and_instance_id_are_checked(self):
        sim = self.start("--token", "secret")
        path, body = "/skills/skill-1/rate", rating_body()
        status, _, answer = sim.market("POST", path, body)  # token "tok"
        self.assertEqual((status, answer), (401, {"error": "invalid api token"}))
        self.assertEqual(sim.market("POST", path, body, headers={"X-Instance-ID": "i"})[0], 401)
        status, _, answer = sim.market("POST", path, body, headers={"X-API-Token": "secret"})
        self.assertEqual((status, answer), (400, {"error": "missing X-Instance-ID"}))
        ok = {"X-API-Token": "secret", "X-Instance-ID": "i"}
        self.assertEqual(sim.market("POST", path, body, headers=ok)[0], 201)
        self.assertEqual(sim.stats()["by_status"], {"401": 2, "400": 1, "201": 1})

    def test_the_accepted_token_changes_through_the_control_api(self):
        # A rotation at the marketplace, as the secret rotation tests make it.
        sim = self.start("--token", "before")
        path, body = "/skills/skill-1/rate", rating_body()
        before = {"X-API-Token": "before", "X-Instance-ID": "i"}
        after = {"X-API-Token": "after", "X-Instance-ID": "i"}
        self.assertEqual(sim.market("POST", path, body, headers=after)[0], 401)
        status, config = sim.control("POST", "config", {"token": "after"})
        self.assertEqual((status, config["token"]), (200, "after"))
        self.assertEqual(sim.market("POST", path, body, headers=before)[0], 401)
        self.assertEqual(sim.market("POST", path, body, headers=after)[0], 201)

    # -- update and read

    def test_update(self):
        _, _, created = self.sim.market("POST", "/skills/skill-1/rate", rating_body())
        path = f"/skills/skill-1/ratings/{created['id']}"
        status, _, body = self.sim.market("PUT", path, {"rating": 2, "comment": None}, key="u1")
        self.assertEqual(status, 200)
        self.assertEqual((body["id"], body["rating"], body["comment"]), (created["id"], 2, None))
        self.assertGreaterEqual(body["updated_at"], created["updated_at"])
        self.assertEqual(self.sim.market("PUT", path, {"rating": 2, "comment": None},
                                         key="u1")[2], body)  # replayed
        self.assertEqual(self.sim.market("PUT", path, {"rating": 9, "comment": None})[0], 422)
        self.assertEqual(self.sim.market("PUT", "/skills/skill-1/ratings/rr-999999",
                                         {"rating": 2, "comment": None})[0], 404)
        self.assertEqual(self.sim.market("PUT", f"/skills/other/ratings/{created['id']}",
                                         {"rating": 2, "comment": None})[0], 404)
        self.assertEqual(self.sim.stats()["updates"], 1)

    def test_get_skill_lists_its_ratings_sorted_by_id(self):
        for user in ("u-b", "u-a"):
            self.sim.market("POST", "/skills/skill-1/rate", rating_body(user=user))
        self.sim.market("POST", "/skills/skill-2/rate", rating_body(skill="skill-2"))
        status, _, body = self.sim.market("GET", "/skills/skill-1")
        self.assertEqual(status, 200)
        self.assertEqual(body["id"], "skill-1")
        self.assertEqual([(r["id"], r["user_id"]) for r in body["ratings"]],
                         [("rr-000001", "u-b"), ("rr-000002", "u-a")])
        self.assertEqual(set(body["ratings"][0]),
                         {"id", "user_id", "rating", "comment", "created_at", "updated_at"})
        self.sim.control("POST", "config", {"unknown_skills": ["skill-1"]})
        self.assertEqual(self.sim.market("GET", "/skills/skill-1")[0], 404)
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate",
                                         rating_body(user="new"))[0], 404)

    def test_unknown_route_and_method(self):
        self.assertEqual(self.sim.market("GET", "/nope")[0], 404)
        status, headers, body = self.sim.market("DELETE", "/skills/skill-1")
        self.assertEqual((status, headers["Allow"]), (405, "GET"))
        self.assertIn("error", body)

    def test_legacy_id_field(self):
        self.sim.control("POST", "config", {"legacy_id_field": True})
        status, _, body = self.sim.market("POST", "/skills/skill-1/rate", rating_body())
        self.assertEqual(status, 201)
        self.assertEqual(body["rating_id"], "rr-000001")
        self.assertNotIn("id", body)

    def test_keep_alive_connection_serves_several_requests(self):
        host, port = self.sim.url[len("http://"):].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            for user in ("u1", "u2", "u3"):
                conn.request("POST", "/skills/skill-1/rate",
                             body=json.dumps(rating_body(user=user)), headers=HEADERS)
                resp = conn.getresponse()
                self.assertEqual(resp.status, 201)
                resp.read()
        finally:
            conn.close()
        self.assertEqual(self.sim.stats()["ratings_count"], 3)

    # -- fault knobs

    def test_fail_rate_one_fails_everything_and_stores_nothing(self):
        sim = self.start("--fail-rate", "1.0")
        status, _, body = sim.market("POST", "/skills/skill-1/rate", rating_body())
        self.assertEqual((status, body), (500, {"error": "simulated failure"}))
        stats = sim.stats()
        self.assertEqual((stats["ratings_count"], stats["creates"]), (0, 0))
        self.assertEqual(stats["by_status"], {"500": 1})

    def test_script_is_consumed_in_order(self):
        script = [{"status": 429, "headers": {"Retry-After": "1"}},
                  {"status": 503, "body": {"error": "maintenance"}}]
        status, config = self.sim.control("POST", "config", {"script": script})
        self.assertEqual((status, config["script"]), (200, script))
        status, headers, _ = self.sim.market("POST", "/skills/skill-1/rate", rating_body())
        self.assertEqual((status, headers["Retry-After"]), (429, "1"))
        status, _, body = self.sim.market("POST", "/skills/skill-1/rate", rating_body())
        self.assertEqual((status, body), (503, {"error": "maintenance"}))
        self.assertEqual(self.sim.stats()["ratings_count"], 0)
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate", rating_body())[0], 201)
        self.assertEqual(self.sim.control("GET", "config")[1]["script"], [])

    def test_accept_then_delay_stores_although_the_client_times_out(self):
        self.sim.control("POST", "config",
                         {"accept_then_delay_rate": 1.0, "accept_then_delay_ms": 3000})
        with self.assertRaises(OSError):  # socket timeout, possibly wrapped in URLError
            self.sim.market("POST", "/skills/skill-1/rate", rating_body(), timeout=0.3)
        self.assertTrue(wait_for(lambda: self.sim.stats()["ratings_count"] == 1))

    def test_max_in_flight_counts_concurrent_requests(self):
        sim = self.start("--latency-ms", "200")
        barrier = threading.Barrier(5)
        statuses = []

        def worker(i):
            barrier.wait()
            statuses.append(sim.market("POST", "/skills/skill-1/rate",
                                       rating_body(user=f"user-{i}"))[0])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual(statuses, [201] * 5)
        self.assertEqual(sim.stats()["max_in_flight"], 5)
        self.assertTrue(wait_for(lambda: sim.stats()["in_flight"] == 0))

    def test_config_rejects_unknown_keys_and_wrong_types(self):
        for patch, key in (({"bogus": 1}, "bogus"), ({"fail_rate": 2}, "fail_rate"),
                           ({"latency_ms": "5"}, "latency_ms"),
                           ({"script": [{"headers": {}}]}, "script"),
                           ({"script": [{"status": 199}]}, "script"),
                           ({"script": [{"status": 200, "body_bytes": -1}]}, "script"),
                           ({"script": [{"status": 200, "body_bytes": 2 ** 40}]}, "script"),
                           ({"script": [{"status": 200, "chunked": 1}]}, "script"),
                           ({"script": [{"status": 200, "content_length": 9,
                                         "chunked": True}]}, "script"),
                           ({"script": [{"status": 200, "match": {"host": "x"}}]}, "script"),
                           ({"script": [{"status": 200, "match": {"method": 1}}]}, "script"),
                           ({"skill_padding_ratings": {"s": -1}}, "skill_padding_ratings"),
                           ({"skill_padding_ratings": [1]}, "skill_padding_ratings"),
                           ({"skill_tiny_entries": {"s": 10 ** 9}}, "skill_tiny_entries"),
                           ({"skill_tiny_entries": {"s": "1"}}, "skill_tiny_entries")):
            with self.subTest(patch=patch):
                status, body = self.sim.control("POST", "config", patch)
                self.assertEqual(status, 400)
                self.assertIn(key, body["error"])
        self.assertEqual(self.sim.control("GET", "config")[1]["fail_rate"], 0.0)

    # -- hostile marketplace

    def test_script_body_bytes_streams_exactly_that_many_bytes(self):
        size = 20 * 1024 * 1024 + 7  # not a whole number of pieces
        self.sim.control("POST", "config", {"script": [{"status": 200, "body_bytes": size}]})
        status, headers, received, start = self.sim.stream("GET", "/skills/skill-1")
        self.assertEqual((status, received), (200, size))
        self.assertEqual(headers["Content-Length"], str(size))
        self.assertIsNone(headers["Transfer-Encoding"])
        self.assertTrue(start.startswith(b'{"id":"rr-big","pad":"xxxx'))
        self.assertEqual(self.sim.stats()["by_status"], {"200": 1})
        for small in (0, 5):  # shorter than the JSON start: a cut-off start
            self.sim.control("POST", "config", {"script": [{"status": 200, "body_bytes": small,
                                                            "body": {"ignored": True}}]})
            self.assertEqual(self.sim.stream("GET", "/skills/skill-1")[2:],
                             (small, b'{"id":'[:small]))

    def test_script_chunked_sends_no_content_length(self):
        size = 3 * 1024 * 1024 + 1
        self.sim.control("POST", "config", {"script": [
            {"status": 200, "body_bytes": size, "chunked": True},
            {"status": 201, "body": {"id": "rr-x"}, "chunked": True}]})
        host, port = self.sim.address()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:  # both on one connection: a chunked answer keeps it alive
            conn.request("GET", "/skills/skill-1", headers=HEADERS)
            resp = conn.getresponse()
            self.assertEqual(resp.headers["Transfer-Encoding"], "chunked")
            self.assertIsNone(resp.headers["Content-Length"])
            received = 0
            while piece := resp.read(64 * 1024):
                received += len(piece)
            self.assertEqual((resp.status, received), (200, size))
            conn.request("POST", "/skills/skill-1/rate", body=json.dumps(rating_body()),
                         headers=HEADERS)
            resp = conn.getresponse()
            self.assertEqual(resp.headers["Transfer-Encoding"], "chunked")
            self.assertEqual((resp.status, json.loads(resp.read())), (201, {"id": "rr-x"}))
        finally:
            conn.close()
        self.assertEqual(self.sim.stats()["ratings_count"], 0)

    def test_script_content_length_lies_then_closes(self):
        self.sim.control("POST", "config", {"script": [
            {"status": 200, "body_bytes": 1000, "content_length": 10 ** 10}]})
        with socket.create_connection(self.sim.address(), timeout=10) as sock:
            sock.sendall(b"GET /skills/skill-1 HTTP/1.1\r\nHost: x\r\n"
                         b"X-API-Token: tok\r\nX-Instance-ID: i\r\n\r\n")
            raw = b""
            while chunk := sock.recv(65536):  # until the simulator closes
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 200 OK")
        self.assertIn(b"Content-Length: 10000000000", lines)
        self.assertIn(b"Connection: close", lines)
        self.assertEqual(len(body), 1000)
        self.assertTrue(body.startswith(b'{"id":"rr-big"'))

    def test_script_redirect_with_location(self):
        location = "http://127.0.0.2:9/skills/skill-1/rate"
        self.sim.control("POST", "config", {"script": [
            {"status": 307, "headers": {"Location": location}}]})
        conn = http.client.HTTPConnection(*self.sim.address(), timeout=10)
        try:  # http.client never follows redirects
            conn.request("POST", "/skills/skill-1/rate", body=json.dumps(rating_body()),
                         headers=HEADERS)
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.headers["Location"]), (307, location))
            self.assertEqual(json.loads(resp.read()), {})
        finally:
            conn.close()
        self.assertEqual(self.sim.stats()["ratings_count"], 0)

    def test_script_match_applies_to_matching_requests_only(self):
        script = [{"status": 503, "match": {"method": "POST", "path_prefix": "/skills/s2/"}},
                  {"status": 502, "match": {"method": "GET"}}]
        self.sim.control("POST", "config", {"script": script})
        self.assertEqual(self.sim.market("POST", "/skills/s1/rate",
                                         rating_body(skill="s1"))[0], 201)
        self.assertEqual(self.sim.market("GET", "/skills/s1")[0], 502)
        self.assertEqual(self.sim.market("GET", "/skills/s2")[0], 200)
        self.assertEqual(self.sim.market("POST", "/skills/s2/rate",
                                         rating_body(skill="s2"))[0], 503)
        self.assertEqual(self.sim.control("GET", "config")[1]["script"], [])
        self.assertEqual(self.sim.stats()["ratings_count"], 1)

    def test_request_log_says_whether_a_token_arrived(self):
        # a second simulator on another loopback host, as a redirect target would be
        try:
            other = self.start("--token", "secret", host="127.0.0.2")
        except RuntimeError as err:
            self.skipTest(f"127.0.0.2 is not usable here: {err}")
        self.assertTrue(other.url.startswith("http://127.0.0.2:"))
        other.market("GET", "/skills/skill-1", headers={"X-Instance-ID": "i"})
        other.market("GET", "/skills/skill-1", headers={"X-Instance-ID": "i",
                                                        "X-API-Token": "wrong"})
        other.market("GET", "/skills/skill-1", headers={"X-Instance-ID": "i",
                                                        "X-API-Token": "secret"})
        requests = other.stats()["requests"]
        self.assertEqual([(r["token_present"], r["token_matches"], r["status"])
                          for r in requests],
                         [(False, False, 401), (True, False, 401), (True, True, 200)])
        _, _, raw = other.request("GET", "/_sim/stats")
        self.assertNotIn("secret", json.dumps(raw))
        self.assertNotIn("wrong", json.dumps(raw))
        # no token configured: whether it matches is unknown
        self.sim.market("GET", "/skills/skill-1")
        entry = self.sim.stats()["requests"][0]
        self.assertEqual((entry["token_present"], entry["token_matches"]), (True, None))

    def raw_get(self, path):
        """GET `path` at the market as bytes, with the answer's headers: large listings."""
        host, port = self.sim.address()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request("GET", path, headers=HEADERS)
            resp = conn.getresponse()
            return resp, resp.read()
        finally:
            conn.close()

    def test_skill_padding_ratings_streams_many_ratings(self):
        self.sim.market("POST", "/skills/skill-1/rate", rating_body(user="real"))
        count = 150_000
        status, config = self.sim.control("POST", "config",
                                          {"skill_padding_ratings": {"skill-1": count}})
        self.assertEqual((status, config["skill_padding_ratings"]), (200, {"skill-1": count}))
        resp, data = self.raw_get("/skills/skill-1")
        self.assertEqual(resp.status, 200)
        self.assertEqual(int(resp.headers["Content-Length"]), len(data))
        self.assertGreater(len(data), 20 * 1024 * 1024)
        body = json.loads(data)
        self.assertEqual(body["id"], "skill-1")
        self.assertEqual(len(body["ratings"]), count + 1)
        self.assertEqual(body["ratings"][0]["user_id"], "real")
        self.assertEqual(body["ratings"][1], {
            "id": "filler-0000001", "user_id": "filler-user-1", "rating": 2, "comment": None,
            "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z"})
        self.assertEqual(len({r["user_id"] for r in body["ratings"]}), count + 1)
        # generated, not stored; other skills are not padded
        self.assertEqual(self.sim.stats()["ratings_count"], 1)
        self.assertEqual(self.sim.market("GET", "/skills/skill-2")[2],
                         {"id": "skill-2", "ratings": []})
        self.sim.control("POST", "config", {"skill_padding_ratings": {"skill-2": 2}})
        ids = [r["id"] for r in self.sim.market("GET", "/skills/skill-2")[2]["ratings"]]
        self.assertEqual(ids, ["filler-0000001", "filler-0000002"])

    def test_skill_tiny_entries_lists_millions_of_bare_numbers_in_4_mib(self):
        self.sim.market("POST", "/skills/skill-1/rate", rating_body(user="real"))
        count = 2_000_000
        status, config = self.sim.control("POST", "config",
                                          {"skill_tiny_entries": {"skill-1": count}})
        self.assertEqual((status, config["skill_tiny_entries"]), (200, {"skill-1": count}))
        resp, data = self.raw_get("/skills/skill-1")
        self.assertEqual(resp.status, 200)
        self.assertEqual(int(resp.headers["Content-Length"]), len(data))
        self.assertLessEqual(len(data), 4 * 1024 * 1024)
        body = json.loads(data)
        self.assertEqual(len(body["ratings"]), count + 1)
        self.assertEqual(body["ratings"][0]["user_id"], "real")
        self.assertEqual(set(body["ratings"][1:]), {1})
        # after the filler, when both are set; alone on a skill with no ratings
        self.sim.control("POST", "config", {"skill_padding_ratings": {"skill-2": 2},
                                            "skill_tiny_entries": {"skill-2": 3}})
        ratings = self.sim.market("GET", "/skills/skill-2")[2]["ratings"]
        self.assertEqual([r["id"] for r in ratings[:2]], ["filler-0000001", "filler-0000002"])
        self.assertEqual(ratings[2:], [1, 1, 1])
        self.sim.control("POST", "config", {"skill_padding_ratings": {},
                                            "skill_tiny_entries": {"skill-3": 2}})
        self.assertEqual(self.sim.market("GET", "/skills/skill-3")[2],
                         {"id": "skill-3", "ratings": [1, 1]})

    def test_raw_ratings_are_stored_and_listed_as_given(self):
        hostile = [
            {"id": "../x", "skill_id": "skill-1", "user_id": "u-raw", "rating": 99,
             "comment": "c" * 2000, "extra": {"nested": [1, None]}},
            {"skill_id": "skill-1", "user_id": "u-float", "rating": 4.5},
            {"id": "rr-000002", "skill_id": "skill-1", "user_id": "u-null", "rating": None,
             "created_at": 17},
        ]
        stored = []
        for rating in hostile:
            status, body = self.sim.control("POST", "raw-ratings", rating)
            self.assertEqual(status, 201)
            stored.append(body)
        self.assertEqual(stored[0], hostile[0])
        self.assertEqual(stored[1], {"id": "rr-000001", **hostile[1]})
        self.assertEqual(stored[2], hostile[2])

        _, _, skill = self.sim.market("GET", "/skills/skill-1")
        self.assertEqual(skill["ratings"], sorted(stored, key=lambda r: r["id"]))
        status, _, body = self.sim.market("POST", "/skills/skill-1/rate",
                                          rating_body(user="u-raw"))
        self.assertEqual((status, body), (409, {"error": "user already rated this skill",
                                                "id": "../x"}))
        # a later create skips the ids raw ratings hold
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate",
                                         rating_body(user="new"))[2]["id"], "rr-000003")
        for bad, code in (({"skill_id": "skill-1"}, 400), ({"skill_id": 1, "user_id": "u"}, 400),
                          ({"skill_id": "s", "user_id": "u", "id": 5}, 400),
                          ({"skill_id": "skill-1", "user_id": "u-raw"}, 409),
                          ({"skill_id": "s", "user_id": "u", "id": "../x"}, 409)):
            with self.subTest(bad=bad):
                self.assertEqual(self.sim.control("POST", "raw-ratings", bad)[0], code)
        self.assertEqual(self.sim.control("DELETE", "ratings/..%2Fx")[0], 204)
        self.assertEqual(self.sim.market("POST", "/skills/skill-1/rate",
                                         rating_body(user="u-raw"))[0], 201)

    # -- control API

    def test_control_ratings_insert_merge_delete(self):
        status, inserted = self.sim.control("POST", "ratings", {
            **rating_body(user="web-user"), "created_at": "2024-01-01T00:00:00.000Z"})
        self.assertEqual(status, 201)
        self.assertEqual(inserted["updated_at"], "2024-01-01T00:00:00.000Z")
        self.assertEqual(self.sim.stats()["creates"], 0)  # not a marketplace create
        status, merged = self.sim.control("PUT", f"ratings/{inserted['id']}",
                                          {"rating": 1, "updated_at": None})
        self.assertEqual((status, merged["rating"]), (200, 1))
        self.assertNotIn("updated_at", merged)
        _, _, skill = self.sim.market("GET", "/skills/skill-1")
        self.assertEqual([r["rating"] for r in skill["ratings"]], [1])
        self.assertEqual(self.sim.control("DELETE", f"ratings/{inserted['id']}")[0], 204)
        self.assertEqual(self.sim.control("DELETE", f"ratings/{inserted['id']}")[0], 404)
        self.assertEqual(self.sim.control("GET", "ratings")[1], {"ratings": []})

    def test_reset_and_reset_stats(self):
        sim = self.start("--latency-ms", "1")
        sim.market("POST", "/skills/skill-1/rate", rating_body(), key="k")
        sim.control("POST", "config", {"latency_ms": 0, "legacy_id_field": True})
        self.assertEqual(sim.control("POST", "reset-stats"), (200, {}))
        stats = sim.stats()
        self.assertEqual((stats["requests_total"], stats["max_in_flight"], stats["requests"],
                          stats["ratings_count"]), (0, 0, [], 1))

        self.assertEqual(sim.control("POST", "reset"), (200, {}))
        stats = sim.stats()
        self.assertEqual((stats["requests_total"], stats["max_in_flight"], stats["creates"],
                          stats["ratings_count"]), (0, 0, 0, 0))
        config = sim.control("GET", "config")[1]
        self.assertEqual((config["latency_ms"], config["legacy_id_field"]), (1, False))
        # idempotency memory is gone too: the same key creates again
        status, _, body = sim.market("POST", "/skills/skill-1/rate", rating_body(), key="k")
        self.assertEqual((status, body["id"]), (201, "rr-000001"))

    # -- process

    def test_exits_zero_on_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                sim = self.start()
                sim.proc.send_signal(sig)
                self.assertEqual(sim.proc.wait(timeout=5), 0)

    def test_refuses_non_loopback_host(self):
        proc = subprocess.run([sys.executable, SIMULATOR, "--host", "0.0.0.0", "--port", "0"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("loopback", proc.stderr)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    unittest.main()
