"""The RabbitMQ revocation store (``celeriac/transport/amqp/revocations.py``): what it costs.

Run: .venv/bin/python -m bench.amqp_revocations [-n 10000]

In a throw-away vhost: the time of one ``add`` (a confirmed publish to the stream), of a
fresh reader's first ``version`` (sync record, then reading every record from offset
``first``) over ``n`` records, and of ``version`` when nothing is new (a worker heartbeat).
"""

from __future__ import annotations

import argparse
import time

from celeriac.config.frozen import TransportOptions
from celeriac.control.revocations import open_revocation_store
from celeriac.transport.amqp import AmqpTransport
from tests.integration.amqp_vhost import rabbitmq_vhost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10_000)
    args = parser.parse_args()
    with rabbitmq_vhost("bench_revocations") as vhost:
        transport = AmqpTransport.from_url(vhost.url, TransportOptions())
        writer = open_revocation_store(transport)
        start = time.perf_counter()
        for i in range(args.n):
            writer.add([f"task-{i}"], 3600)
        add = (time.perf_counter() - start) / args.n
        reader = open_revocation_store(transport)
        start = time.perf_counter()
        reader.version()
        catch_up = time.perf_counter() - start
        loaded = len(reader.load())
        start = time.perf_counter()
        for _ in range(100):
            reader.version()
        idle = (time.perf_counter() - start) / 100
        print(f"add: {add * 1000:.2f} ms; first version over {args.n} records: "
              f"{catch_up * 1000:.0f} ms ({loaded} ids); idle version: {idle * 1e6:.0f} us")
        writer.close()
        reader.close()
        transport.close()


if __name__ == "__main__":
    main()
