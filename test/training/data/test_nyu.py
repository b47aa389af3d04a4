"""NYU Depth V2: the Metric3D demo frames (real data) and a BTS split file (tmp tree)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.nyu import NYU_INTRINSICS, NyuDataset


def test_demo_frames_in_metres(nyu_dir: Path) -> None:
    dataset = NyuDataset.from_annotations(nyu_dir)
    assert len(dataset) == 3
    sample = dataset[0]
    assert sample.name == "rgb/rgb_00000.jpg"
    assert sample.rgb.shape == (3, 480, 640)
    raw = cv2.imread(str(nyu_dir / "depth" / "sync_depth_00000.png"), cv2.IMREAD_UNCHANGED)
    depth = sample.depth[0].numpy()
    np.testing.assert_array_equal(np.isnan(depth), raw == 0)
    np.testing.assert_allclose(depth[raw > 0], raw[raw > 0] / 1000.0, rtol=1e-6)  # millimetres -> metres
    assert 0.6 < np.isfinite(depth).mean() < 0.8
    assert np.nanmin(depth) > 0.3 and np.nanmax(depth) < 10.0  # indoor Kinect range
    fx, fy, cx, cy = NYU_INTRINSICS  # the json holds the standard NYU camera
    torch.testing.assert_close(sample.k, torch.tensor([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=torch.float32))
    bgr = cv2.imread(str(nyu_dir / "rgb" / "rgb_00000.jpg"))
    torch.testing.assert_close(sample.rgb[0], torch.from_numpy(bgr[..., 2].copy()).float() / 255)  # R first


def test_bts_split_file(tmp_path: Path) -> None:
    for i in (1, 2):
        scene = tmp_path / "sync" / "kitchen_0028b"
        scene.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(scene / f"rgb_{i:05d}.jpg"), np.full((6, 8, 3), 90, dtype=np.uint8))
        cv2.imwrite(str(scene / f"sync_depth_{i:05d}.png"), np.full((6, 8), 1500 * i, dtype=np.uint16))
    split = tmp_path / "train.txt"
    split.write_text(
        "/kitchen_0028b/rgb_00001.jpg /kitchen_0028b/sync_depth_00001.png 518.8579\n\n"
        "kitchen_0028b/rgb_00002.jpg kitchen_0028b/sync_depth_00002.png 518.8579\n"
        "kitchen_0028b/rgb_00003.jpg None 518.8579\n"
    )
    dataset = NyuDataset.from_split_file(tmp_path / "sync", split)
    assert len(dataset) == 2
    assert float(dataset[1].depth.mean()) == pytest.approx(3.0)
    assert float(dataset[0].k[0, 0]) == pytest.approx(NYU_INTRINSICS[0])
    split.write_text("only_one_field.jpg\n")
    with pytest.raises(ConfigError, match="RGB_PATH DEPTH_PATH"):
        NyuDataset.from_split_file(tmp_path / "sync", split)
    with pytest.raises(ConfigError, match="cannot read"):
        NyuDataset.from_split_file(tmp_path, tmp_path / "missing.txt")
