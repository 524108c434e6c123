"""The readable front of a cut-short sqlite3 bag, copied into a fresh file that rosbags opens."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

SQLITE_MAGIC = b'SQLite format 3\x00'


def recover_sqlite(path: Path, out_dir: Path) -> tuple[Path, int] | None:
    """
    Copy the schema, the small tables and the messages before the damage of ``path``.

    A recording cut short leaves a file shorter than its header says, and SQLite then refuses
    every query. Extended back to its stated size (with zeros, in a scratch copy), the pages
    written before the cut read normally: every table but ``messages`` is copied whole, and the
    messages in id (recording) order up to the first unreadable page. Returns the new file in
    ``out_dir`` and the number of messages copied, or None when nothing is readable.
    """
    with open(path, 'rb') as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return None
    page_size = int.from_bytes(header[16:18], 'big')
    page_size = 65536 if page_size == 1 else page_size
    stated = page_size * int.from_bytes(header[28:32], 'big')
    scratch = out_dir / 'scratch.db3'
    shutil.copyfile(path, scratch)
    os.truncate(scratch, max(stated, scratch.stat().st_size))
    recovered = out_dir / path.name
    source = sqlite3.connect(f'file:{scratch}?mode=ro', uri=True)
    target = sqlite3.connect(recovered)
    try:
        copied = _copy(source, target)
    except sqlite3.DatabaseError:
        copied = 0
    finally:
        source.close()
        target.close()
        scratch.unlink()
    return (recovered, copied) if copied else None


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> int:
    """Copy the schema and rows; return how many messages were readable."""
    objects = source.execute("SELECT type, name, sql FROM sqlite_master "
                             "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'").fetchall()
    for _, _, sql in objects:
        target.execute(sql)
    for kind, name, _ in objects:
        if kind == 'table' and name != 'messages':
            _copy_rows(source, target, name, source.execute(f'SELECT * FROM "{name}"'))
    rows = source.execute('SELECT * FROM messages ORDER BY id')
    try:
        copied = _copy_rows(source, target, 'messages', rows)
    except sqlite3.DatabaseError:
        copied = target.execute('SELECT COUNT(*) FROM messages').fetchone()[0]
    target.commit()
    return copied


def _copy_rows(source: sqlite3.Connection, target: sqlite3.Connection, table: str,
               rows: sqlite3.Cursor) -> int:
    """Insert ``rows`` one at a time (so those read before an error are kept)."""
    width = len(source.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
    insert = f'INSERT INTO "{table}" VALUES ({", ".join("?" * width)})'
    count = 0
    for row in rows:
        target.execute(insert, row)
        count += 1
    return count
