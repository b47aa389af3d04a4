"""One error hierarchy for the whole package.

Every message names the offending value, where it came from, and what to do about it. The node and the bag
runner catch :class:`DepthError`, log it, count it and drop the frame; any other exception is a bug.
"""

from __future__ import annotations


class DepthError(Exception):
    """Base class of every error this package raises on bad input or configuration."""


class CalibrationError(DepthError):
    """Camera calibration (CameraInfo) is unusable: zero focal length, size mismatch, unknown model."""


class ShapeError(DepthError):
    """An array or message has sizes that do not agree (step, width, height, channels, field offsets)."""


class AspectError(ShapeError):
    """A camera whose aspect its model does not serve: a keep-aspect spec records the aspects its graph runs at
    (``params.served_aspects``, :func:`~mono_depth_ros.models.frozen_input.aspect_problem`), and this camera's network
    input is of another (a portrait camera for a graph that runs landscape only); refused before the network runs,
    counted under its own name."""


class EncodingError(DepthError):
    """An image encoding, compressed format or point field datatype that is not supported."""


class TransformError(DepthError):
    """A rigid transform is malformed (non-unit quaternion, NaN) or frames do not chain."""


class ScaleRecoveryError(DepthError):
    """Metric scale could not be recovered (too few LiDAR points, degenerate fit)."""


class PredictionOrderError(ScaleRecoveryError):
    """The prediction does not follow the order of the depths it is fitted to (it runs against them, or is noise).

    Attributes:
        correlation: Pearson correlation of the prediction with the targets (log depth or inverse depth).
        n_points: pairs it was measured on.
        runs_against: True when the prediction's order is reversed (output kind wrong), False when it is noise.
    """

    def __init__(self, message: str, correlation: float, n_points: int, runs_against: bool) -> None:
        super().__init__(message)
        self.correlation = correlation
        self.n_points = n_points
        self.runs_against = runs_against


class BagError(DepthError):
    """A rosbag2 file is missing, truncated, corrupt or lacks a required topic."""


class CheckpointError(DepthError):
    """A model checkpoint is missing, for another architecture/backend, or its tensors do not match."""


class ModelOutputError(DepthError):
    """The network's output is unusable for this frame (NaN / Inf over too many pixels)."""


class DataFileError(DepthError):
    """A user's data file (image, depth PNG, calibration) is missing, unreadable or undecodable."""


class ConfigError(DepthError):
    """A parameter or configuration value is out of range or of the wrong type."""


def first_line(err: BaseException) -> str:
    """The first line of ``err``'s message (a library's can hold a whole traced graph or a traceback), or its type's
    name when the message is empty."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
