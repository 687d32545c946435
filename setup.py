"""The optional compiled part of aelab: the index's inner loops (src/aelab/index/_kernels.c).

Everything else is in pyproject.toml. Where no C compiler is found the build goes on without it and
aelab.index runs the same searches in numpy (slower, same results)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("aelab.index._kernels", ["src/aelab/index/_kernels.c"],
                             extra_compile_args=["-O3"], optional=True)])
