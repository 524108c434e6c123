"""
Reading any ROS 2 bag: sqlite3 or MCAP, a bag folder or a bare storage file, metadata or not.

Messages come out decoded (rosbags typestore classes) in bag-time order, one at a time, so bags of
any length stream through in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from rosbags.highlevel import AnyReader

from spikevim_ros.replay.sqlite_recovery import recover_sqlite
from spikevim_ros.sim.bagfile import typestore_for

STORAGE_SUFFIXES = ('.mcap', '.db3')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'


class BagError(ValueError):
    """Raised for a bag that cannot be opened or lacks what was asked for."""


def resolve_bag_path(path: str | Path) -> Path:
    """Return what AnyReader should open: a bag folder with metadata or one storage file."""
    path = Path(path)
    if not path.exists():
        raise BagError(f'{path}: bag does not exist')
    if path.is_file():
        if path.suffix not in STORAGE_SUFFIXES:
            raise BagError(f'{path}: not a ROS 2 bag storage file ({"/".join(STORAGE_SUFFIXES)})')
        return path
    if (path / 'metadata.yaml').is_file():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
    if len(files) != 1:
        raise BagError(f'{path}: folder has no metadata.yaml and {len(files)} storage files; '
                       'point at one .mcap/.db3 file or run "ros2 bag reindex"')
    return files[0]


@contextmanager
def open_bag(path: str | Path, distro: str = 'jazzy') -> Iterator[AnyReader]:
    """
    Open a bag for reading; ``distro`` supplies definitions the bag does not embed.

    A file whose end is missing (a recording cut short) is read up to the damage: MCAP front to
    back by :class:`DamagedMcap`, sqlite3 through a copy of what is still readable
    (``sqlite_recovery``). Either reader's ``damage`` then says what happened.
    """
    resolved = resolve_bag_path(path)
    with ExitStack() as stack:
        try:
            reader = AnyReader([resolved], default_typestore=typestore_for(distro))
            reader.open()
        except Exception as exc:  # rosbags raises several unrelated types for corrupt input
            reader = _open_damaged(resolved, distro, f'{exc}', stack)
            if reader is None:
                raise BagError(f'{path}: cannot read bag: {exc}') from exc
        stack.callback(reader.close)
        yield reader


def _open_damaged(path: Path, distro: str, why: str, stack: ExitStack):
    """Return a reader of the readable front of a damaged bag, or None."""
    mcap = _single_storage(path, '.mcap')
    if mcap is not None:
        reader = DamagedMcap(mcap, typestore_for(distro), why)
        return reader if reader.connections else None
    db3 = _single_storage(path, '.db3')
    if db3 is None:
        return None
    recovered = recover_sqlite(db3, Path(stack.enter_context(TemporaryDirectory())))
    if recovered is None:
        return None
    reader = AnyReader([recovered[0]], default_typestore=typestore_for(distro))
    reader.open()
    reader.damage = f'{db3.name} is damaged ({why}; {recovered[1]} messages readable)'
    return reader


def _single_storage(path: Path, suffix: str) -> Path | None:
    if path.is_dir():
        files = sorted(path.glob(f'*{suffix}'))
        return files[0] if len(files) == 1 else None
    return path if path.suffix == suffix else None


@dataclass
class _Connection:
    id: int
    topic: str
    msgtype: str
    msgcount: int = 0


class DamagedMcap:
    """
    The readable front of a damaged MCAP file, with AnyReader's interface as the replay uses it.

    The file is scanned once for channels, message counts and the start time, then streamed; a
    message cut by the damage ends the iteration, and ``damage`` describes it.
    """

    def __init__(self, path: Path, typestore, why: str) -> None:
        self.path, self.typestore = path, typestore
        self.damage = f'{path.name} is damaged ({why})'
        self.connections: list[_Connection] = []
        self.start_time = 0
        by_id: dict[int, _Connection] = {}
        for channel, log_time, _ in self._records():
            if channel.id not in by_id:
                by_id[channel.id] = _Connection(channel.id, channel.topic, self._types[channel.id])
            by_id[channel.id].msgcount += 1
            self.start_time = log_time if not self.start_time else min(self.start_time, log_time)
        self.connections = list(by_id.values())

    def _records(self):
        from mcap.records import Channel, Message, Schema
        from mcap.stream_reader import StreamReader

        schemas: dict[int, str] = {}
        channels: dict[int, object] = {}
        self._types: dict[int, str] = {}
        with open(self.path, 'rb') as handle:
            try:
                for record in StreamReader(handle).records:
                    if isinstance(record, Schema):
                        schemas[record.id] = record.name
                    elif isinstance(record, Channel):
                        channels[record.id] = record
                        self._types[record.id] = schemas.get(record.schema_id, '')
                    elif isinstance(record, Message) and record.channel_id in channels:
                        yield channels[record.channel_id], record.log_time, record.data
            except Exception as exc:  # the damage: any error of the stream reader
                self.damage = f'{self.path.name} is damaged: readable up to its ' \
                              f'{type(exc).__name__} ({str(exc) or "end of file"})'

    def messages(self, connections):
        """Yield (connection, timestamp ns, raw) of ``connections`` in file order."""
        wanted = {c.id: c for c in connections}
        for channel, log_time, data in self._records():
            if channel.id in wanted:
                yield wanted[channel.id], log_time, data

    def deserialize(self, raw: bytes, msgtype: str):
        """Decode one CDR message."""
        return self.typestore.deserialize_cdr(raw, msgtype)

    def close(self) -> None:
        """Nothing to release (the file is opened per pass)."""


def topic_types(reader: AnyReader) -> dict[str, str]:
    """Return {topic: message type} of a bag."""
    return {c.topic: c.msgtype for c in reader.connections}


def pick_topic(types: dict[str, str], wanted: str | None, msgtypes: tuple[str, ...],
               role: str, exclude: tuple[str, ...] = ()) -> str | None:
    """
    Return the topic to use for a role.

    ``wanted`` if the bag has it; otherwise the only topic of a matching type (ignoring
    ``exclude``); None when there is none. Ambiguity is an error naming the candidates.
    """
    if wanted and wanted in types:
        if types[wanted] not in msgtypes:
            raise BagError(f'{role} topic {wanted} carries {types[wanted]}, expected one of '
                           f'{msgtypes}')
        return wanted
    candidates = sorted(t for t, m in types.items() if m in msgtypes and t not in exclude)
    if len(candidates) > 1:
        raise BagError(f'{role} topic {wanted!r} is not in the bag and several candidates '
                       f'exist: {candidates}; choose one with the topic option')
    return candidates[0] if candidates else None


@dataclass
class BagMessage:
    """One decoded message with its bag time (seconds)."""

    topic: str
    msgtype: str
    time_s: float
    message: object                # None when it could not be decoded (see ``error``)
    raw: bytes
    error: str = ''


def iter_messages(reader: AnyReader, topics: list[str]) -> Iterator[BagMessage]:
    """
    Yield messages of ``topics`` in bag-time order, decoded.

    A message that does not decode comes out with ``message=None`` and the reason in ``error``;
    a damaged file raises from the iteration where the damage is.
    """
    connections = [c for c in reader.connections if c.topic in topics]
    for connection, timestamp, raw in reader.messages(connections=connections):
        try:
            message, error = reader.deserialize(raw, connection.msgtype), ''
        except Exception as exc:  # rosbags raises several types for a corrupt message
            message, error = None, f'cannot decode {connection.msgtype}: {exc}'
        yield BagMessage(connection.topic, connection.msgtype, timestamp * 1e-9, message, raw,
                         error)
