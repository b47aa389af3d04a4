"""ament_python package that also installs with plain pip (no ROS needed for the core)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "mono_depth_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench", "bench.*"]),
    package_data={package_name: ["py.typed", "assets/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    python_requires=">=3.10",
    # Ranges admit ROS's own Python packages (Humble: numpy 1.21, Jazzy: numpy 1.26).
    # OpenCV is not listed here: on ROS it comes from python3-opencv; pip users take the `cv` extra.
    install_requires=[
        "numpy>=1.21",
        "PyYAML>=5.4",
        "transforms3d>=0.3.1",
        "safetensors>=0.3",
        "rosbags>=0.9.20",
        "tqdm>=4",  # progress bars of every long command (pure Python)
    ],
    extras_require={
        "cv": ["opencv-python-headless>=4.5"],
        "torch": ["torch>=2.0"],
        "test": [
            "opencv-python-headless>=4.5",
            "torch>=2.0",
            "pytest>=7",
            "pytest-timeout>=2",
            "pytest-xdist>=3",  # make unit: the suite on two workers
            "hypothesis>=6",
            "ruff>=0.5",
            "mypy>=1.8",
            "types-PyYAML",
            "pillow>=9",
            "tqdm>=4",
        ],
        "train": ["torch>=2.0", "tqdm>=4", "pillow>=9"],
        "hf": ["transformers>=4.45", "huggingface_hub>=0.20", "pillow>=9"],
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16", "onnxscript>=0.1"],
    },
    zip_safe=True,
    maintainer="mono_depth_ros maintainers",
    maintainer_email="maintainers@mono-depth-ros.dev",
    description="Monocular depth for ROS 2 with LiDAR scale recovery, REP 118 outputs and a training package.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mono_depth_node = mono_depth_ros.node:main",
            "mono_depth_lifecycle_node = mono_depth_ros.node:lifecycle_main",
            "mono-depth = mono_depth_ros.cli:main",
        ],
    },
)
