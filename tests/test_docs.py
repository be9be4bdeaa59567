"""Every fenced code block of ``README.md`` and ``docs/*.md`` is checked, so the docs cannot rot.

A failure names the file and the line of the block's opening fence (and, for a python block,
the line that failed). The rules, by the block's language:

``python`` (or ``py``)
    Run in order, per file, in one namespace (a module of its own, like a doctest session), in
    a fresh temporary working directory that is also on ``sys.path``, inside a database-enabled
    test with these settings: ``TRIGGERS["DEFAULT_RUNNER"] = "sync"`` (tasks run inline), the
    ``COLLECTORS`` ``ARTIFACTS_ROOT`` and ``STATE_DIR`` in the temporary directory, and a cache
    ``KEY_PREFIX`` of the test's own. A block whose first line starts with ``>>>`` (or a
    ``pycon`` block) is a doctest in the same namespace. When a file's blocks have run, every
    ``unittest.TestCase`` subclass they defined is run too, and must pass. What the blocks
    register (tasks, components, recorder backends, modules imported from the temporary
    directory, environment variables) is undone after the file.
``toml``, ``json``, ``ini``
    Parsed.
``sh``, ``bash``, ``shell``, ``console``, or no language
    Shell lines (in ``console``, only the lines after a ``$ `` prompt). Comments, ``\\``
    continuations, ``&&``, ``||``, ``;`` and ``|`` are understood, and a leading five-field
    cron schedule is stripped. Each command must be one of:

    * ``[python] manage.py <command> ...``: an existing management command whose argument
      parser accepts the arguments;
    * ``python path/to/script.py ...`` (a file of the repository) or ``python -m module``
      (an importable module);
    * ``make <target> ...``: targets of the ``Makefile``;
    * one of ``ALLOWED_COMMANDS`` (``pip install``, ``cd``, ``jq``, ...).

    Placeholders such as ``<name>`` are refused: write a concrete example (put a synopsis in
    the prose or in a ``text`` block).
``text`` (or ``txt``)
    Not checked: program output, directory trees, error messages.

Any other language is an error, so nothing slips through unchecked.

An HTML comment on the line before the fence (blank lines between are allowed) changes what
happens to one block:

``<!-- docs-test: file some/path.ext -->``
    The block (any parseable language) is also written to that path in the temporary
    directory, so later blocks find it (``Pipeline("pipelines/nightly.toml")``, a task module
    named by a dotted path, a ``flowconf.py``). A python file is compiled, not run.
``<!-- docs-test: settings -->``
    A python settings fragment: run in a namespace of its own that holds ``BASE_DIR`` (the
    temporary directory), ``__file__`` (a ``settings.py`` in it) and empty
    ``INSTALLED_APPS`` and ``MIDDLEWARE`` lists. Its
    ``TRIGGERS`` and ``COLLECTORS`` may name only known keys (``triggers.conf.DEFAULTS``,
    ``collector_app.conf.DEFAULTS``), and are applied to the rest of the file's blocks
    (except ``TRIGGERS`` ``DEFAULT_RUNNER`` and ``CACHE_ALIAS``, which the test keeps).
``<!-- docs-test: compile (why it cannot run here) -->``
    A python block that is only compiled: for code that needs a real remote host. Use it
    sparingly, and give the reason.

``DOCS_TEST_SKIP`` (comma-separated paths, e.g. ``docs/recorders.md``) skips files in a local
run; never set it in CI.

Two more checks: the settings reference (``docs/settings.md``) lists every key of both
``DEFAULTS`` dicts with its default, and relative links between the pages lead to files.
"""

from __future__ import annotations

import configparser
import doctest
import importlib.util
import io
import json
import os
import re
import shlex
import sys
import tomllib
import traceback
import types
import unittest
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
SKIPPED = {p.strip() for p in os.environ.get("DOCS_TEST_SKIP", "").split(",") if p.strip()}

PYTHON = {"python", "py"}
DOCTEST = {"pycon"}
SHELL = {"", "sh", "bash", "shell", "console"}
TEXT = {"text", "txt"}
DATA = {"toml", "json", "ini"}
LANGUAGES = PYTHON | DOCTEST | SHELL | TEXT | DATA

#: Commands a shell block may run besides manage.py, python and make: name -> check of args.
ALLOWED_COMMANDS = {
    "pip": lambda args: bool(args) and args[0] == "install",
    "cd": lambda args: len(args) == 1,
    "export": lambda args: all("=" in a for a in args),
    "jq": lambda args: True,
    "crontab": lambda args: args in (["-e"], ["-l"]),
}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`]*)[^`]*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>[a-z-]+)\s*(?P<arg>.*?)\s*-->\s*$")
PLACEHOLDER = re.compile(r"<[A-Za-z_][\w .|-]*>")
CRON = re.compile(
    r"^\s*(?:@(?:reboot|yearly|annually|monthly|weekly|daily|hourly)|(?:[\d*/,-]+\s+){5})"
)
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
SEPARATORS = {"&&", "||", ";", "|", "&"}


@dataclass
class Block:
    path: str  # relative to the repository, e.g. "docs/state.md"
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    directive: str | None = None
    arg: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_doctest(self) -> bool:
        return self.lang in DOCTEST or (
            self.lang in PYTHON and self.code.lstrip().startswith(">>>")
        )


def parse_blocks(path: str) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a markdown file, and the problems found reading them."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, indent, fence = i, match["indent"], match["fence"]
        lang = match["info"].lower()
        body: list[str] = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            problems.append(f"{path}:{start + 1}: the block is never closed")
        i += 1
        directive, arg = None, ""
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (found := DIRECTIVE.match(lines[j])):
            directive, arg = found["kind"], found["arg"]
        block = Block(path, start + 1, lang, "\n".join(body) + "\n", directive, arg)
        problems.extend(check_directive(block))
        blocks.append(block)
    return blocks, problems


def check_directive(block: Block) -> list[str]:
    if block.directive is None:
        return []
    if block.directive == "file":
        target = Path(block.arg)
        if not block.arg or " " in block.arg or target.is_absolute() or ".." in target.parts:
            return [f"{block.where}: docs-test file needs one relative path, not {block.arg!r}"]
        if block.lang in SHELL | TEXT:
            return [f"{block.where}: docs-test file is for code and data blocks, not {block.lang}"]
        return []
    if block.directive == "settings":
        if block.lang not in PYTHON:
            return [f"{block.where}: docs-test settings is for python blocks"]
        return []
    if block.directive == "compile":
        if block.lang not in PYTHON | DOCTEST:
            return [f"{block.where}: docs-test compile is for python blocks"]
        if not block.arg.strip("() "):
            return [f"{block.where}: docs-test compile needs a reason: compile (why)"]
        return []
    return [f"{block.where}: unknown docs-test directive {block.directive!r}"]


# -- static checks: data, shell, syntax ------------------------------------------------------
def compile_python(block: Block) -> object:
    """Compile a python block so that tracebacks show the markdown file's own line numbers."""
    source = "\n" * (block.line) + block.code
    return compile(source, str(ROOT / block.path), "exec")


def check_syntax(block: Block) -> list[str]:
    try:
        if not block.is_doctest:
            compile_python(block)
            return []
        for example in doctest.DocTestParser().get_examples(block.code):
            line = block.line + example.lineno + 1
            try:
                compile(example.source, block.where, "single")
            except SyntaxError as exc:
                return [f"{block.path}:{line}: doctest example does not compile: {exc.msg}"]
    except SyntaxError as exc:
        return [f"{block.path}:{exc.lineno}: python block does not compile: {exc.msg}"]
    except ValueError as exc:  # a malformed doctest (a prompt without its space, ...)
        return [f"{block.where}: doctest block does not parse: {exc}"]
    return []


def check_data(block: Block) -> list[str]:
    try:
        if block.lang == "toml":
            tomllib.loads(block.code)
        elif block.lang == "json":
            json.loads(block.code)
        else:
            configparser.ConfigParser(strict=False, interpolation=None).read_string(block.code)
    except (ValueError, configparser.Error) as exc:
        return [f"{block.where}: {block.lang} block does not parse: {exc}"]
    return []


def strip_comment(line: str) -> str:
    """The line without its trailing ``# comment`` (a ``#`` inside a word or quotes stays)."""
    quote = None
    for k, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k]
    return line


def shell_lines(block: Block) -> list[tuple[int, str]]:
    """(line number, command line) pairs of a shell block."""
    result: list[tuple[int, str]] = []
    pending, pending_line = "", 0
    for offset, raw in enumerate(block.code.splitlines(), start=1):
        number = block.line + offset
        if block.lang == "console" and not pending:
            if not raw.startswith("$ "):
                continue  # output
            raw = raw[2:]
        text = strip_comment(raw).rstrip()
        if not pending:
            pending_line = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        pending += text
        if pending.strip():
            result.append((pending_line, pending.strip()))
        pending = ""
    if pending.strip():
        result.append((pending_line, pending.strip()))
    return result


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE))


def check_manage(args: list[str]) -> str | None:
    if not args:
        return "manage.py without a command"
    name, rest = args[0], args[1:]
    commands = get_commands()
    if name not in commands:
        return f"manage.py {name}: no such management command"
    command = load_command_class(commands[name], name)
    parser = command.create_parser("manage.py", name)
    try:
        parser.parse_args(rest)
    except CommandError as exc:
        return f"manage.py {name}: its arguments do not parse: {exc}"
    except SystemExit as exc:
        return f"manage.py {name}: its arguments do not parse (exit status {exc.code})"
    return None


def check_python_command(args: list[str]) -> str | None:
    if not args:
        return "python without arguments (an interactive shell) is not a documented command"
    first = args[0]
    if Path(first).name == "manage.py":
        return check_manage(args[1:])
    if first == "-m":
        if len(args) < 2 or importlib.util.find_spec(args[1]) is None:
            return f"python -m {' '.join(args[1:2])}: no such module"
        return None
    if first.endswith(".py"):
        if not (ROOT / first).is_file():
            return f"python {first}: no such file in the repository"
        return None
    return f"python {first}: not a manage.py command, a script or -m module"


def check_command(words: list[str]) -> str | None:
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]  # VAR=value prefixes
    if not words:
        return None
    head, args = words[0], words[1:]
    if re.fullmatch(r"python(3(\.\d+)?)?", Path(head).name):
        return check_python_command(args)
    if Path(head).name == "manage.py":
        return check_manage(args)
    if head == "django-admin":
        return check_manage(args)
    if head == "make":
        targets = [a for a in args if not a.startswith("-") and "=" not in a]
        missing = sorted(set(targets) - makefile_targets())
        if not targets or missing:
            return f"make: no such target(s) {missing or '(none given)'} in the Makefile"
        return None
    allowed = ALLOWED_COMMANDS.get(head)
    if allowed is None:
        return f"{head!r} is not a command the docs test knows (see ALLOWED_COMMANDS)"
    if not allowed(args):
        return f"{head} {' '.join(args)}: not an allowed use of {head}"
    return None


def check_shell(block: Block) -> list[str]:
    problems = []
    for number, line in shell_lines(block):
        where = f"{block.path}:{number} (block at line {block.line})"
        if found := PLACEHOLDER.search(line):
            problems.append(
                f"{where}: placeholder {found.group()} in a shell line; give a concrete example"
            )
            continue
        if cron := CRON.match(line):
            line = line[cron.end() :]
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            tokens = list(lexer)
        except ValueError as exc:
            problems.append(f"{where}: cannot split {line!r}: {exc}")
            continue
        command: list[str] = []
        commands: list[list[str]] = []
        skip_next = False
        for token in tokens:
            if skip_next:
                skip_next = False
            elif token in SEPARATORS:
                commands.append(command)
                command = []
            elif set(token) <= set("<>&") or re.fullmatch(r"\d?>>?&?", token):
                skip_next = True  # a redirection and its target
            else:
                command.append(token)
        commands.append(command)
        for words in commands:
            if problem := check_command(words):
                problems.append(f"{where}: {problem}\n    {line}")
    return problems


def static_problems(path: str) -> list[str]:
    blocks, problems = parse_blocks(path)
    for block in blocks:
        if block.lang not in LANGUAGES:
            problems.append(
                f"{block.where}: unknown block language {block.lang!r} "
                f"(known: {', '.join(sorted(LANGUAGES - {''}))}, or none for shell)"
            )
        elif block.lang in PYTHON | DOCTEST:
            problems.extend(check_syntax(block))
        elif block.lang in DATA:
            problems.extend(check_data(block))
        elif block.lang in SHELL:
            problems.extend(check_shell(block))
    return problems


def doc_params() -> list:
    return [
        pytest.param(
            path, marks=pytest.mark.skip(reason="DOCS_TEST_SKIP") if path in SKIPPED else ()
        )
        for path in DOC_FILES
    ]


@pytest.mark.parametrize("path", doc_params())
def test_blocks_parse_and_commands_exist(path):
    problems = static_problems(path)
    assert not problems, "\n".join(problems)


# -- running the python blocks ---------------------------------------------------------------
def _python_traceback(exc: BaseException, doc: Path, shown: str) -> str:
    """The traceback's frames in the markdown file (``doc``, shown as ``shown``), and the
    exception."""
    frames = [
        f"    {shown}:{frame.lineno}: {(frame.line or '').strip()}"
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == str(doc)
    ]
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    inner = [f"    (in {f.filename}:{f.lineno})" for f in last if f.filename != str(doc)]
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*frames, *inner, f"    {message}"])


class DocRun:
    """Runs one file's blocks and collects the failures."""

    def __init__(self, path: str, tmp: Path) -> None:
        self.path = path
        self.doc = ROOT / path
        self.tmp = tmp
        self.failures: list[str] = []
        name = "docs_" + re.sub(r"\W", "_", Path(path).stem)
        self.module = types.ModuleType(name)
        self.module.__file__ = str(self.doc)
        sys.modules[name] = self.module  # dataclasses and pickling look classes up there
        self.defined_in: dict[str, int] = {}  # name defined -> line of its block
        self.overrides: list[override_settings] = []

    # -- settings ------------------------------------------------------------------------
    def apply(self, triggers: dict, collectors: dict) -> None:
        override = override_settings(TRIGGERS=triggers, COLLECTORS=collectors)
        override.enable()
        self.overrides.append(override)

    def run_settings_block(self, block: Block) -> None:
        from collector_app.conf import DEFAULTS as COLLECTOR_DEFAULTS
        from triggers.conf import DEFAULTS as TRIGGER_DEFAULTS

        namespace = {
            "__name__": "docs_settings",
            "__file__": str(self.tmp / "settings.py"),
            "BASE_DIR": self.tmp,
            "INSTALLED_APPS": [],
            "MIDDLEWARE": [],
        }
        exec(compile_python(block), namespace)
        triggers = dict(settings.TRIGGERS)
        collectors = dict(settings.COLLECTORS)
        for name, defaults, current in (
            ("TRIGGERS", TRIGGER_DEFAULTS, triggers),
            ("COLLECTORS", COLLECTOR_DEFAULTS, collectors),
        ):
            if name not in namespace:
                continue
            given = namespace[name]
            if not isinstance(given, dict):
                raise TypeError(f"{name} must be a dict, not {type(given).__name__}")
            unknown = sorted(set(given) - set(defaults))
            if unknown:
                raise ValueError(f"{name} has unknown key(s): {', '.join(unknown)}")
            current.update(given)
        triggers["DEFAULT_RUNNER"] = "sync"
        triggers["CACHE_ALIAS"] = settings.TRIGGERS.get("CACHE_ALIAS", "default")
        self.apply(triggers, collectors)

    # -- blocks --------------------------------------------------------------------------
    def write_file(self, block: Block) -> None:
        target = self.tmp / block.arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.code, encoding="utf-8")
        importlib.invalidate_caches()  # a module written now is importable at once

    def run_doctest(self, block: Block) -> None:
        parser = doctest.DocTestParser()
        test = parser.get_doctest(
            block.code, self.module.__dict__, block.where, str(self.doc), block.line
        )
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
        )
        out = io.StringIO()
        runner.run(test, out=out.write, clear_globs=False)
        self.module.__dict__.update(test.globs)  # DocTest ran on a copy of the namespace
        if runner.failures:
            self.failures.append(f"{block.where}: doctest failed\n{out.getvalue()}")

    def run_block(self, block: Block) -> None:
        if block.lang not in PYTHON | DOCTEST and block.directive != "file":
            return  # data and shell blocks: checked by the static test
        if block.directive == "compile":
            return
        if block.directive == "file":
            self.write_file(block)
            return
        if block.directive == "settings":
            self.run_settings_block(block)
            return
        before = set(self.module.__dict__)
        if block.is_doctest:
            self.run_doctest(block)
        else:
            exec(compile_python(block), self.module.__dict__)
        for name in set(self.module.__dict__) - before:
            self.defined_in[name] = block.line

    def run_test_cases(self) -> None:
        for name, value in list(self.module.__dict__.items()):
            if not (
                isinstance(value, type)
                and issubclass(value, unittest.TestCase)
                and value.__module__ == self.module.__name__
            ):
                continue
            suite = unittest.defaultTestLoader.loadTestsFromTestCase(value)
            result = unittest.TestResult()
            suite.run(result)
            line = self.defined_in.get(name, "?")
            problems = [*result.failures, *result.errors]
            problems += [(test, "passed unexpectedly") for test in result.unexpectedSuccesses]
            by_error: dict[str, list[tuple[unittest.TestCase, str]]] = {}
            for test, text in problems:  # one traceback per distinct error, not per test
                kind = text.strip().splitlines()[-1].split(":")[0]
                by_error.setdefault(kind, []).append((test, text))
            for same in by_error.values():
                names = ", ".join(t._testMethodName for t, _ in same)
                self.failures.append(
                    f"{self.path}:{line}: {name} (defined in the block at line {line}) did not "
                    f"pass: {names}\n{same[0][1]}"
                )

    def run(self, blocks: list[Block]) -> None:
        for block in blocks:
            try:
                self.run_block(block)
            except Exception as exc:
                self.failures.append(
                    f"{block.where}: {block.lang or 'shell'} block failed\n"
                    + _python_traceback(exc, self.doc, self.path)
                )
        self.run_test_cases()


class Isolation:
    """Undo what a file's blocks did to the process: registries, modules, environment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp.resolve()

    def __enter__(self) -> Isolation:
        from collector_app import registry as components
        from triggers import task

        self.modules = set(sys.modules)
        self.path = list(sys.path)
        self.environ = dict(os.environ)
        self.cwd = os.getcwd()
        self.tasks = dict(task._registry)
        self.components = {kind: dict(r._local) for kind, r in components.REGISTRIES.items()}
        for registry in components.REGISTRIES.values():
            registry._local.clear()  # the docs' names never clash with other tests' ones
        self.local_files = dict(components._loaded_files)
        try:
            from collector_app.pushcollector import registry as recorders
        except ImportError:  # being written
            recorders = None
        self.recorders = recorders
        if recorders is not None:
            self.backends = dict(recorders._registered)
            self.default_backend = recorders._default
        return self

    def __exit__(self, *exc_info: object) -> None:
        from collector_app import registry as components
        from triggers import task

        os.chdir(self.cwd)
        sys.path[:] = self.path
        os.environ.clear()
        os.environ.update(self.environ)
        task._registry.clear()
        task._registry.update(self.tasks)
        for kind, registry in components.REGISTRIES.items():
            registry._local.clear()
            registry._local.update(self.components[kind])
        components._loaded_files.clear()
        components._loaded_files.update(self.local_files)
        if self.recorders is not None:
            self.recorders._registered.clear()
            self.recorders._registered.update(self.backends)
            self.recorders._default = self.default_backend
        for name in set(sys.modules) - self.modules:  # the docs' own modules, not the project's
            if self.is_docs_module(sys.modules[name]):
                del sys.modules[name]

    def is_docs_module(self, module: types.ModuleType | None) -> bool:
        places = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
        return any(
            place and Path(place).resolve().is_relative_to(self.tmp) for place in places
        ) or str(getattr(module, "__name__", "")).startswith("docs_")


def _delete_cache_keys(prefix: str) -> None:
    from django.core.cache import caches

    cache = caches[settings.TRIGGERS.get("CACHE_ALIAS", "default")]
    try:
        client = cache._cache.get_client(None, write=True)
    except AttributeError:  # not a Redis cache
        return
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", doc_params())
def test_python_blocks_run(path, tmp_path):
    blocks, problems = parse_blocks(path)
    assert not problems, "\n".join(problems)
    if not any(b.lang in PYTHON | DOCTEST or b.directive == "file" for b in blocks):
        return
    work = tmp_path / "work"
    work.mkdir()
    prefix = f"docs-{uuid.uuid4().hex[:12]}"
    caches = {alias: dict(conf) for alias, conf in settings.CACHES.items()}
    for conf in caches.values():
        conf["KEY_PREFIX"] = prefix
    triggers = {**settings.TRIGGERS, "DEFAULT_RUNNER": "sync"}
    collectors = {
        **settings.COLLECTORS,
        "ARTIFACTS_ROOT": tmp_path / "artifacts",
        "STATE_DIR": tmp_path / "state",
    }
    with (
        Isolation(tmp_path),
        override_settings(CACHES=caches, TRIGGERS=triggers, COLLECTORS=collectors),
    ):
        run = DocRun(path, work)
        os.chdir(work)
        sys.path.insert(0, str(work))
        try:
            from collector_app.pushcollector import Collector

            with Collector.new_run():
                run.run(blocks)
        finally:
            for override in reversed(run.overrides):
                override.disable()
            _delete_cache_keys(prefix)
    assert not run.failures, "\n\n".join(run.failures)


# -- the settings reference and the links ------------------------------------------------------
def _settings_table(section: str) -> dict[str, str]:
    """key -> default cell of the table under ``## `<section>` `` in docs/settings.md."""
    text = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    match = re.search(rf"^## `{section}`\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/settings.md has no '## `{section}`' section"
    rows = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and (key := re.fullmatch(r"`(\w+)`", cells[0])):
            rows[key.group(1)] = cells[1]
    return rows


@pytest.mark.parametrize(
    "section, module", [("TRIGGERS", "triggers.conf"), ("COLLECTORS", "collector_app.conf")]
)
def test_settings_reference_lists_every_key_with_its_default(section, module):
    import ast
    import importlib

    defaults = importlib.import_module(module).DEFAULTS
    rows = _settings_table(section)
    missing = sorted(set(defaults) - set(rows))
    extra = sorted(set(rows) - set(defaults))
    assert not missing, f"docs/settings.md, {section}: keys not documented: {missing}"
    assert not extra, f"docs/settings.md, {section}: keys that do not exist: {extra}"
    wrong = []
    for key, cell in rows.items():
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if not literal:
            wrong.append(f"{key}: the default {cell!r} is not one `literal`")
            continue
        try:
            value = ast.literal_eval(literal.group(1))
        except (ValueError, SyntaxError):
            wrong.append(f"{key}: the default {cell} is not a Python literal")
            continue
        if value != defaults[key]:
            wrong.append(f"{key}: documented {value!r}, but the default is {defaults[key]!r}")
    assert not wrong, f"docs/settings.md, {section}:\n" + "\n".join(wrong)


LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", DOC_FILES)
def test_relative_links_lead_to_files(path):
    doc = ROOT / path
    broken = [
        f"{path}:{number}: {target}"
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
        for target in LINK.findall(line)
        if not (doc.parent / target).exists()
    ]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_links_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p for p in DOC_FILES[1:] if f"]({p})" not in readme]
    assert not unlinked, f"README.md's Documentation list does not link: {unlinked}"
