"""One ROS domain per pytest-xdist worker of the real-ROS tier (``scripts/ros2_tier.sh``, ``MONO_DEPTH_ROS2_WORKERS``).

The tier's workers each start nodes named alike (``/mono_depth_node``) on the same topics (``/depth/image``,
``/diagnostics``); in one DDS domain each worker's probe would hear the other's node and its graph checks would see the
other's nodes. Worker ``gwN`` therefore runs in domain ``ROS_DOMAIN_ID + N`` (the tier's own domain for ``gw0`` and
for a serial run), set in the worker's environment before any ``rclpy.init`` or ``ros2 launch`` in it
(``test/ros2/conftest.py``'s ``pytest_configure``). No rclpy here: ``test/test_ros2_domains.py`` runs it in the .venv.
"""

from __future__ import annotations

# Cyclone DDS (the tier's RMW) and Fast DDS map a domain to UDP ports 7400 + 250 * id + ...: 232 is the last id whose
# ports stay under 65536 (ROS 2's "The ROS_DOMAIN_ID" concept page)
MAX_DOMAIN_ID = 232


def worker_domain_id(base: str | None, worker: str | None) -> int | None:
    """The ROS domain id of pytest-xdist worker ``worker`` (``"gw1"``; None: not a worker, the domain stays ``base``)
    for the tier's ``ROS_DOMAIN_ID`` ``base`` (None or empty: ROS's default, 0). Raises ValueError naming the value and
    the remedy where ``base`` is not an integer in 0..232 or ``base`` + the worker's index passes 232."""
    text = (base or "0").strip()
    if not text.isdigit() or int(text) > MAX_DOMAIN_ID:
        raise ValueError(f"ROS_DOMAIN_ID={base!r}: use an integer from 0 to {MAX_DOMAIN_ID}")
    if not worker:
        return None
    index = worker.removeprefix("gw")
    if not index.isdigit():
        raise ValueError(f"PYTEST_XDIST_WORKER={worker!r}: expected gw0, gw1, ... (pytest-xdist's worker ids)")
    domain = int(text) + int(index)
    if domain > MAX_DOMAIN_ID:
        raise ValueError(
            f"ROS_DOMAIN_ID={text} puts pytest-xdist worker {worker} in domain {domain}, past {MAX_DOMAIN_ID}"
            f" (worker gwN runs in ROS_DOMAIN_ID + N): use ROS_DOMAIN_ID <= {MAX_DOMAIN_ID - int(index)}, or fewer"
            " workers (MONO_DEPTH_ROS2_WORKERS=1: one process, in ROS_DOMAIN_ID)"
        )
    return domain
