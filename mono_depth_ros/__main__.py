"""``python -m mono_depth_ros``: the ``mono-depth`` command, where its console script is not on PATH."""

import sys

from mono_depth_ros.cli import main

sys.exit(main())
