"""Network guard for child Python processes of the pactjury tests.

``tests/conftest.py`` puts this directory first on ``PYTHONPATH`` and sets ``PACTJURY_NETGUARD_LOG``;
every Python started from the tests then imports this at start-up. Without that variable it does
nothing (beyond handing over to any sitecustomize it shadows). With it, the guard from
``netguard.py`` is installed as soon as ``socket`` is first imported (not before, so a child that
never touches the network pays almost nothing), and each refused attempt is appended to the log.
"""

import os
import sys


def _chain_shadowed_sitecustomize() -> None:
    """We are first on sys.path, so we hide any other sitecustomize (a venv's, a distro's): run it too."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            import importlib.util

            spec = importlib.util.spec_from_file_location("_pactjury_shadowed_sitecustomize", candidate)
            if spec and spec.loader:
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            return


class _GuardSocketOnImport:
    """A meta-path finder that lets the real finders load ``socket``, then installs the guard on it."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "socket":
            return None
        try:
            sys.meta_path.remove(cls)
        except ValueError:
            pass
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        spec.loader = _InstallAfterExec(spec.loader)
        return spec


class _InstallAfterExec:
    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, attr):  # get_source, is_package, ...: the real loader's
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _install()


def _install() -> None:
    import netguard  # lives next to this file, which is on sys.path

    netguard.install_from_env()


if os.environ.get("PACTJURY_NETGUARD_LOG"):
    if "socket" in sys.modules:
        _install()
    else:
        sys.meta_path.insert(0, _GuardSocketOnImport)

_chain_shadowed_sitecustomize()
