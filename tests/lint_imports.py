"""Import Linter on the installed layout: `python tests/lint_imports.py` (the suite runs it in
tests/test_architecture.py).

models/ and corpora/ are installed as workbench.models and workbench.corpora (pyproject's
package-dir). grimp, under import-linter, finds a package's modules by walking its folder, so
it would never see theirs, and would take every import of them for an import of `workbench`.
So each of the three is given to it as a root package of its own, at the folder the installed
package says (its import spec): the graph then holds every module under its installed name,
and the contracts on workbench.models and workbench.corpora are checked against their code.
"""
from __future__ import annotations

import importlib.util
import sys

from grimp.adaptors.packagefinder import ImportLibPackageFinder
from grimp.application.config import settings


class InstalledPackageFinder(ImportLibPackageFinder):
    """grimp's own finder, but a package inside another (workbench.models) is found where its
    spec says instead of being refused as not top-level."""

    def determine_package_directories(self, package_name, file_system):  # type: ignore[no-untyped-def]
        if "." in package_name:
            spec = importlib.util.find_spec(package_name)
            if spec is None or not spec.submodule_search_locations:
                raise ValueError(f"Could not find package '{package_name}' in your Python path.")
            return set(spec.submodule_search_locations)
        return super().determine_package_directories(package_name, file_system)


def main() -> int:
    settings.configure(PACKAGE_FINDER=InstalledPackageFinder())
    from importlinter.cli import lint_imports

    return lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True)


if __name__ == "__main__":
    sys.exit(main())
