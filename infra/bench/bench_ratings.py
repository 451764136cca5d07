#!/usr/bin/env python3
"""The benchmark's hands in DynamoDB (`infra/bench/bench.py` runs this with
.venv's python, which has boto3): writes ratings the way the Atom app
writes them (the README's write contract, as `local-stack seed` does), and
reads the table back.

    bench_ratings.py steady --table T --rate 20 --seconds 60 [--prefix P] [--skills N]
        one PutItem at a time, on a fixed schedule (rating i at start + i/rate)
    bench_ratings.py burst --table T --count 1000 [--prefix P] [--skills N]
        BatchWriteItem, 25 at a time, as fast as the server takes them
    bench_ratings.py items --table T
        every item, in DynamoDB JSON, one line each (for stream records)
    bench_ratings.py state --table T
        how many items there are, synced, and still pending (one JSON line)
    bench_ratings.py ceiling --table T --source S --count 100000 [--threads 8]
        the server's own batch-write ceiling: `count` copies of the items of
        table S (new ids of the same length), BatchWriteItem, 25 a request,
        from `threads` threads; one JSON line {"items", "seconds",
        "requests", "retried", "item_bytes"}

Endpoint and credentials come from the environment (AWS_ENDPOINT_URL_DYNAMODB,
AWS_ACCESS_KEY_ID, ...). `steady` and `burst` print one JSON line per
rating, {"id", "at"}: `at` is the bench's clock (epoch seconds) just before
the request that wrote it was sent; `updated_at` and `created_at` are that
same instant. Then a last line {"done": epoch seconds}.
"""

import argparse
import json
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import boto3
from botocore.config import Config


def client():
    return boto3.client("dynamodb", config=Config(retries={"max_attempts": 10, "mode": "standard"}))


def rfc3339(epoch):
    at = datetime.fromtimestamp(epoch, timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def item(prefix, index, skills, epoch):
    """A new, pending rating, as shared::store::new_rating_item writes it."""
    at = rfc3339(epoch)
    fields = {
        "id": {"S": f"{prefix}rating-{index:06d}"},
        "tenant_id": {"S": f"tenant-{index % 3}"},
        "skill_id": {"S": f"{prefix}skill-{index % skills}"},
        "user_id": {"S": f"{prefix}user-{index}"},
        "rating": {"N": str(index % 5 + 1)},
        "created_at": {"S": at},
        "updated_at": {"S": at},
        "version": {"N": "1"},
        "synced_to_saas": {"S": "false"},
    }
    if index % 2 == 0:
        fields["review"] = {"S": f"Review number {index}"}
    return fields


def emit(line):
    sys.stdout.write(json.dumps(line) + "\n")


def steady(args):
    dynamodb = client()
    total = int(args.rate * args.seconds)
    start = time.time() + 0.2
    for index in range(total):
        due = start + index / args.rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        at = time.time()
        fields = item(args.prefix, index, args.skills, at)
        dynamodb.put_item(TableName=args.table, Item=fields)
        emit({"id": fields["id"]["S"], "at": at})
    emit({"done": time.time()})


def burst(args):
    dynamodb = client()
    index = 0
    while index < args.count:
        at = time.time()
        chunk = [item(args.prefix, i, args.skills, at)
                 for i in range(index, min(index + 25, args.count))]
        requests = [{"PutRequest": {"Item": fields}} for fields in chunk]
        while requests:
            out = dynamodb.batch_write_item(RequestItems={args.table: requests})
            requests = out.get("UnprocessedItems", {}).get(args.table, [])
        for fields in chunk:
            emit({"id": fields["id"]["S"], "at": at})
        index += len(chunk)
    emit({"done": time.time()})


def scan(table):
    pages = client().get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    for page in pages:
        yield from page["Items"]


def items(args):
    for fields in scan(args.table):
        emit(fields)


def state(args):
    total = synced = pending = 0
    for fields in scan(args.table):
        total += 1
        if "synced_at" in fields and "remote_rating_id" in fields:
            synced += 1
        if fields.get("synced_to_saas") == {"S": "false"}:
            pending += 1
    emit({"items": total, "synced": synced, "pending": pending})


def item_bytes(fields):
    """An item's size roughly as DynamoDB counts it: names and values."""
    size = 0
    for name, value in fields.items():
        (kind, inner), = value.items()
        if kind == "S":
            size += len(name) + len(inner.encode())
        elif kind == "N":
            size += len(name) + len(inner) // 2 + 1
        else:
            size += len(name) + len(json.dumps(inner))
    return size


def ceiling(args):
    """BatchWriteItem as fast as the server takes it, from several threads."""
    templates = list(client().scan(TableName=args.source, Limit=200)["Items"])
    if not templates:
        raise SystemExit(f"bench_ratings.py: {args.source} is empty")
    chunks = [(start, min(start + 25, args.count)) for start in range(0, args.count, 25)]
    lock = threading.Lock()
    counts = {"requests": 0, "retried": 0}
    # One client per thread, made here: boto3's session is not thread-safe.
    clients = [client() for _ in range(args.threads)]

    def write(dynamodb):
        while True:
            with lock:
                if not chunks:
                    return
                start, end = chunks.pop()
            requests = [{"PutRequest": {"Item": dict(templates[i % len(templates)],
                                                     id={"S": str(uuid.uuid4())})}}
                        for i in range(start, end)]
            backoff = 0.05
            while requests:
                out = dynamodb.batch_write_item(RequestItems={args.table: requests})
                requests = out.get("UnprocessedItems", {}).get(args.table, [])
                with lock:
                    counts["requests"] += 1
                    counts["retried"] += len(requests)
                if requests:
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)

    threads = [threading.Thread(target=write, args=(c,)) for c in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    emit({"items": args.count, "seconds": seconds, **counts,
          "item_bytes": sum(map(item_bytes, templates)) / len(templates)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["steady", "burst", "items", "state", "ceiling"])
    parser.add_argument("--table", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--skills", type=int, default=25)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--source", help="ceiling: the table whose items are copied")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    modes = {"steady": steady, "burst": burst, "items": items, "state": state, "ceiling": ceiling}
    modes[args.mode](args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
