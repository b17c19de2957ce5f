"""Stand-in for ansible-test's downloaded get-pip script (no internet here, only PyPI).

ansible-test runs this file as ``python get_pip_24_2.py <pip install options and packages>`` inside
each fresh virtual environment. It runs pip from the pip 24.2 wheel that `make setup` downloaded
with ``pip download pip==24.2`` and installs the requested packages, finding pip itself locally.
"""

import glob
import os
import runpy
import sys

WHEEL_DIR = os.path.join(os.path.expanduser("~"), ".ansible", "test", "cache", "pip-wheels")

wheels = sorted(glob.glob(os.path.join(WHEEL_DIR, "pip-24.2-*.whl")))
if not wheels:
    sys.exit("pip 24.2 wheel missing in %s; run `make setup`" % WHEEL_DIR)
sys.path.insert(0, wheels[0])
# get-pip's own flags: without them it also installs setuptools and wheel.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
extras = [name for name, flag in (("setuptools", "--no-setuptools"), ("wheel", "--no-wheel")) if flag not in sys.argv[1:]]
sys.argv = ["pip", "install", "--find-links", WHEEL_DIR] + args + extras
runpy.run_module("pip", run_name="__main__", alter_sys=True)
