"""``LazyTasks``: a group's (or chord header's) members drawn from a generator as they are used.

Celery 5.x keeps ``group(gen)`` and ``chord(gen, body)`` lazy (its ``regen``): building the
signature consumes nothing, and sending it publishes members while the generator is read
(``group.apply_async`` streams them in batches and sizes the chord before its last batch), so
a header of a million generated tasks is never a list of a million signatures. Anything that
needs the whole header (``len``, indexing from the end, ``freeze``, serialising, copying)
reads the rest first, once; what was read is kept, so the generator is read only once.

Not a ``list`` subclass on purpose: JSON encoders read a list's storage directly and would
send only the members read so far. Serialisers see it through ``__json__``/``__reduce__``,
which read it whole first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence
from typing import Any, overload


class LazyTasks(MutableSequence[Any]):
    """Members from ``source``, each passed through ``convert`` when first read."""

    def __init__(self, source: Iterable[Any], convert: Callable[[Any], Any]) -> None:
        self._items: list[Any] = []
        self._source: Iterator[Any] | None = iter(source)
        self._convert = convert

    @property
    def consumed(self) -> bool:
        """Whether the generator has been read to its end."""
        return self._source is None

    def _pull(self) -> bool:
        if self._source is None:
            return False
        try:
            item = next(self._source)
        except StopIteration:
            self._source = None
            return False
        self._items.append(self._convert(item))
        return True

    def _fill(self) -> list[Any]:
        while self._pull():
            pass
        return self._items

    def __iter__(self) -> Iterator[Any]:
        index = 0
        while index < len(self._items) or self._pull():
            yield self._items[index]
            index += 1

    def __bool__(self) -> bool:
        return bool(self._items) or self._pull()

    def __len__(self) -> int:
        return len(self._fill())

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice) or index < 0:
            return self._fill()[index]
        while index >= len(self._items) and self._pull():
            pass
        return self._items[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self._fill()[index] = value

    def __delitem__(self, index: Any) -> None:
        del self._fill()[index]

    def insert(self, index: int, value: Any) -> None:
        self._fill().insert(index, value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTasks):
            other = other._fill()
        return self._fill() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._fill())

    def __json__(self) -> list[Any]:
        return list(self._fill())

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self._fill()),)


__all__ = ["LazyTasks"]
