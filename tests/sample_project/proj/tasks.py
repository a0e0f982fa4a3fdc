"""The project's tasks: shared tasks, so every app (the test app too) has them."""

from __future__ import annotations

from celeriac import Task, chain, chord, group, shared_task


@shared_task
def add(x: int, y: int) -> int:
    return x + y


@shared_task
def mul(x: int, y: int) -> int:
    return x * y


@shared_task
def xsum(numbers: list[int]) -> int:
    return sum(numbers)


@shared_task
def fail(message: str) -> None:
    raise ValueError(message)


@shared_task(bind=True, max_retries=5, default_retry_delay=0)
def flaky(self, succeed_after):
    """Fails until it was retried ``succeed_after`` times; returns how many retries it took."""
    if self.request.retries < succeed_after:
        raise self.retry(exc=RuntimeError("not yet"), countdown=0)
    return int(self.request.retries)


@shared_task(bind=True)
def whoami(self, *args):
    """A bound task reporting its own request."""
    return {"id": self.request.id, "name": self.name, "args": list(self.request.args or [])}


class Multiply(Task):
    """A class-based task (registered with ``app.register_task``)."""

    name = "proj.tasks.Multiply"

    def run(self, x: int, y: int) -> int:
        return x * y


def sum_of_squares(numbers):
    """A chord: square every number in parallel, then add the squares."""
    return chord([mul.s(n, n) for n in numbers], xsum.s())


def add_then_double(x, y):
    return chain(add.s(x, y), mul.s(2))


def adds(pairs):
    return group(add.s(x, y) for x, y in pairs)
