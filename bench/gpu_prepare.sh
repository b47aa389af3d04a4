#!/usr/bin/env bash
# Here, before a GPU run: put what bench/gpu.sh needs and the device machine lacks into two ignored folders that the
# device tool carries (`carry: [".gpu_data", ".whl"]`):
#   .gpu_data/  the three KITTI object frames (image, Velodyne, calib) from ../shared/data, the layout shared_data_dir wants;
#   .whl/       wheels for the device's Python (3.12, x86-64) of the packages its image lacks (transforms3d, rosbags
#               and its needs, apsw): PyTorch, numpy, OpenCV, transformers, onnxruntime are there already.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${MONO_DEPTH_DATA:-../shared/data}/kitti_object_3frames/training
dest=.gpu_data/kitti_object_3frames/training
for part in image_2:png velodyne:bin calib:txt; do
  mkdir -p "$dest/${part%%:*}"
  for name in 000000 000001 000002; do cp "$data/${part%%:*}/$name.${part##*:}" "$dest/${part%%:*}/"; done
done
rm -rf .whl && mkdir -p .whl  # one version of each package (two stop the whole install there)
platforms=()
for n in 2_28 2_27 2_17 2_5; do platforms+=(--platform "manylinux_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .whl transforms3d==0.4.2 rosbags==0.11.9 apsw==3.54.1.0 lz4==4.4.5 ruamel.yaml==0.19.1 backports.zstd==1.8.0
du -sh .gpu_data .whl
