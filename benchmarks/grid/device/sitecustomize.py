"""Device-check harness only (never shipped): packages the device image lacks and the grid
never calls become stub modules; calling anything in them raises."""
import importlib.abc
import importlib.machinery
import sys
import types

STUB = {"pyogrio", "rasterio", "h3", "optuna", "dask", "distributed", "pyrosm", "tomli_w"}


class _Missing:
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *a, **k):
        raise RuntimeError(f"{self._name} is a stub on this machine")

    def __mro_entries__(self, bases):
        return (object,)


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__file__ = f"/stub/{spec.name}.py"
        mod.__version__ = "0.0.0"
        mod.__getattr__ = lambda attr, n=spec.name: _Missing(f"{n}.{attr}")
        return mod

    def exec_module(self, module):
        pass


class _Stubber(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in STUB:
            return importlib.machinery.ModuleSpec(name, _StubLoader(), is_package=True)
        return None


sys.meta_path.insert(0, _Stubber())


def _chain() -> None:
    """Run the next sitecustomize on the path too (the image's own, if it has one)."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if os.path.abspath(entry or ".") == here:
            continue
        other = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(other):
            with open(other) as fh:
                exec(compile(fh.read(), other, "exec"), {"__name__": "sitecustomize_chained",
                                                         "__file__": other})
            return


_chain()
