"""A result's tree of dependencies: ``iterdeps``, ``collect`` and ``build_graph``.

A task that sends other tasks (with ``trail=True``, the default) stores their results as its
``children``; a chain's steps and a group's members hang off the first result the same way.
Walking that tree breadth first, waiting for each node, is Celery's ``AsyncResult.collect``.
``DependencyGraph`` is the small part of Celery's ``celery.utils.graph.DependencyGraph`` that
``build_graph`` users read: nodes, arcs, ``edges()``, ``topsort()`` and ``to_dot()``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

from celeriac.exceptions import IncompleteStream


def iterdeps(root: Any, intermediate: bool = False) -> Iterator[tuple[Any, Any]]:
    """Yield ``(parent, node)`` for ``root`` and every result below it, breadth first.

    Raises:
        IncompleteStream: a node is not ready yet and ``intermediate`` is false (its
            children are not known until it finishes).
    """
    stack: deque[tuple[Any, Any]] = deque([(None, root)])
    while stack:
        parent, node = stack.popleft()
        yield parent, node
        if node.ready():
            stack.extend((node, child) for child in node.children or [])
        elif not intermediate:
            raise IncompleteStream()


class DependencyGraph:
    """Nodes (results) and arcs (parent -> child), as Celery's ``DependencyGraph``."""

    def __init__(self, it: Iterable[tuple[Any, Iterable[Any]]] | None = None,
                 formatter: Any = None) -> None:
        self.formatter = formatter
        self.adjacent: dict[Any, list[Any]] = {}
        if it is not None:
            self.update(it)

    def add_arc(self, obj: Any) -> None:
        """Add ``obj`` as a node."""
        self.adjacent.setdefault(obj, [])

    def add_edge(self, a: Any, b: Any) -> None:
        """Add an arc from ``a`` to ``b`` (``b`` depends on ``a``)."""
        self.add_arc(a)
        self.adjacent[a].append(b)

    def update(self, it: Iterable[tuple[Any, Iterable[Any]]]) -> None:
        for obj, deps in it:
            self.add_arc(obj)
            for dep in deps:
                self.add_edge(obj, dep)

    def edges(self) -> Iterator[Any]:
        """The nodes that have arcs out of them."""
        return (obj for obj, adj in self.adjacent.items() if adj)

    def valency_of(self, obj: Any) -> int:
        """How many nodes ``obj`` reaches (itself included)."""
        return 1 + sum(self.valency_of(child) for child in self.adjacent.get(obj, ()))

    def topsort(self) -> list[Any]:
        """Every node after the nodes with arcs to it (Kahn's algorithm)."""
        incoming = {node: 0 for node in self.adjacent}
        for children in self.adjacent.values():
            for child in children:
                incoming[child] = incoming.get(child, 0) + 1
        ready = deque(node for node, count in incoming.items() if not count)
        order: list[Any] = []
        while ready:
            node = ready.popleft()
            order.append(node)
            for child in self.adjacent.get(node, ()):
                incoming[child] -= 1
                if not incoming[child]:
                    ready.append(child)
        return order

    def to_dot(self, fh: IO[str], formatter: Any = None) -> None:
        """Write the graph in GraphViz's dot language to ``fh``; with a ``formatter`` (this
        call's or the graph's: Celery's ``GraphFormatter`` shape, ``head``/``tail``/``node``/
        ``terminal_node``/``edge``/``label``), drawn by it as Celery draws it."""
        draw = formatter or self.formatter
        if draw is not None:
            self._draw(fh, draw)
            return
        fh.write("digraph dependencies {\n")
        for node, children in self.adjacent.items():
            fh.write(f'    "{node}";\n')
            for child in children:
                fh.write(f'    "{node}" -> "{child}";\n')
        fh.write("}\n")

    def _draw(self, fh: IO[str], draw: Any) -> None:
        seen: set[Any] = set()

        def line(text: str | bytes) -> None:  # Celery's formatter returns bytes
            print(text.decode() if isinstance(text, bytes) else text, file=fh)

        def once(fun: Any, obj: Any) -> None:
            if draw.label(obj) not in seen:
                line(fun(obj))
                seen.add(draw.label(obj))

        line(draw.head())
        for obj, adjacent in self.adjacent.items():
            if not adjacent:
                once(draw.terminal_node, obj)
            for child in adjacent:
                once(draw.node, obj)
                line(draw.edge(obj, child))
        line(draw.tail())

    def items(self) -> Iterator[tuple[Any, list[Any]]]:
        return iter(self.adjacent.items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.adjacent)

    def __getitem__(self, node: Any) -> list[Any]:
        return self.adjacent[node]

    def __len__(self) -> int:
        return len(self.adjacent)

    def __contains__(self, obj: object) -> bool:
        return obj in self.adjacent

    def __repr__(self) -> str:
        return f"<DependencyGraph: {len(self)} nodes>"


def build_graph(root: Any, intermediate: bool = False) -> DependencyGraph:
    """The dependency graph of ``root``'s results (see ``iterdeps``)."""
    graph = DependencyGraph()
    for parent, node in iterdeps(root, intermediate=intermediate):
        graph.add_arc(node)
        if parent is not None:
            graph.add_edge(parent, node)
    return graph


class ResultTree:
    """``AsyncResult``'s walks over the results it led to (Celery's ``collect`` and co)."""

    def iterdeps(self, intermediate: bool = False) -> Iterator[tuple[Any, Any]]:
        """``(parent, result)`` for this result and every one below it, breadth first."""
        return iterdeps(self, intermediate)

    def collect(self, intermediate: bool = False, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
        """Yield ``(result, value)`` for this result and every child result it led to,
        waiting for each (``kwargs`` go to ``get``); ``IncompleteStream`` when a node is not
        ready and ``intermediate`` is false."""
        for _, node in self.iterdeps(intermediate=intermediate):
            yield node, node.get(**kwargs)

    def get_leaf(self) -> Any:
        value = None
        for _, node in self.iterdeps():
            value = node.get()
        return value

    def build_graph(self, intermediate: bool = False,
                    formatter: Any = None) -> DependencyGraph:
        graph = build_graph(self, intermediate)
        graph.formatter = formatter
        return graph

    @property
    def graph(self) -> DependencyGraph:
        return self.build_graph()


__all__ = ["DependencyGraph", "ResultTree", "build_graph", "iterdeps"]
