"""The snapshots of a domain as a tree (a forest: a domain may have several roots).

``Domain.snapshot_tree()`` in the compiled core calls
:meth:`SnapshotTree.from_domain`. Siblings are kept in the order
``virsh snapshot-list`` sorts names (ASCII case-insensitive, byte-wise), and
:meth:`SnapshotTree.render` draws exactly what ``virsh snapshot-list --tree``
prints. Every walk, drawing and serializer uses a stack, not recursion, so a
chain of any depth works.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

    from virtsnap._snapshot import Domain
    from virtsnap.info import SnapshotInfo

__all__ = ["SnapshotTree", "virsh_sort_key"]


def virsh_sort_key(name: str) -> bytes:
    """virsh's name order: strcasecmp() on the UTF-8 bytes."""
    return name.encode("utf-8").lower()


class SnapshotTree:
    """A snapshot forest built from a child -> parent name map.

    A snapshot whose parent is None, or is not in the map (a filtered
    listing), is a root. ``infos`` (name -> SnapshotInfo) is optional and
    only needed for :meth:`chronological`.
    """

    def __init__(self, parents: Mapping[str, Optional[str]],
                 infos: Optional[Mapping[str, SnapshotInfo]] = None, *,
                 ordered: bool = False) -> None:
        self._parents: Dict[str, Optional[str]] = dict(parents)
        self._infos = dict(infos) if infos is not None else None
        self._ordered = ordered
        self._children: Dict[Optional[str], List[str]] = {}
        # ordered: siblings keep the order of ``parents`` (virsh --topological keeps libvirt's)
        for name in self._parents if ordered else sorted(self._parents, key=virsh_sort_key):
            parent = self._parents[name]
            self._children.setdefault(parent if parent in self._parents else None, []).append(name)

    @classmethod
    def from_domain(cls, domain: Domain, list_flags: int = 0) -> "SnapshotTree":
        """The tree of ``domain``'s snapshots, from one bulk parent lookup."""
        return cls(domain.snapshot_parents(list_flags))

    @classmethod
    def from_infos(cls, infos: Iterable[SnapshotInfo]) -> "SnapshotTree":
        """A tree from :class:`~virtsnap.info.SnapshotInfo` records, which also enables
        :meth:`chronological`."""
        by_name = {info.name: info for info in infos}
        return cls({name: info.parent for name, info in by_name.items()}, by_name)

    # -- structure

    def __len__(self) -> int:
        return len(self._parents)

    def __contains__(self, name: object) -> bool:
        return name in self._parents

    def __iter__(self) -> Iterator[str]:
        return self.depth_first()

    def __repr__(self) -> str:
        return f"<SnapshotTree of {len(self)} snapshots, roots {self.roots!r}>"

    @property
    def roots(self) -> List[str]:
        """The snapshots without a parent in the tree, in virsh's name order."""
        return list(self._children.get(None, ()))

    @property
    def leaves(self) -> List[str]:
        """The snapshots without children, in depth-first order."""
        return [name for name in self.depth_first() if not self._children.get(name)]

    def _check(self, name: str) -> None:
        if name not in self._parents:
            raise KeyError(name)

    def parent(self, name: str) -> Optional[str]:
        """The parent's name as libvirt reports it, or None for a root."""
        self._check(name)
        return self._parents[name]

    def children(self, name: str) -> List[str]:
        """The children's names of ``name``, in virsh's name order; KeyError if unknown."""
        self._check(name)
        return list(self._children.get(name, ()))

    def ancestors(self, name: str) -> List[str]:
        """Parent, grandparent, ... up to the root, as far as the tree holds them."""
        self._check(name)
        out: List[str] = []
        seen = {name}  # only a hand-made parent map can loop
        parent = self._parents[name]
        while parent in self._parents and parent not in seen:
            out.append(parent)
            seen.add(parent)
            parent = self._parents[parent]
        return out

    def descendants(self, name: str) -> List[str]:
        """Every snapshot below ``name``, depth first."""
        return list(self.depth_first(name))[1:]

    def subtree(self, name: str, max_depth: Optional[int] = None) -> "SnapshotTree":
        """The tree rooted at ``name``, ``max_depth`` levels deep (None: all)."""
        parents: Dict[str, Optional[str]] = {name: None}
        for child, depth in self.walk(name):
            if 0 < depth and (max_depth is None or depth <= max_depth):
                parents[child] = self._parents[child]
        infos = None if self._infos is None else {n: self._infos[n] for n in parents}
        return SnapshotTree(parents, infos, ordered=self._ordered)

    # -- orders

    def walk(self, start: Optional[str] = None) -> Iterator[Tuple[str, int]]:
        """(name, depth) pairs, depth first, from ``start`` or from every root."""
        if start is not None:
            self._check(start)
        stack = [(start, 0)] if start is not None else [(r, 0) for r in reversed(self.roots)]
        seen = set()  # only a hand-made parent map can loop; never walk it twice
        while stack:
            name, depth = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            yield name, depth
            stack.extend((child, depth + 1) for child in reversed(self._children.get(name, ())))

    def depth_first(self, start: Optional[str] = None) -> Iterator[str]:
        """Names in pre-order: each snapshot, then its subtrees in sibling order."""
        return (name for name, _ in self.walk(start))

    def topological(self) -> Iterator[str]:
        """Names level by level (breadth first): every parent before its children."""
        from collections import deque

        queue = deque(self.roots)
        while queue:
            name = queue.popleft()
            yield name
            queue.extend(self._children.get(name, ()))

    def chronological(self, infos: Optional[Mapping[str, SnapshotInfo]] = None) -> List[str]:
        """Names by creation time; ties (same second) keep parents before children.

        Needs ``infos`` (name -> SnapshotInfo), given here or to the constructor.
        """
        infos = infos if infos is not None else self._infos
        if infos is None:
            raise ValueError("chronological order needs snapshot infos (creation times)")
        return sorted(self.depth_first(), key=lambda name: infos[name].creation_time)

    # -- drawing

    def render(self) -> str:
        """The ASCII drawing of ``virsh snapshot-list --tree``, byte for byte.

        Each root starts at column 0; a child line is ``+- name`` under a
        ``|`` line; the last leaf of every root tree ends with a line of its
        indentation, which separates one root tree from the next.
        """
        return "".join(self.render_lines())

    def render_lines(self) -> Iterator[str]:
        """The lines of :meth:`render`, each ending in a newline, one at a time."""
        # virsh's vshTreePrintInternal(), with a stack of
        # (name, its last sibling, indentation, is a root) instead of recursion.
        stack = [(root, root, "", True) for root in reversed(self.roots)]
        while stack:
            name, last_sibling, indent, root = stack.pop()
            yield f"{indent}{'' if root else '+- '}{name}\n"
            if not root:
                indent += (" " if name == last_sibling else "|") + " "
            children = self._children.get(name)
            if children:
                yield f"{indent}  |\n"
                stack.extend((child, children[-1], indent + "  ", False)
                             for child in reversed(children))
            elif name == last_sibling:
                yield f"{indent}\n"

    def to_json(self, domain: str) -> str:
        """``json.dumps({"domain": domain, "roots": [Node, ...]}, indent=2,
        ensure_ascii=False)``, Node being ``{"name": str, "children": [Node, ...]}``
        (the ``list --tree --json`` document), byte for byte, without recursion."""
        import json

        dumps = json.dumps
        parts = ['{\n  "domain": ', dumps(domain, ensure_ascii=False), ',\n  "roots": [']
        # One frame per open list of nodes: (remaining names, indentation of its items,
        # no item written yet). The roots' list is the outermost.
        stack: List[Tuple[Iterator[str], int, bool]] = [(iter(self.roots), 4, True)]
        while stack:
            remaining, indent, first = stack[-1]
            name = next(remaining, None)
            if name is None:  # names are never None: the list is done
                stack.pop()
                if not first:
                    parts.append("\n" + " " * (indent - 2))
                parts.append("]")
                if stack:  # these were a node's children: close that node
                    parts.append("\n" + " " * (indent - 4) + "}")
                continue
            stack[-1] = (remaining, indent, False)
            pad = " " * indent
            parts.append(f'{"" if first else ","}\n{pad}{{\n{pad}  "name": '
                         f'{dumps(name, ensure_ascii=False)},\n{pad}  "children": [')
            children = self._children.get(name)
            if children:
                stack.append((iter(children), indent + 4, True))
            else:
                parts.append(f"]\n{pad}}}")
        parts.append("\n}")
        return "".join(parts)
