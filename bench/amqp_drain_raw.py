"""Raw RabbitMQ channel throughput: publish N trivial messages, then fetch + ack them.

Run: .venv/bin/python -m bench.amqp_drain_raw [--url amqp://guest:guest@127.0.0.1:5672//]
[-n 50000] [--limit 4]

Measures the AMQP transport alone (no worker): confirmed publishing, then ``fetch`` (py-amqp
reading and decoding, ``Delivery`` building) and ``ack`` as the worker calls them, ``--limit``
deliveries at a time (the worker's prefetch window; 4 for one solo process by default). Uses a
queue of its own and deletes it at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from bench.redis_drain_raw import trivial
from celeriac.config.frozen import TransportOptions
from celeriac.transport.amqp import AmqpTransport
from celeriac.transport.base import Outbound


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    transport = AmqpTransport.from_url(args.url, TransportOptions())
    channel = transport.channel()
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    messages = [Outbound(trivial(i), queue) for i in range(args.n)]
    try:
        for _ in range(args.rounds):
            start = time.perf_counter()
            for i in range(0, args.n, args.batch):
                channel.publish(messages[i : i + args.batch])
            published = time.perf_counter() - start
            start, cpu = time.perf_counter(), time.process_time()
            drained = 0
            while drained < args.n:
                got = channel.fetch([queue], args.limit, 1.0)
                if not got:
                    break
                channel.ack(got)
                drained += len(got)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            print(f"publish: {args.n} msgs in {published:.2f}s = {args.n / published:,.0f} msg/s "
                  f"(confirmed batches of {args.batch})")
            per_message = cpu * 1e6 / max(drained, 1)
            print(f"drain:   {drained} msgs in {elapsed:.2f}s = {drained / elapsed:,.0f} msg/s "
                  f"(fetch limit {args.limit} + decode + ack; {per_message:.0f} us CPU "
                  "per message)", flush=True)
    finally:

        def delete(ch: Any, declared: Any) -> None:
            ch.queue_delete(queue)

        channel.publisher.run(delete, "delete the bench queue")
        transport.close()


if __name__ == "__main__":
    main()
