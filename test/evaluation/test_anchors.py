"""The protocol table in docs/training_results.md is the one the code renders (and names every protocol)."""

from __future__ import annotations

from mono_depth_ros.evaluation.anchors import ANCHORS, protocol_section
from mono_depth_ros.evaluation.depth import PROTOCOLS
from test.conftest import REPO_ROOT


def test_results_page_holds_the_rendered_protocol_section() -> None:
    page = (REPO_ROOT / "docs" / "training_results.md").read_text()
    assert protocol_section() in page, "paste protocol_section()'s output into the page"


def test_every_protocol_has_a_row_and_anchors_name_real_protocols() -> None:
    section = protocol_section()
    assert all(f"| `{key}` |" in section for key in PROTOCOLS)
    assert {a.protocol for a in ANCHORS} <= set(PROTOCOLS)
    row = next(line for line in section.splitlines() if line.startswith("| `kitti_eigen_benchmark` | annotated"))
    assert "| none |" in row and "GT > 0 (no cap)" in row
    row = next(line for line in section.splitlines() if line.startswith("| `kitti_eigen_velodyne` |"))
    assert "Garg" in row and "0.001 < GT < 80 m" in row and "| median |" in row
