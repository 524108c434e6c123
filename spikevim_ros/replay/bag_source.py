"""
Reading any ROS 2 bag: sqlite3 or MCAP, a bag folder or a bare storage file, metadata or not.

Messages come out decoded (rosbags typestore classes) in bag-time order, one at a time, so bags of
any length stream through in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader

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
    """Open a bag for reading; ``distro`` supplies definitions the bag does not embed."""
    resolved = resolve_bag_path(path)
    try:
        reader = AnyReader([resolved], default_typestore=typestore_for(distro))
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for corrupt input
        raise BagError(f'{path}: cannot read bag: {exc}') from exc
    try:
        yield reader
    finally:
        reader.close()


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
    message: object
    raw: bytes


def iter_messages(reader: AnyReader, topics: list[str]) -> Iterator[BagMessage]:
    """Yield decoded messages of ``topics`` in bag-time order."""
    connections = [c for c in reader.connections if c.topic in topics]
    for connection, timestamp, raw in reader.messages(connections=connections):
        yield BagMessage(connection.topic, connection.msgtype, timestamp * 1e-9,
                         reader.deserialize(raw, connection.msgtype), raw)
