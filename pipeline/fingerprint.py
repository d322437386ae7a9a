"""Fingerprints of what code computes, read from source without importing it.

Snakemake does not track the Python code that rules call. To rerun exactly what a code
change affects, each rule passes the fingerprint of its entry point as a parameter:
the syntax tree (comments, docstrings and formatting removed) of the function or
class, and of every definition of the same package it refers to, transitively. Editing
``OnOff`` then changes the fingerprint of ``OnOff`` and of nothing that does not use
it; editing a comment changes nothing.

This module uses only the standard library and never imports the code it reads, so the
Snakefile can call it at parse time without importing torch.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
from pathlib import Path

from .file_cache import FileCache

__all__ = ["code_dependencies", "code_fingerprint", "default_cache_file"]


class _Module:
    """Top-level definitions and imports of one source file."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        _strip_docstrings(tree)  # dumps below then ignore docs, comments and layout
        self.definitions: dict[str, ast.AST] = {}
        self.imports = self.imports_in(tree.body, nested=False)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.definitions[node.name] = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.definitions[target.id] = node

    def imports_in(
        self, statements: list[ast.stmt], nested: bool = True
    ) -> dict[str, tuple[str, str | None]]:
        """Map local names to (module, attribute or None) for these statements' imports.

        Imports inside functions count too: stages import heavy modules lazily.
        """
        imports: dict[str, tuple[str, str | None]] = {}
        root = self.name.partition(".")[0]
        nodes = (n for s in statements for n in ast.walk(s)) if nested else statements
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                base = _resolve_relative(self.package, node.module, node.level)
                for alias in node.names:
                    local = alias.asname or alias.name
                    submodule = f"{base}.{alias.name}"
                    local_package = base.partition(".")[0] == root
                    if local_package and _find_source(submodule) is not None:
                        imports[local] = (submodule, None)
                    else:
                        imports[local] = (base, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.partition(".")[0]
                    imports[local] = (alias.name if alias.asname else local, None)
        return imports


def _resolve_relative(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base


@functools.cache
def _package_directory(root: str) -> Path | None:
    """Directory of top-level package ``root``, found without importing it."""
    try:
        spec = importlib.util.find_spec(root)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin is None and spec.submodule_search_locations:  # namespace package
        return Path(next(iter(spec.submodule_search_locations)))
    origin = Path(spec.origin or "")
    return origin.parent if origin.name == "__init__.py" else None


@functools.cache
def _find_source(module: str) -> Path | None:
    """Source file of ``module`` if it lives in a local package, without importing."""
    root, _, rest = module.partition(".")
    directory = _package_directory(root)
    if directory is None:
        if rest:
            return None
        spec = importlib.util.find_spec(root)  # a top-level module file
        origin = spec.origin if spec is not None else None
        return Path(origin) if origin and origin.endswith(".py") else None
    candidate = directory.joinpath(*rest.split(".")) if rest else directory
    for path in (candidate / "__init__.py", candidate.with_suffix(".py")):
        if path.is_file():
            return path
    return None


@functools.cache
def _load(module: str) -> _Module | None:
    path = _find_source(module)
    return None if path is None else _Module(module, path)


def _strip_docstrings(tree: ast.Module) -> None:
    """Remove every docstring from a parsed module, in place."""
    for child in ast.walk(tree):
        body = getattr(child, "body", None)
        if (
            isinstance(
                child,
                ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module,
            )
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            child.body = body[1:] or [ast.Pass()]


def _referenced_names(node: ast.AST) -> list[tuple[str, str | None]]:
    """Names used in ``node``, with the attribute read from each, if any."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
            found.append((child.value.id, child.attr))
        elif isinstance(child, ast.Name):
            found.append((child.id, None))
    return found


@functools.cache
def _definition(
    owner: str, symbol: str
) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Return the normalized dump of ``owner:symbol`` and what it refers to.

    A re-export (``from .x import y``) has no dump of its own, only its target.
    """
    source = _load(owner)
    if source is None:
        return None, ()
    root = owner.partition(".")[0]
    if symbol in source.imports:
        imported, attribute = source.imports[symbol]
        if imported.partition(".")[0] == root and attribute is not None:
            return None, ((imported, attribute),)
        return None, ()
    node = source.definitions.get(symbol)
    if node is None:
        return None, ()
    imports = {**source.imports, **source.imports_in([node])}
    used: list[tuple[str, str]] = []
    for name, attribute in _referenced_names(node):
        if name in source.definitions:
            used.append((owner, name))
        elif name in imports:
            imported, imported_attr = imports[name]
            if imported.partition(".")[0] != root:
                continue
            if imported_attr is not None:
                used.append((imported, imported_attr))
            elif attribute is not None:  # module.attribute
                used.append((imported, attribute))
    return ast.dump(node), tuple(dict.fromkeys(used))


def code_dependencies(target: str) -> dict[str, str]:
    """Every definition ``target`` uses, transitively, with its normalized dump.

    Parameters
    ----------
    target
        ``"package.module:Name"``.

    Returns
    -------
    definitions
        ``"module:name"`` -> normalized syntax tree, for ``target`` and everything of
        its top-level package it refers to (imports inside functions included).

    Raises
    ------
    ValueError
        If the module's source cannot be found or does not define ``Name``.

    """
    module_name, _, name = target.partition(":")
    module = _load(module_name)
    if module is None or (
        name not in module.definitions and name not in module.imports
    ):
        raise ValueError(f"cannot find the source of {target}")
    found: dict[str, str] = {}
    visited: set[tuple[str, str]] = set()
    pending = [(module_name, name)]
    while pending:
        item = pending.pop()
        if item in visited:
            continue
        visited.add(item)
        dump, used = _definition(*item)
        if dump is not None:
            found[f"{item[0]}:{item[1]}"] = dump
        pending.extend(used)
    return found


def _source_files(keys: list[str]) -> list[Path]:
    """Return the source files defining ``module:name`` keys."""
    modules = {key.partition(":")[0] for key in keys}
    return sorted({_find_source(module) for module in modules} - {None})


def default_cache_file() -> Path | None:
    """Where fingerprints are cached when no file is given.

    ``PIPELINE_FINGERPRINT_CACHE`` if set (an empty value: no cache), else
    ``code-fingerprints.json`` in the user's cache directory (``$XDG_CACHE_HOME``
    or ``~/.cache``, folder ``pipeline``).

    Returns
    -------
    path
        The cache file, or None for no cache.

    """
    chosen = os.environ.get("PIPELINE_FINGERPRINT_CACHE")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pipeline" / "code-fingerprints.json"


@functools.cache
def _open_cache(path: Path) -> FileCache:
    """One cache object per file and process: read once, however many targets."""
    return FileCache(path)


def code_fingerprint(target: str, cache_file: str | Path | None = None) -> str:
    """Fingerprint of a function or class and everything of its package it uses.

    Parameters
    ----------
    target
        ``"package.module:Name"``.
    cache_file
        JSON file remembering fingerprints with the content digests of the source
        files they were read from (a :class:`~pipeline.file_cache.FileCache`); an
        entry whose files all still hold the same bytes is reused without parsing
        anything (this keeps ``snakemake -n`` and stage start-up fast). It is
        rewritten atomically when an entry changes.
        Default: :func:`default_cache_file`.

    Returns
    -------
    fingerprint
        Hex sha256 (first 16 characters) of the normalized syntax trees.

    Examples
    --------
    >>> from pipeline.fingerprint import code_fingerprint
    >>> len(code_fingerprint("pipeline.loss:mse"))
    16

    """
    path = Path(cache_file) if cache_file is not None else default_cache_file()
    # one entry per target and checkout: the same target in another checkout (or
    # virtual environment) is other code
    key = f"{target}@{_find_source(target.partition(':')[0])}"
    cache = _open_cache(path) if path is not None else None
    if cache is not None:
        fingerprint = cache.get(key)
        if isinstance(fingerprint, str):
            return fingerprint
    dependencies = code_dependencies(target)
    digest = hashlib.sha256()
    for name, dump in sorted(dependencies.items()):
        digest.update(f"{name}\n{dump}\n".encode())
    fingerprint = digest.hexdigest()[:16]
    if cache is not None:
        cache.put(key, fingerprint, _source_files(list(dependencies)))
    return fingerprint
