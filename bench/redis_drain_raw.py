"""Raw Redis channel throughput: publish N trivial messages in batches, then fetch+ack them.

Run: .venv/bin/python -m bench.redis_drain_raw [--url redis://HOST:PORT/DB] [-n 50000]
Measures the transport alone (no worker): envelope encode, pipelined LPUSH, the Lua fetch,
envelope decode, the ack script. By default on a private redis-server started and stopped by
this run; with ``--url`` on that database, which is FLUSHED before and after.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from bench.redis_server import bench_redis
from celeriac.config.frozen import TransportOptions
from celeriac.protocol.message import TaskMessage
from celeriac.transport.base import Outbound
from celeriac.transport.redis import RedisTransport


def trivial(n: int) -> TaskMessage:
    tid = str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": "bench.noop",
        "id": tid,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": tid,
        "parent_id": None,
        "argsrepr": f"({n},)",
        "kwargsrepr": "{}",
        "origin": "bench@host",
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    body = json.dumps(
        [[n], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    ).encode()
    props = {"correlation_id": tid, "reply_to": "r", "delivery_mode": 2, "priority": 0}
    return TaskMessage(headers, props, body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None,
                        help="a Redis database you own, e.g. redis://127.0.0.1:6379/8: it is "
                             "FLUSHED (default: db 0 of a private redis-server for this run)")
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    with bench_redis(args.url) as url:
        drain(url if args.url else f"{url}/0", args)


def drain(url: str, args: argparse.Namespace) -> None:
    transport = RedisTransport.from_url(url, TransportOptions())
    transport.client.flushdb()
    channel = transport.channel()
    messages = [Outbound(trivial(i), "bench") for i in range(args.n)]
    start = time.perf_counter()
    for i in range(0, args.n, args.batch):
        channel.publish(messages[i : i + args.batch])
    published = time.perf_counter() - start
    start = time.perf_counter()
    drained = 0
    while drained < args.n:
        got = channel.fetch(["bench"], args.limit, 1.0)
        if not got:
            break
        channel.ack(got)
        drained += len(got)
    elapsed = time.perf_counter() - start
    print(
        f"publish: {args.n} msgs in {published:.2f}s = {args.n / published:,.0f} msg/s "
        f"(batches of {args.batch})"
    )
    print(
        f"drain:   {drained} msgs in {elapsed:.2f}s = {drained / elapsed:,.0f} msg/s "
        f"(fetch limit {args.limit} + decode + ack)"
    )
    transport.client.flushdb()
    transport.close()


if __name__ == "__main__":
    main()
