"""Connections to the services celeriac talks to, shared by every layer that needs one.

A broker transport, a result store, beat's schedule store and lock, the revocation store and
the worker's start-up wait all open connections to the same kinds of servers and files. What
it takes to get and keep such a connection lives here, once, and they all use it alike:

* building a client from a URL and options (``redis.parse_url``/``build_client``,
  ``amqp.parse_url``/``Link``, ``sqlite.parse_sqlite_url``/``SqliteHandle``), including TLS
  options and a printable form of the URL with the secrets left out;
* keeping connections: pinned Redis connections for the hot paths, a py-amqp link that
  reopens itself, a fork-aware SQLite handle (a connection never crosses ``fork()``);
* retrying: the reconnect policy and backoff (``retry``), and what a refusal by the server
  means (an error reply is reported, never retried as if the server were down);
* the on-disk format of the embedded SQLite file, which the broker, the result store, chord
  joins and revocations share (``sqlite_schema``).

What does not belong here: queue, channel and message behaviour (that is ``transport/``),
and what a store keeps and how (that is ``backends/``). A new kind of connection (a SQL
database, Memcached, SQS) gets a module here that both its transport and its store use.

Layering: this package imports only from the layers below it (``config``, ``protocol``,
``serialization``, ``routing``, ``utils``, ``exceptions``, ``signals``, ``_state``), never
from ``transport``, ``backends``, ``worker`` or ``app``.
"""
