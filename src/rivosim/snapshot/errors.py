"""The snapshot layer's refusal (:class:`SnapshotError`, with the path of what it refuses) and the one piece of
class reflection every part of it shares (``slots_of``)."""

from __future__ import annotations

import functools

__all__ = ["SnapshotError", "slots_of"]


class SnapshotError(ValueError):
    """A snapshot refused: ``where`` is the path of the offending value (``state.shops[...]...``)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where

    def under(self, prefix: str) -> SnapshotError:
        """The same refusal, its path continued from ``prefix`` (paths are built only when something fails)."""
        where = f"{prefix}{self.where}" if self.where.startswith(("[", ".", "<")) or not self.where \
            else f"{prefix}.{self.where}"
        return SnapshotError(self.message, where)


@functools.cache
def slots_of(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = vars(klass).get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and slot not in names:
                names.append(slot)
    return tuple(names)
