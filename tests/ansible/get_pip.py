"""Stands in for the get-pip script that ansible-test downloads to bootstrap pip.

ansible-test runs it with the packages to install (``pip==X`` ...) in each
virtual environment it makes for a sanity test. This machine reaches only the
package registries, so pip comes from the interpreter's own ``ensurepip``
wheel instead, and then installs the requested packages from the registry.
"""

import subprocess
import sys

# In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own
# environment, and the install below must see the machine's pip configuration.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", *args]))
