"""
Periodic ``/diagnostics`` for a node, with or without ``diagnostic_updater``.

Uses ``diagnostic_updater`` where it imports, else our own ``DiagnosticArray`` publisher with the
same content. Each section is a callable returning a :class:`Report` (level, message, key/values),
so what is reported does not depend on the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass
class Report:
    """One diagnostic section at one instant."""

    level: bytes
    message: str
    values: dict[str, object] = field(default_factory=dict)


Section = Callable[[], Report]


def _text(value: object) -> str:
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def to_status(node_name: str, section: str, hardware_id: str, report: Report
              ) -> DiagnosticStatus:
    """Return the DiagnosticStatus of one report (named "node: section", like the updater)."""
    return DiagnosticStatus(level=report.level, name=f'{node_name}: {section}',
                            message=report.message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=_text(v))
                                    for k, v in report.values.items()])


class _OwnPublisher:
    """Publish every section as one DiagnosticArray on a timer of the node's clock."""

    def __init__(self, node, period_s: float, hardware_id: str, sections: dict[str, Section],
                 callback_group=None) -> None:
        self._node, self._hardware_id, self._sections = node, hardware_id, sections
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(period_s, self.publish, callback_group=callback_group)

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = [to_status(self._node.get_name(), name, self._hardware_id, section())
                      for name, section in self._sections.items()]
        self._publisher.publish(msg)


class _UpdaterBackend:
    """Register every section as a diagnostic_updater task."""

    def __init__(self, updater_module, node, period_s: float, hardware_id: str,
                 sections: dict[str, Section]) -> None:
        self._updater = updater_module.Updater(node, period=period_s)
        self._updater.setHardwareID(hardware_id)
        for name, section in sections.items():
            self._updater.add(name, self._task(section))

    @staticmethod
    def _task(section: Section):
        def run(stat):
            report = section()
            stat.summary(report.level, report.message)
            for key, value in report.values.items():
                stat.add(key, _text(value))
            return stat
        return run

    def publish(self) -> None:
        self._updater.force_update()


def start_diagnostics(node, period_s: float, hardware_id: str, sections: dict[str, Section],
                      callback_group=None) -> tuple[object, str]:
    """Start periodic diagnostics; return (backend, 'diagnostic_updater' or 'own')."""
    try:
        import diagnostic_updater
    except ImportError:
        return _OwnPublisher(node, period_s, hardware_id, sections, callback_group), 'own'
    return _UpdaterBackend(diagnostic_updater, node, period_s, hardware_id, sections), \
        'diagnostic_updater'
