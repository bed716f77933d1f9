"""The one thing pyproject.toml cannot say without a warning: the optional C extension.

``agentwatch._tbwalk`` walks tracebacks in C; where it cannot be built (no C compiler, no
Python headers) the install goes on and ``agentwatch._stacktrace`` uses its Python walks.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("agentwatch._tbwalk", ["src/agentwatch/_tbwalk.c"], optional=True),
    ]
)
