"""Changes to libraries' behaviour, one module per library, each tied to the versions it was tested with.

Each module declares its patches with ``declare`` (the library and the version range it
was written and tested against) and applies them only where ``Patch.applies()`` says so.
Outside that range the service runs the library as released and logs one warning naming
the patch. A patch that enforces security (the network guard) is declared ``security=True``:
its caller refuses the guarded work instead of running unguarded (fails closed).
``/api/health`` lists every patch, the installed version, and whether it is in force.
"""

from __future__ import annotations

import platform
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from logging import getLogger

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

log = getLogger(__name__)

_warned: set[str] = set()
_warned_lock = threading.Lock()


def installed_version(library: str) -> str:
    """The installed version of a distribution ("python" for the interpreter and its standard library)."""
    if library == "python":
        return platform.python_version()
    try:
        return version(library)
    except PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Patch:
    """One change to a library's behaviour."""

    name: str  # what it changes, as the warning and /api/health name it
    library: str  # the distribution it changes
    tested: str  # the versions it was written and tested against (a PEP 440 specifier)
    security: bool = False  # outside its range the guarded work is refused, not run unpatched

    def in_range(self) -> bool:
        """Whether the installed library is one this patch was tested with."""
        try:
            return Version(installed_version(self.library)) in SpecifierSet(self.tested)
        except InvalidVersion:
            return False

    def applies(self) -> bool:
        """Whether to apply it; the first time it does not, say so once."""
        if self.in_range():
            return True
        with _warned_lock:
            first = self.name not in _warned
            _warned.add(self.name)
        if first:
            outcome = "refusing the work it guards" if self.security else f"using {self.library} as released"
            log.warning("patch %r not applied: it was tested with %s %s, and %s is installed; %s",
                        self.name, self.library, self.tested, installed_version(self.library), outcome)  # fmt: skip
        return False

    def problem(self) -> str | None:
        """Why a security patch cannot be trusted now, else None."""
        if self.in_range():
            return None
        return (f"the {self.name} patch was tested with {self.library} {self.tested}, "
                f"but {installed_version(self.library)} is installed")  # fmt: skip


PATCHES: list[Patch] = []


def declare(name: str, library: str, tested: str, *, security: bool = False) -> Patch:
    """Register a patch (at import of its module) so that /api/health lists it."""
    patch = Patch(name, library, tested, security)
    PATCHES.append(patch)
    return patch


def report() -> list[dict[str, object]]:
    """Every declared patch: the library version installed, the range tested, and whether it is in force."""
    return [
        {
            "patch": patch.name,
            "library": patch.library,
            "installed": installed_version(patch.library),
            "tested": patch.tested,
            "in_force": patch.in_range(),
            **({"security": True} if patch.security else {}),
        }
        for patch in PATCHES
    ]
