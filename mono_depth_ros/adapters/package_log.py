"""The package's Python log records (model loading, device and precision choice, golden self-test, ONNX Runtime
providers) through the node's rclpy logger.

The ROS-free layers log with :mod:`logging` (``mono_depth_ros.*`` loggers); the bag runner and the CLI print them
(``logging.basicConfig``). In the node nothing configured them: Python's last-resort handler wrote WARNING records
to stderr as bare lines (``device 'auto': CUDA is not available, ...``: no severity, no node name, not on
``/rosout``) and dropped INFO ones (``model.precision`` auto's reason, "fp32 on the CPU"). :class:`PackageLogBridge`
hands them to the node's logger instead, as every other line of the node is logged.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

PACKAGE_LOGGER = "mono_depth_ros"


class NodeLogger(Protocol):
    """The part of rclpy's ``RcutilsLogger`` used here (a str message; each call site keeps one severity)."""

    def info(self, message: str) -> Any: ...

    def warning(self, message: str) -> Any: ...

    def error(self, message: str) -> Any: ...


class PackageLogBridge(logging.Handler):
    """A :mod:`logging` handler on the ``mono_depth_ros`` logger that logs each record (INFO and above) with a node's
    logger: ERROR and CRITICAL as error, WARNING as warning, INFO as info.

    :meth:`attach` installs it (and lowers the package logger to INFO while it is attached, when it was less
    verbose); :meth:`detach` restores both. rclpy refuses a call site whose severity changes between calls, so each
    severity has its own call.
    """

    _level_before = logging.NOTSET  # the package logger's level before the first bridge attached

    def __init__(self, node_logger: NodeLogger) -> None:
        super().__init__(logging.INFO)
        self._node_logger = node_logger

    @classmethod
    def attach(cls, node_logger: NodeLogger) -> PackageLogBridge:
        """A bridge to ``node_logger``, installed on the package logger."""
        bridge = cls(node_logger)
        package = logging.getLogger(PACKAGE_LOGGER)
        if not _bridges(package):
            PackageLogBridge._level_before = package.level
        if package.getEffectiveLevel() > logging.INFO:
            package.setLevel(logging.INFO)
        package.addHandler(bridge)
        return bridge

    def detach(self) -> None:
        """Remove the bridge and restore the package logger's level (idempotent)."""
        package = logging.getLogger(PACKAGE_LOGGER)
        if self in package.handlers:
            package.removeHandler(self)
            if not _bridges(package):
                package.setLevel(PackageLogBridge._level_before)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.ERROR:
                self._node_logger.error(message)
            elif record.levelno >= logging.WARNING:
                self._node_logger.warning(message)
            else:
                self._node_logger.info(message)
        except Exception:  # a logging call never raises into the model code (logging's own rule)
            self.handleError(record)


def _bridges(package: logging.Logger) -> list[PackageLogBridge]:
    return [handler for handler in package.handlers if isinstance(handler, PackageLogBridge)]
