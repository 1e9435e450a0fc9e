"""The layers of fixedsite (issue 11, item 6): the import-linter contracts in .importlinter
hold, the check can fail, and bench/ runs on the installed package alone.

import-linter reads a package from one folder, but drivers/, sequences/ and hil/ are
installed *inside* fixedsite from folders beside it (pyproject.toml, package-dir). Run on
the checkout as it is, it would not see them. So the package is laid out as the import
system sees it — a tree of symlinks built from package-dir — and lint-imports runs there.
scripts/test runs this file as a script to do exactly that (see the end of the file).

bench/ is a folder of scripts, not a package, so import-linter cannot check it: a bench must
run where only ``pip install fixedsite`` was done, so it may import fixedsite and nothing
from tests/. That is an AST scan here.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
BENCH = ROOT / "bench"
TESTS = ROOT / "tests"
# The venv's own lint-imports, beside the python running this.
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


# ---------------------------------------------------------------- import-linter

def package_dirs() -> dict[str, Path]:
    """Where each package is installed from, read from pyproject.toml so a new mapping
    there is linted without touching this file."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = data["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def stage(dest: Path) -> Path:
    """Lay the packages out under ``dest`` as the import system sees them once installed,
    as symlinks to the checkout (grimp follows them), and return ``dest``.

    Only one level of nesting is supported (``fixedsite.x`` from a folder beside
    ``fixedsite``): a mapping deeper than that would have to be placed inside a symlinked
    folder, i.e. written into the checkout, so it is refused instead."""
    dirs = package_dirs()
    for name in sorted(dirs, key=lambda n: n.count(".")):
        parts = name.split(".")
        target = dest.joinpath(*parts)
        if len(parts) == 1:
            target.mkdir(parents=True)
            for entry in sorted(dirs[name].iterdir()):
                if entry.name != "__pycache__":
                    (target / entry.name).symlink_to(entry)
        elif len(parts) == 2 and parts[0] in dirs:
            if target.exists() or target.is_symlink():
                raise ValueError(f"package-dir maps {name} to {dirs[name]}, but "
                                 f"{dirs[parts[0]] / parts[1]} exists as well")
            target.symlink_to(dirs[name], target_is_directory=True)
        else:
            raise ValueError(f"package-dir entry {name!r}: only a root package and its "
                             "direct subpackages can be staged for import-linter")
    return dest


def lint_imports(config: Path, tree: Path) -> subprocess.CompletedProcess[str]:
    """Run the venv's lint-imports on the staged ``tree``. lint-imports puts its working
    directory first on sys.path, so running inside the tree makes it find the staged
    package, not the checkout's fixedsite/ folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False)


def contract_names(config: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(config, encoding="utf-8")
    return [parser[s]["name"] for s in parser.sections()
            if s.startswith("importlinter:contract:")]


# "<name> KEPT", then maybe "(2 ignored imports)" and "[0.001s]" (with --show-timings).
VERDICT = re.compile(r"^(?P<name>.+?) (?P<verdict>KEPT|BROKEN)( \(.*\))?( \[.*\])?$")


def verdicts(output: str) -> dict[str, str]:
    """Contract name -> KEPT/BROKEN, from lint-imports' summary lines (names are kept short
    in .importlinter: a long one is wrapped onto two lines)."""
    return {m["name"]: m["verdict"] for line in output.splitlines()
            if (m := VERDICT.match(line.rstrip()))}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage(tmp_path_factory.mktemp("lint"))


def test_staged_tree_has_every_installed_package(tree: Path) -> None:
    """The staged tree holds the modules the installed package has, from the same files:
    if it did not, the contracts below would be checked against a different program."""
    for name in ("fixedsite.runtime", "fixedsite.drivers.modbus", "fixedsite.sequences",
                 "fixedsite.hil.site"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        staged = tree.joinpath(*name.split("."))
        staged = staged / "__init__.py" if staged.is_dir() else staged.with_suffix(".py")
        assert staged.resolve() == Path(spec.origin).resolve(), name


def test_every_contract_is_kept(tree: Path) -> None:
    names = contract_names(CONFIG)
    assert len(names) >= 4, names
    result = lint_imports(CONFIG, tree)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert verdicts(out) == dict.fromkeys(names, "KEPT"), out
    assert f"Contracts: {len(names)} kept, 0 broken." in out, out


def test_plain_lint_imports_in_the_checkout_fails_loudly() -> None:
    """Without the staged tree the subpackages are invisible; that must be an error, never
    a pass that checked nothing."""
    result = lint_imports(CONFIG, ROOT)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "fixedsite.drivers" in out, out


def test_a_contract_against_real_imports_is_broken(tree: Path, tmp_path: Path) -> None:
    """The check can fail: forbid two imports that exist today — one in the fixedsite
    folder, one in drivers/ (so the staged subpackages are really scanned) — and each
    contract must come out BROKEN with a non-zero exit."""
    broken = tmp_path / "broken.ini"
    broken.write_text(
        "[importlinter]\nroot_package = fixedsite\n\n"
        "[importlinter:contract:a]\nname = runtime without tags\ntype = forbidden\n"
        "source_modules = fixedsite.runtime\nforbidden_modules = fixedsite.tags\n\n"
        "[importlinter:contract:b]\nname = modbus driver without polling\ntype = forbidden\n"
        "source_modules = fixedsite.drivers.modbus\n"
        "forbidden_modules = fixedsite.drivers.polling\n",
        encoding="utf-8")
    result = lint_imports(broken, tree)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert verdicts(out) == {"runtime without tags": "BROKEN",
                             "modbus driver without polling": "BROKEN"}, out
    assert "fixedsite.runtime -> fixedsite.tags" in out, out
    assert "fixedsite.drivers.modbus -> fixedsite.drivers.polling" in out, out


def unfold(tree: Path, package: str) -> Path:
    """Turn a staged subpackage's folder symlink into a real folder of file symlinks, so a
    probe module can be added to it without writing into the checkout."""
    folder = tree.joinpath(*package.split("."))
    source = folder.resolve()
    folder.unlink()
    folder.mkdir()
    for entry in sorted(source.iterdir()):
        if entry.name != "__pycache__":
            (folder / entry.name).symlink_to(entry)
    return folder


# (package the probe module goes in, its one import, the contract it must break)
PROBES = [
    ("fixedsite.sequences", "from fixedsite.drivers import link", "sequences never import drivers"),
    ("fixedsite.drivers", "import fixedsite.sequences", "drivers never import sequences"),
    ("fixedsite", "from fixedsite.hil import site",
     "nothing at run time imports hil, only the CLI verbs that start one"),
    # Through the allowed door: the contract above no longer sees it, this one does.
    ("fixedsite.alarms", "import fixedsite.cli_hil",
     "nothing imports the command-line entry points"),
    ("fixedsite.hil", "from fixedsite.drivers.modbus_codec import parse_address",
     "hil never imports drivers"),
    ("fixedsite.console", "from fixedsite.sequences.drainage import config",
     "the core imports no system's module: systems come from the registry"),
]


@pytest.mark.parametrize(("package", "line", "contract"), PROBES,
                         ids=[f"{p[0]}:{p[1].split()[-1]}" for p in PROBES])
def test_each_contract_breaks_on_a_new_forbidden_import(
        tmp_path: Path, package: str, line: str, contract: str) -> None:
    """Each real contract, not only a made-up one, fails when a module it forbids is
    imported: a probe module with that one import is added to a copy of the staged tree,
    and exactly its contract comes out BROKEN."""
    tree = stage(tmp_path / "tree")
    folder = tree / "fixedsite" if package == "fixedsite" else unfold(tree, package)
    (folder / "zz_probe.py").write_text(line + "\n", encoding="utf-8")
    result = lint_imports(CONFIG, tree)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    expected = dict.fromkeys(contract_names(CONFIG), "KEPT")
    expected[contract] = "BROKEN"
    assert verdicts(out) == expected, out
    assert f"{package}.zz_probe" in out, out
    shutil.rmtree(tree)


# ---------------------------------------------------------------- bench/

# Top-level names that mean "from tests/": the package name and every module or folder a
# sys.path hack onto tests/ would expose (conftest, faulty_plc, vmserver, ...).
TEST_NAMES = frozenset({"tests"} | {p.stem for p in TESTS.glob("*.py")}
                       | {p.name for p in TESTS.iterdir() if p.is_dir()})

# TODO issue 11: bench/command.py and bench/peak_valley.py take demo_config and free_port
# from tests/conftest.py through a sys.path hack; they must come from the package so a
# bench runs where only `pip install fixedsite` was done. Delete each entry when fixed: a
# stale entry fails test_bench_never_imports_tests.
KNOWN_BENCH_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()


def bench_imports(source: str, filename: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names imported from it) for every import in a bench script; a
    relative import keeps its leading dots (a script has no package to be relative to)."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            yield (node.lineno, "." * node.level + (node.module or ""),
                   tuple(a.name for a in node.names))


def _mentions_tests(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str)
               and n.value.strip("/\\") in ("tests", "../tests")
               for n in ast.walk(node))


def reaches_into_tests(source: str, filename: str) -> set[str]:
    """What in one bench script reaches into tests/: an import of a test module, or
    sys.path pointed at tests/ (the way such an import is made to work)."""
    found = {module for _, module, _ in bench_imports(source, filename)
             if module.startswith(".") or module.split(".")[0] in TEST_NAMES}
    for node in ast.walk(ast.parse(source, filename=filename)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func.value) == "sys.path"
                and any(_mentions_tests(a) for a in node.args)):
            found.add("sys.path onto tests/")
    return found


def test_the_bench_scan_catches_each_way_into_tests() -> None:
    """The scan below can fail: each way a script reaches tests/ is reported."""
    source = (
        "import sys\nfrom pathlib import Path\n"
        "sys.path.insert(0, str(Path(__file__).parent.parent / 'tests'))\n"
        "import tests.conftest\nfrom conftest import demo_config\n"
        "from faulty_plc import X\nfrom . import helper\nfrom fixedsite.tags import TagStore\n")
    assert reaches_into_tests(source, "x.py") == {
        "sys.path onto tests/", "tests.conftest", "conftest", "faulty_plc", ".", }
    assert reaches_into_tests("from fixedsite.tags import TagStore\n", "y.py") == set()


def test_bench_never_imports_tests() -> None:
    scripts = sorted(BENCH.glob("*.py"))
    assert scripts, "no bench scripts found"
    found = {(p.name, v) for p in scripts
             for v in reaches_into_tests(p.read_text(encoding="utf-8"), str(p))}
    assert found - KNOWN_BENCH_VIOLATIONS == set(), "bench reaches into tests/"
    assert KNOWN_BENCH_VIOLATIONS - found == set(), "fixed: delete from KNOWN_BENCH_VIOLATIONS"


def test_every_fixedsite_import_in_bench_resolves() -> None:
    """A bench that names a module or a name the package no longer has fails here, in the
    suite, not the day someone runs the bench."""
    unresolved: list[str] = []
    count = 0
    for path in sorted(BENCH.glob("*.py")):
        for line, module, names in bench_imports(path.read_text(encoding="utf-8"), str(path)):
            if module.split(".")[0] != "fixedsite":
                continue
            count += 1
            where = f"bench/{path.name}:{line}"
            if importlib.util.find_spec(module) is None:
                unresolved.append(f"{where}: no module {module}")
                continue
            imported = importlib.import_module(module)
            for name in names:
                if hasattr(imported, name):
                    continue
                if (hasattr(imported, "__path__")
                        and importlib.util.find_spec(f"{module}.{name}") is not None):
                    continue  # a submodule not yet imported
                unresolved.append(f"{where}: {module} has no {name}")
    assert count > 0, "the scan found no fixedsite import in bench/"
    assert unresolved == []


# ---------------------------------------------------------------- as a script

def main(argv: list[str]) -> int:
    """scripts/test's lint step: lint-imports on the staged tree, its output and exit
    code passed through. Extra arguments go to lint-imports (e.g. --show-timings)."""
    with tempfile.TemporaryDirectory(prefix="fixedsite-lint-") as tmp:
        tree = stage(Path(tmp))
        start = time.monotonic()
        result = subprocess.run(
            [str(LINT_IMPORTS), "--no-cache", "--no-logo", *argv, str(CONFIG)], cwd=tree,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, check=False)
        print(f"lint-imports: {time.monotonic() - start:.2f} s", file=sys.stderr)
        return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
