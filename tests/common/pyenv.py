"""For the Python tests: import packages that tools/test.sh installs into
build/pyenv, re-running the test under that interpreter when the current one
lacks them, or exit 77 (ctest: skipped) saying what is missing."""
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def require(*packages):
    try:
        return [importlib.import_module(p) for p in packages]
    except ImportError:
        venv = os.path.join(ROOT, "build", "pyenv")
        python = os.path.join(venv, "bin", "python3")
        if os.path.exists(python) and os.path.abspath(sys.prefix) != venv:
            os.execv(python, [python] + sys.argv)
        print(f"skipped: the Python packages {', '.join(packages)} are not all installed "
              "(tools/test.sh installs them into build/pyenv)")
        sys.exit(77)
