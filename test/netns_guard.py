"""Refuse to start DDS participants outside a private, loopback-only network namespace."""

from __future__ import annotations

import socket


def non_loopback_interfaces() -> list[str]:
    """Return the network interfaces of this process's namespace other than loopback."""
    return sorted(name for _, name in socket.if_nameindex() if name != 'lo')


def isolation_problem() -> str | None:
    """Describe why this process may not start a DDS participant, or return None if it may."""
    others = non_loopback_interfaces()
    if others:
        return ('refusing to start a DDS participant: this process can reach network interfaces '
                f'{others}. Run the tests with `make test` (or scripts/netns_run.sh), which uses '
                'a private loopback-only network namespace.')
    return None
