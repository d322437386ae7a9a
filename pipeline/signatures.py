"""Constructor parameters of model classes, read from source without importing it.

The workflow checks a config's ``models.<name>.params`` at parse time, where importing
torch (seconds) is not acceptable. This module finds a class's ``__init__`` in the
syntax tree of its source (located and parsed by :mod:`pipeline.fingerprint`),
following re-exports and base classes within the class's own top-level package. When
the answer cannot be known statically (``**kwargs``, a decorated class, a base from
another package, multiple inheritance, a module without Python source), it says so and
the check is left to the job that builds the model.

Standard library only, like :mod:`pipeline.fingerprint`.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.util
from dataclasses import dataclass

from .fingerprint import _find_source, _load, _Module, _package_directory
from .model_path import model_directories

__all__ = [
    "ConstructorSignature",
    "builtin_model_names",
    "constructor_signature",
    "find_model_class",
    "model_import_problem",
]

BUILTIN_MODELS_MODULE = "pipeline.models"
# bases whose constructor takes no keyword arguments (nn.Module rejects any)
_NO_PARAMETER_BASES = frozenset(
    {"object", "torch.nn.Module", "torch.nn.modules.module.Module"}
)
_MAX_DEPTH = 20  # re-exports and bases followed before giving up (cycles)


@dataclass(frozen=True)
class ConstructorSignature:
    """The keyword arguments a class's constructor accepts.

    Attributes
    ----------
    accepted
        Names that can be passed by keyword, in declaration order.
    required
        Those of ``accepted`` without a default.
    defined_in
        ``module:Class`` whose ``__init__`` this is (a base of the class, or
        ``torch.nn.Module`` for a module without its own constructor).

    """

    accepted: tuple[str, ...]
    required: tuple[str, ...]
    defined_in: str


@functools.cache
def builtin_model_names() -> tuple[str, ...]:
    """Names of the built-in model classes (``pipeline.models.__all__``), sorted.

    Returns
    -------
    names
        Read from the package's source; empty if it cannot be read.

    """
    module = _parse(BUILTIN_MODELS_MODULE)
    node = module.definitions.get("__all__") if module is not None else None
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return ()
    try:
        names = ast.literal_eval(node.value)
    except ValueError:
        return ()
    return tuple(sorted(str(name) for name in names))


def _target(name: str) -> str:
    """``module:Class`` of a config's model class (a built-in name or module:Class)."""
    return name if ":" in name else f"{BUILTIN_MODELS_MODULE}:{name}"


def _parse(module: str) -> _Module | None:
    """Parse the source of ``module`` (None if it has none or it does not parse)."""
    try:
        return _load(module)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, ImportError):
        return None


def _module_exists(module: str) -> bool | None:
    """Whether ``module`` can be found without importing it (None: cannot tell)."""
    try:
        if _find_source(module) is not None:
            return True
        root, _, rest = module.partition(".")
        if importlib.util.find_spec(root) is None:
            return False
        directory = _package_directory(root)
    except (ImportError, ValueError, OSError):
        return None
    if not rest:
        return True  # a top-level module without Python source (compiled)
    if directory is None:
        return None
    candidate = directory.joinpath(*rest.split("."))
    suffixes = importlib.machinery.all_suffixes()
    if candidate.is_dir() or any(
        candidate.with_name(candidate.name + suffix).exists() for suffix in suffixes
    ):
        return None  # there, but not as readable Python source
    return False


def find_model_class(name: str) -> bool | None:
    """Whether a config's model class exists, judged from source only.

    Parameters
    ----------
    name
        A built-in name (``"OnOff"``) or ``"module:Class"``.

    Returns
    -------
    found
        True if the class (or a name it is imported as) is defined, False if it
        certainly is not (an unknown built-in name, a module that does not exist, a
        module whose source defines no such name), None if it cannot be told
        statically (no Python source, a star import, a module ``__getattr__``).

    """
    if ":" not in name:
        builtins = builtin_model_names()
        return (name in builtins) if builtins else None
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name:
        return False
    exists = _module_exists(module_name)
    if exists is not True:
        return exists
    module = _parse(module_name)
    if module is None:
        return None
    if class_name in module.definitions or class_name in module.imports:
        return True
    if "*" in module.imports or "__getattr__" in module.definitions:
        return None
    return False


def model_import_problem(name: str) -> str | None:
    """Why importing a ``module:Class`` model would certainly fail, read from source.

    Parameters
    ----------
    name
        ``"module:Class"``.

    Returns
    -------
    problem
        One sentence (no module of that name is installed or in
        :func:`pipeline.model_path.model_directories`; its source does not parse;
        it imports, at its top level, a module that is not installed; it defines no
        such class), or None when nothing wrong can be seen, which includes what
        cannot be told without importing it.

    """
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name:
        return f"{name!r} is not module:Class"
    where = f"cannot find class {class_name!r} in module {module_name!r}"
    exists = _module_exists(module_name)
    if exists is False:
        folders = ", ".join(model_directories())
        file = f"{module_name.replace('.', '/')}.py"
        return (
            f"{where}: no such module is installed or in {folders} (put {file} "
            "beside the config file)"
        )
    path = _find_source(module_name) if exists else None
    if path is None:
        return None
    try:
        module = _load(module_name)
    except SyntaxError as error:
        return f"cannot import module {module_name!r}: {path} line {error.lineno}: {error.msg}"
    except (OSError, UnicodeDecodeError, ValueError, ImportError):
        return None
    for imported, _ in module.imports.values():
        root = imported.partition(".")[0]
        if root and root != module_name.partition(".")[0] and not _installed(root):
            return (
                f"cannot import module {module_name!r}: {path} imports {root!r}, "
                "which is not installed"
            )
    if find_model_class(name) is False:
        return f"{where}: {path} defines no {class_name}"
    return None


def _installed(module: str) -> bool:
    """Whether top-level ``module`` can be found (True when that cannot be told)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return True


def constructor_signature(name: str) -> ConstructorSignature | None:
    """Read the keyword arguments a model class's constructor accepts.

    Parameters
    ----------
    name
        A built-in name (``"OnOff"``) or ``"module:Class"``.

    Returns
    -------
    signature
        The accepted and required keyword names, or None if they cannot be known
        statically: the class takes ``**kwargs``, is decorated, defines ``__new__``
        or a metaclass, has several bases or a base outside its own top-level
        package (other than ``torch.nn.Module``), or its source cannot be read.

    Examples
    --------
    >>> from pipeline.signatures import constructor_signature
    >>> constructor_signature("OnOff").accepted[:2]
    ('kernel_size', 'pretrained')

    """
    module_name, _, class_name = _target(name).partition(":")
    root = module_name.partition(".")[0]
    return _class_signature(module_name, class_name, root, 0)


def _class_signature(
    module_name: str, symbol: str, root: str, depth: int
) -> ConstructorSignature | None:
    """Signature of ``module_name:symbol``, following re-exports and bases."""
    if depth > _MAX_DEPTH:
        return None
    module = _parse(module_name)
    if module is None:
        return None
    node = module.definitions.get(symbol)
    if node is None:
        if symbol not in module.imports:
            return None
        imported, attribute = module.imports[symbol]
        if attribute is None or imported.partition(".")[0] != root:
            return None
        return _class_signature(imported, attribute, root, depth + 1)
    if not isinstance(node, ast.ClassDef) or node.decorator_list or node.keywords:
        return None
    initializer = None
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            if statement.name == "__new__":
                return None
            if statement.name == "__init__":
                initializer = statement
        elif _assigns(statement, {"__init__", "__new__", "__signature__"}):
            return None
    if initializer is not None:
        return _function_signature(initializer, f"{module_name}:{symbol}")
    bases = [base for base in node.bases if _dotted(base) != "object"]
    if not bases:
        return ConstructorSignature((), (), "builtins:object")
    if len(bases) > 1:
        return None
    base = _resolve(module, bases[0])
    if base is None:
        return None
    if base in _NO_PARAMETER_BASES:
        return ConstructorSignature((), (), base.replace(".Module", ":Module"))
    base_module, _, base_symbol = base.rpartition(".")
    if base_module.partition(".")[0] != root:
        return None
    return _class_signature(base_module, base_symbol, root, depth + 1)


def _assigns(statement: ast.stmt, names: set[str]) -> bool:
    """Whether a class-body statement assigns one of ``names``."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        targets = [statement.target]
    else:
        return False
    return any(isinstance(t, ast.Name) and t.id in names for t in targets)


def _function_signature(
    function: ast.FunctionDef | ast.AsyncFunctionDef, defined_in: str
) -> ConstructorSignature | None:
    """Keyword-passable parameters of an ``__init__`` (None if it takes **kwargs)."""
    arguments = function.args
    if function.decorator_list or arguments.kwarg is not None:
        return None
    positional = [*arguments.posonlyargs, *arguments.args]
    n_without_default = len(positional) - len(arguments.defaults)
    accepted, required = [], []
    for index, argument in enumerate(positional):
        if index == 0 or index < len(arguments.posonlyargs):
            continue  # self, and parameters that cannot be passed by keyword
        accepted.append(argument.arg)
        if index < n_without_default:
            required.append(argument.arg)
    for argument, default in zip(
        arguments.kwonlyargs, arguments.kw_defaults, strict=True
    ):
        accepted.append(argument.arg)
        if default is None:
            required.append(argument.arg)
    return ConstructorSignature(tuple(accepted), tuple(required), defined_in)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` of a name or attribute chain, None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return None if owner is None else f"{owner}.{node.attr}"
    return None


def _resolve(module: _Module, node: ast.expr) -> str | None:
    """Fully qualified ``package.module.Name`` of a base-class expression."""
    dotted = _dotted(node)
    if dotted is None:
        return None
    first, _, rest = dotted.partition(".")
    if first in module.definitions:
        return f"{module.name}.{dotted}"
    if first in module.imports:
        imported, attribute = module.imports[first]
        prefix = imported if attribute is None else f"{imported}.{attribute}"
        return f"{prefix}.{rest}" if rest else prefix
    if not rest:  # a builtin such as object or Exception
        return dotted if dotted == "object" else None
    return None
