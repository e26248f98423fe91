"""What a pickled estimator needs to be unpickled: the modules its pickle names.

Unpickling imports every module the pickle refers to (each class and function by its module
path). In the image only what the image installs or ships can be imported: the locked
libraries, chalicelib/, and a model's own code in model/components/. save_model records the
libraries' versions in the metadata and refuses a pickle that names code the image would not
have; the function checks the versions before it unpickles.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import sys
from importlib import metadata as distributions

# The project's own packages whose modules ship in the image (the Dockerfile copies them).
SHIPPED_CODE = ("chalicelib", "model.components")
COMPONENTS_HOME = "model/components/"

_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"})
_GET_OPS = frozenset({"BINGET", "LONG_BINGET", "GET"})


def pickled_modules(estimator: object) -> set[str]:
    """Every module the estimator's pickle refers to (its classes' and functions' modules)."""
    data = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    modules: set[str] = set()
    strings: list[str | None] = []  # strings pushed, in order: STACK_GLOBAL takes the last two
    memo: dict[int, str | None] = {}
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name in _STRING_OPS:
            strings.append(str(argument))
        elif opcode.name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif opcode.name in _GET_OPS:
            strings.append(memo.get(int(argument or 0)))
        elif opcode.name == "GLOBAL":
            modules.add(str(argument).split(" ", 1)[0])
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2 and strings[-2]:
            modules.add(str(strings[-2]))
    return modules


def library_versions(modules: set[str]) -> dict[str, str]:
    """The installed distributions that provide `modules` (the standard library and the
    project's own code excepted), with their versions."""
    providers = distributions.packages_distributions()
    found: dict[str, str] = {}
    for top_level in sorted({module.split(".", 1)[0] for module in modules}):
        for distribution in providers.get(top_level, []):
            found[canonical_name(distribution)] = distributions.version(distribution)
    return found


def unshippable(modules: set[str]) -> list[str]:
    """The modules the image could not import: neither installed from a distribution, nor the
    standard library, nor code the image ships."""
    providers = distributions.packages_distributions()
    problems = []
    for module in sorted(modules):
        top_level = module.split(".", 1)[0]
        if (top_level in sys.stdlib_module_names or top_level == "builtins"
                or top_level in providers
                or any(module == home or module.startswith(home + ".")
                       for home in SHIPPED_CODE)):
            continue
        problems.append(module)
    return problems


def installed_version(distribution: str) -> str | None:
    try:
        return distributions.version(distribution)
    except distributions.PackageNotFoundError:
        return None


def canonical_name(name: str) -> str:
    """A distribution's name as requirement files and lock files spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()
