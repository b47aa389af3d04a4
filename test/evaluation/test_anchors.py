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


def test_the_stereo_anchor_says_it_was_not_median_scaled() -> None:
    """monodepth2 evaluates stereo models with ``--eval_stereo`` (no median scaling, depth × 5.4): its row must not
    read as a figure of the protocol's median scaling."""
    stereo = next(a for a in ANCHORS if "stereo" in a.method)
    assert PROTOCOLS[stereo.protocol].scaling == "median" and stereo.scaling is not None
    row = next(line for line in protocol_section().splitlines() if "Monodepth2 S (stereo)" in line)
    assert "scaling none" in row and "5.4" in row
    assert all(a.scaling is None for a in ANCHORS if a is not stereo)
