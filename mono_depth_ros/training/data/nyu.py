"""NYU Depth V2 (indoor, Kinect v1): RGB + metric depth.

Depth PNGs are uint16 millimetres (``metres = value / 1000``, 0 = no data), converted once at load by
:mod:`mono_depth_ros.core.depth_codec`. Two layouts:

1. **Annotation list** (Metric3D's ``test_annotations.json``, as in ``metric3d_nyu_demo``;
   :meth:`NyuDataset.from_annotations`): ``{"files": [{"rgb": "…/rgb_00000.jpg", "depth": "…/sync_depth_00000.png",
   "cam_in": [fx, fy, cx, cy], "depth_scale": 1000}]}``.
2. **BTS split file** (``nyudepthv2_{train,test}_files_with_gt.txt``; :meth:`NyuDataset.from_split_file`): one
   frame per line, ``SCENE/rgb_00045.jpg SCENE/sync_depth_00045.png 518.8579`` relative to a data root; frames
   whose depth is ``None`` (no ground truth) are skipped. Intrinsics: :data:`NYU_INTRINSICS`.

The images keep NYU's white border (about 8 to 16 pixels, from the registration); evaluate with the Eigen crop
(:mod:`mono_depth_ros.evaluation.metrics`) or crop it off in the augmentation.
"""

from __future__ import annotations

from pathlib import Path

from mono_depth_ros.core.depth_codec import MILLIMETRES_PER_METRE
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.records import (
    DepthFile,
    FrameRecord,
    RecordDataset,
    Transform,
    annotated_records,
    check_files_exist,
)

NYU_INTRINSICS: tuple[float, float, float, float] = (518.8579, 519.46961, 325.58245, 253.73617)
"""``(fx, fy, cx, cy)`` in pixels of the 640×480 NYU Depth V2 colour camera (NYU toolbox ``camera_params.m``)."""


class NyuDataset(RecordDataset):
    """NYU Depth V2 frames with Kinect depth in metres (``sparse_depth`` all NaN: no LiDAR).

    Build it with one of the class methods; the constructor takes ready records.
    """

    @classmethod
    def from_annotations(
        cls, root: Path, json_name: str = "test_annotations.json", transform: Transform | None = None
    ) -> NyuDataset:
        """Frames listed in a Metric3D-style annotation file under ``root`` (layout 1)."""
        return cls(annotated_records(Path(root), json_name, MILLIMETRES_PER_METRE, "NYU annotations"), transform)

    @classmethod
    def from_split_file(
        cls,
        root: Path,
        split_file: Path,
        intrinsics: tuple[float, float, float, float] = NYU_INTRINSICS,
        transform: Transform | None = None,
    ) -> NyuDataset:
        """Frames of a BTS-style split file (layout 2); paths in it are relative to ``root``.

        Raises:
            ConfigError: the split file cannot be read, a line has fewer than two fields, or files are missing.
        """
        root = Path(root)
        try:
            lines = Path(split_file).read_text().splitlines()
        except OSError as err:
            msg = f"cannot read NYU split file {split_file}: {err.strerror}"
            raise ConfigError(msg) from None
        records = []
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                msg = f"{split_file}:{number}: expected 'RGB_PATH DEPTH_PATH [FOCAL]', got {line!r}"
                raise ConfigError(msg)
            if fields[1] == "None":
                continue
            rgb_rel, depth_rel = fields[0].lstrip("/"), fields[1].lstrip("/")
            records.append(
                FrameRecord(
                    name=rgb_rel,
                    rgb_path=root / rgb_rel,
                    camera=intrinsics,
                    depth=DepthFile(root / depth_rel, MILLIMETRES_PER_METRE),  # uint16 millimetres
                )
            )
        check_files_exist(records, f"NYU split {split_file} under {root}")
        return cls(records, transform)
