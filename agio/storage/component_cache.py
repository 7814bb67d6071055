"""Components remembered between runs: starting a run reads its agent and the components
the agent names from memory, not from the database (`ComponentRepository`'s reads with
`cached=True`; the configuration API and every read-then-write still read the database).

Each entry is a component as read, real secrets included: in memory only, never logged,
never stored elsewhere. A lookup returns a copy (its `config` and `tags` are new objects),
so a caller that changes what it got changes nothing here.

An entry goes when what it says may have changed:

- at once in this process, when the repository commits a write of it (create, replace,
  delete; enabling, disabling and applying a file are replaces): `changed`, which also
  tells the other processes through `notify` (the bus's `EventBus.notify`: Redis, when
  there is one), so that they drop theirs as soon as the notice arrives; the bus's
  "notices may have been lost" topic (a reconnect to Redis) clears everything;
- beside a SQLite file, every process also appends a byte to
  `<database>.component-changes` (`ChangeStamp`), and a lookup that finds the file changed
  clears everything: workers sharing the file without Redis see a change on their next run;
- whatever else happened (a notice Redis dropped, replicas on PostgreSQL without Redis):
  `seconds` (`AGIO_COMPONENT_CACHE_SECONDS`) after it was read, when every entry expires.

A read of the database that began before an entry was dropped stores nothing
(`generation`): it may have read the row before the change was committed.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agio.domain.components import StoredComponent
from agio.storage.change_stamp import ChangeStamp

#: the notice topic: `{"names": [...]}`, or `{"all": true}`
TOPIC = "components_changed"

#: components kept at most (the least recently used goes first)
MAX_ENTRIES = 4096

#: (topic, data): `EventBus.notify`, and the handlers `EventBus.on_notice` takes
Notify = Callable[[str, dict[str, Any]], None]
Listen = Callable[[Notify], None]


def freeze(value: Any) -> bytes | None:
    """`value` as JSON text when it reads back equal to itself (so that `thaw` gives an
    exact copy); None when it would not (NaN, integers beyond 64 bits, keys that are not
    strings, tuples), for which a deep copy is the way."""
    try:
        text = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return None
    return text if orjson.loads(text) == value else None


def thaw(text: bytes) -> Any:
    """A new copy of what `freeze` wrote."""
    return orjson.loads(text)


@dataclass(frozen=True)
class _Entry:
    component: StoredComponent  # with tags of its own; its `config` is not used
    config: bytes | dict[str, Any]  # frozen, or a deep copy of its own
    deadline: float

    def copy(self) -> StoredComponent:
        config = thaw(self.config) if isinstance(self.config, bytes) else copy.deepcopy(self.config)
        return dataclasses.replace(self.component, config=config, tags=list(self.component.tags))


class ComponentCache:
    """Components by name (and id), each for `seconds` at most; 0: none are kept."""

    def __init__(
        self,
        seconds: float,
        *,
        stamp: ChangeStamp | None = None,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._stamp = stamp
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._names: dict[str, str] = {}  # id -> name
        #: counts the drops; what a read found is stored only if none happened since the
        #: read began (`put`'s `generation`)
        self.generation = 0
        self._notify: Notify | None = None
        self._lost_topic = ""
        #: changes made before `connect` (the configs folder is applied at start-up, before
        #: the bus exists): told to the others once connected
        self._unsent: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ lookups

    def _fresh(self) -> bool:
        """Whether entries may be used: caching on, and no change stamped meanwhile."""
        if self.seconds <= 0:
            return False
        if self._stamp is not None and self._stamp.changed():
            self.clear()
        return True

    def _entry(self, name: str) -> _Entry | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        if entry.deadline <= self._clock():
            self._drop(name)
            return None
        self._entries.move_to_end(name)
        return entry

    def get(self, key: str, type_: str | None = None) -> StoredComponent | None:
        """A copy of the component named `key` (or whose id is `key`), of type `type_` when
        given; None when it is not here (it may still exist)."""
        if not self._fresh():
            return None
        entry = self._entry(key)
        if entry is None and key in self._names:
            entry = self._entry(self._names[key])
        if entry is None or (type_ is not None and entry.component.type != type_):
            return None
        return entry.copy()

    def revisions(self, names: Iterable[str]) -> dict[str, tuple[str, int]]:
        """{name: (id, revision)} of those of `names` that are here (no copies made)."""
        if not self._fresh():
            return {}
        found: dict[str, tuple[str, int]] = {}
        for name in names:
            entry = self._entry(name)
            if entry is not None:
                found[name] = (entry.component.id, entry.component.revision)
        return found

    # ------------------------------------------------------------------ filling

    def put(self, components: Iterable[StoredComponent], generation: int) -> None:
        """Remember what a read that began at `generation` found (unless something was
        dropped since)."""
        if not self._fresh() or generation != self.generation:
            return
        deadline = self._clock() + self.seconds
        for component in components:
            self._drop(component.name)
            frozen = freeze(component.config)
            config = frozen if frozen is not None else copy.deepcopy(component.config)
            kept = dataclasses.replace(component, config={}, tags=list(component.tags))
            self._entries[component.name] = _Entry(kept, config, deadline)
            self._names[component.id] = component.name
        while len(self._entries) > self._max:
            self._drop(next(iter(self._entries)))

    # ------------------------------------------------------------------ dropping

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is not None and self._names.get(entry.component.id) == name:
            del self._names[entry.component.id]

    def forget(self, names: Iterable[str]) -> None:
        """Drop these components here (not in the other processes)."""
        self.generation += 1
        for name in names:
            self._drop(name)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._names.clear()

    def changed(self, names: Sequence[str]) -> None:
        """After a write of these components was committed: drop them here, now, and tell
        every other process."""
        self.forget(names)
        if self._stamp is not None:
            self._stamp.bump()
        if self._notify is None:
            self._unsent.update(names)
        else:
            self._notify(TOPIC, {"names": list(names)})

    def on_notice(self, topic: str, data: dict[str, Any]) -> None:
        """The bus's notice handler (`EventBus.on_notice`)."""
        if topic == self._lost_topic:
            self.clear()
        elif topic == TOPIC:
            names = data.get("names")
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                self.forget(names)
            else:  # `{"all": true}`, or a notice that does not say what changed
                self.clear()

    def connect(self, notify: Notify, listen: Listen, *, lost_topic: str) -> None:
        """Send changes through `notify`, hear the others' through `listen`; `lost_topic`
        is the topic that says notices may have been lost. What changed before is told now."""
        self._notify, self._lost_topic = notify, lost_topic
        listen(self.on_notice)
        if self._unsent:
            unsent, self._unsent = sorted(self._unsent), set()
            notify(TOPIC, {"names": unsent} if len(unsent) <= MAX_ENTRIES else {"all": True})
