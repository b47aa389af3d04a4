"""``python -m mono_depth_ros``: the ``mono-depth`` command, where its console script is not on PATH."""

import sys

from mono_depth_ros.cli import main

if __name__ == "__main__":  # importing the module (tools that walk the package) runs nothing
    sys.exit(main())
