"""Draw docs/images/nav2_costmap.png: the example's voxel layer (test/test_nav2.py's model and sequence) over time,
with and without the clearing outputs (5 m ahead of the camera, the green dot, and 2.5 m to either side; red =
marked).
Usage: ``.venv/bin/python scripts/nav2_costmap_picture.py [OUT.png]``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.bag import BagRunOptions, run_bag  # noqa: E402
from mono_depth_ros.config import load_config  # noqa: E402
from test import test_nav2 as scene  # noqa: E402
from test.bag.support import read_bag  # noqa: E402


def main() -> int:
    out_path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "nav2_costmap.png"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene.write_scene_bag(folder / "in")
        params = {**load_config(scene.PRESET), "model.backend": "external", "model.output_kind": "metric",
                  "scale.mode": "none"}  # fmt: skip
        run_bag(folder / "in", folder / "out", params, BagRunOptions(progress=False))
        outputs = {topic: [m for _, m in messages] for topic, messages in read_bag(folder / "out").items()}
    rows = {
        "/depth/points only": scene._run_costmap(outputs, {"/depth/points"}),
        "+ /depth/points_clearing": scene._run_costmap(outputs, {"/depth/points", "/depth/points_clearing"}),
        "+ /depth/scan (its level rays clear only voxels at the camera's height)": scene._run_costmap(
            outputs, {"/depth/points", "/depth/scan"}
        ),
    }
    frames = [scene.BOX_FRAMES - 1, scene.BOX_FRAMES, scene.FRAMES - 1]
    cells = rows["/depth/points only"][0].shape[0]
    centre = cells // 2
    crop = (slice(centre, centre + 100), slice(centre - 50, centre + 50))  # 5 m ahead, 2.5 m either side
    scale, panels = 3, []
    for label, history in rows.items():
        tiles = []
        for frame in frames:
            marked = history[frame][crop][::-1, ::-1]  # ahead up, left on the left
            tile = np.full((*marked.shape, 3), 235, np.uint8)
            tile[marked] = (30, 30, 200)
            tile = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (120, 120, 120), 1)
            cv2.circle(tile, (tile.shape[1] // 2, tile.shape[0] - 4), 4, (40, 140, 40), -1)  # the camera
            text = f"frame {frame}" + (" (box)" if frame < scene.BOX_FRAMES else " (box gone)")
            cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(tile)
        strip = np.concatenate(tiles, axis=1)
        title = np.full((26, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(title, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        panels.append(np.concatenate([title, strip], axis=0))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_path), np.concatenate(panels, axis=0))
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
