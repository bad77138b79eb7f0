"""Build virtsnap's compiled core against the system libvirt, found by pkg-config."""

import shutil
import sys

from setuptools import Extension, setup

MIN_LIBVIRT = "7.0.0"
INSTALL_HINT = "install libvirt-dev (Debian/Ubuntu) or libvirt-devel (Fedora/RHEL)"


def libvirt_build_flags():
    import pkgconfig

    if shutil.which("pkg-config") is None:
        sys.exit("virtsnap: pkg-config was not found; install pkg-config, and " + INSTALL_HINT)
    if not pkgconfig.exists("libvirt"):
        sys.exit("virtsnap: libvirt's development files were not found; " + INSTALL_HINT)
    if not pkgconfig.installed("libvirt", ">= " + MIN_LIBVIRT):
        sys.exit(f"virtsnap: libvirt >= {MIN_LIBVIRT} is needed, found "
                 f"{pkgconfig.modversion('libvirt')}; " + INSTALL_HINT)
    flags = pkgconfig.parse("libvirt")
    flags["include_dirs"] = flags.get("include_dirs", []) + ["src"]
    return flags


def extensions():
    flags = libvirt_build_flags()  # before Cython: a missing libvirt is the clearer error
    from Cython.Build import cythonize

    core = Extension("virtsnap._snapshot", ["src/snapshot.pyx"], **flags)
    return cythonize(
        [core],
        include_path=["src"],
        compiler_directives={"language_level": 3, "embedsignature": True},
    )


setup(ext_modules=extensions())
