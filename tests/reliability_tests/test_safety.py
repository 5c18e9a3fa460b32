"""Safety: YAML builds no objects, nothing from data or model output is executed, no password shows.

Every YAML the product reads (plans, scenarios, response profiles, a run directory's frozen
plan) goes through a safe loader: a python tag is refused with exit code 2 and its payload never
runs. A scan of the source proves that nothing outside the verifier's sandboxed worker can
evaluate text (eval, exec, pickle, unsafe YAML, shell strings, remote model code, sympy parsing).
Storage URLs are shown with their password masked, in messages, logs and written files alike.
"""

from __future__ import annotations

import ast
import logging
import re
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.search.storage import mask_url

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("planner", "trainer", "tui", "s2d")
SANDBOX = "trainer/_verify_worker.py"  # the one place allowed to parse answers with sympy


def payloads(canary: Path) -> dict[str, str]:
    return {
        "apply": f'!!python/object/apply:os.system ["touch {canary}"]',
        "new": f'!!python/object/new:subprocess.Popen [["touch", "{canary}"]]',
        "name": "!!python/name:os.system",
        "module": "!!python/module:os",
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("tag", ["apply", "new", "name", "module"])
@pytest.mark.parametrize("where", ["plan", "run-plan", "frozen-plan", "scenario", "profile"])
def test_yaml_with_python_tags_is_refused_and_never_runs(tmp_path, monkeypatch, cli, where, tag):
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "CANARY"
    evil = payloads(canary)[tag]
    plan = (REPO / "examples" / "toy_plan.yaml").read_text()
    scenario = (REPO / "examples" / "paper_scenario.yaml").read_text()
    if where == "plan":
        argv = [
            "validate",
            str(_write(tmp_path / "p.yaml", plan.replace("seed: 0\n", f"seed: {evil}\n", 1))),
        ]
    elif where == "run-plan":
        named = re.sub(r"^name: .*$", lambda _: f"name: {evil}", plan, count=1, flags=re.M)
        argv = ["run", str(_write(tmp_path / "p.yaml", named)), "--run-dir", "r"]
    elif where == "frozen-plan":  # a run directory someone tampered with
        (tmp_path / "r").mkdir()
        _write(tmp_path / "r" / "plan.yaml", plan.replace("seed: 0\n", f"seed: {evil}\n", 1))
        argv = ["run", str(_write(tmp_path / "p.yaml", plan)), "--run-dir", "r"]
    elif where == "scenario":
        argv = ["plan", str(_write(tmp_path / "s.yaml", scenario + f"\nseed: {evil}\n"))]
    else:
        profile = _write(tmp_path / "prof.yaml", f"name: {evil}\nparams: {{}}\n")
        argv = ["plan", str(_write(tmp_path / "s.yaml", scenario)), "--profile", str(profile)]

    result = cli(*argv)

    assert result.code == 2, result.out + result.err
    assert "could not determine a constructor for the tag" in result.err
    assert "Traceback" not in result.err
    assert not canary.exists()


# ---- nothing evaluates text ------------------------------------------------------------

UNSAFE_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "jsonpickle"}
SANDBOXED_MODULES = {"sympy", "math_verify", "latex2sympy2", "latex2sympy2_extended"}
UNSAFE_ATTRS = {
    ("yaml", "load"),
    ("yaml", "load_all"),
    ("yaml", "unsafe_load"),
    ("yaml", "unsafe_load_all"),
    ("yaml", "full_load"),
    ("yaml", "full_load_all"),
    ("yaml", "Loader"),
    ("yaml", "UnsafeLoader"),
    ("yaml", "FullLoader"),
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
}


def _is_const(node: ast.expr, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _call_findings(node: ast.Call) -> list[str]:
    found = []
    if isinstance(node.func, ast.Name) and node.func.id in UNSAFE_CALLS:
        found.append(f"{node.func.id}()")
    for kw in node.keywords:
        if kw.arg in ("shell", "trust_remote_code", "allow_pickle") and not _is_const(
            kw.value, False
        ):
            found.append(f"{kw.arg}=")
    func = node.func
    torch_load = (
        isinstance(func, ast.Attribute)
        and func.attr == "load"
        and isinstance(func.value, ast.Name)
        and func.value.id == "torch"
    )
    weights_only = any(
        kw.arg == "weights_only" and _is_const(kw.value, True) for kw in node.keywords
    )
    if torch_load and not weights_only:
        found.append("torch.load without weights_only=True")
    return found


def _import_findings(node: ast.Import | ast.ImportFrom, sandboxed: bool) -> list[str]:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    found = []
    for name in names:
        root = name.split(".")[0]
        if root in UNSAFE_MODULES:
            found.append(f"import {name}")
        if root in SANDBOXED_MODULES and not sandboxed:
            found.append(f"import {name} outside the verifier's worker")
    if isinstance(node, ast.ImportFrom) and node.module == "yaml":
        found += [
            f"from yaml import {a.name}" for a in node.names if ("yaml", a.name) in UNSAFE_ATTRS
        ]
    return found


def unsafe_uses(source: str, sandboxed: bool = False) -> list[str]:
    """What in ``source`` could execute text: one line per finding."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}: "
        if isinstance(node, ast.Call):
            found += [where + f for f in _call_findings(node)]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in UNSAFE_ATTRS
        ):
            found.append(f"{where}{node.value.id}.{node.attr}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [where + f for f in _import_findings(node, sandboxed)]
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "eval(answer)",
        "exec(code)",
        "compile(s, 'f', 'exec')",
        "__import__(name)",
        "import pickle",
        "from marshal import loads",
        "yaml.load(text)",
        "yaml.load(t, Loader=yaml.Loader)",
        "from yaml import unsafe_load",
        "os.system(cmd)",
        "subprocess.run(cmd, shell=True)",
        "torch.load(path)",
        "AutoModel.from_pretrained(p, trust_remote_code=True)",
        "np.load(f, allow_pickle=True)",
        "from sympy import sympify",
        "import math_verify",
    ],
)
def test_the_scan_finds_each_kind_of_unsafe_use(snippet):
    assert unsafe_uses(snippet)


def test_safe_uses_pass_the_scan():
    safe = "model.eval()\nyaml.safe_load(t)\nsubprocess.run(['ls'], shell=False)\ntorch.load(p, weights_only=True)\njson.loads(s)\n"
    assert unsafe_uses(safe) == []
    assert unsafe_uses("from sympy import Basic", sandboxed=True) == []


def test_no_module_can_execute_text_from_data_or_model_output():
    files = [p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))]
    assert len(files) > 40  # the scan sees the whole product
    findings = {
        str(p.relative_to(REPO)): unsafe_uses(
            p.read_text(), sandboxed=str(p.relative_to(REPO)) == SANDBOX
        )
        for p in files
    }
    assert {f: v for f, v in findings.items() if v} == {}


# ---- passwords -----------------------------------------------------------------------

SECRET = "Pa55word-never-shown"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://optuna:{SECRET}@127.0.0.1:9/study",
        f"postgresql+psycopg2://optuna:{SECRET}@db.invalid/study?connect_timeout=2",
        f"mysql+pymysql://optuna:{SECRET}@127.0.0.1:9/study",
        f"sqlite://optuna:{SECRET}@/study.db",
        f"nosuchdb://optuna:{SECRET}@host/study",
    ],
)
@pytest.mark.parametrize("command", ["plan", "explore"])
def test_storage_passwords_never_show(tmp_path, monkeypatch, cli, caplog, url, command):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "examples" / "paper_scenario.yaml", tmp_path / "s.yaml")
    if command == "plan":
        argv = ["plan", "s.yaml", "--out", "out", "--storage", url, "--trials", "2"]
    else:
        argv = ["explore", url, "--screenshot", "x.svg"]
    caplog.set_level(logging.DEBUG)
    start = time.monotonic()

    result = cli(*argv)

    assert time.monotonic() - start < 30  # refused, not left waiting on a server
    assert result.code == 2 and "optuna:***@" in result.err
    shown = result.out + result.err + caplog.text
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET not in shown and SECRET not in written


def test_a_sqlite_study_keeps_no_url_in_what_it_writes(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = cli(
        "plan",
        str(REPO / "examples" / "paper_scenario.yaml"),
        "--out",
        "out",
        "--storage",
        url,
        "--trials",
        "3",
        "--sampler",
        "tpe",
        "--json",
    )
    assert result.code == 0, result.err
    assert '"storage": "sqlite:///' in result.out
    for path in (tmp_path / "out").rglob("*.yaml"):
        assert "sqlite:" not in path.read_text()


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(
        ["postgresql", "postgresql+psycopg2", "mysql+pymysql", "redis", "cockroachdb"]
    ),
    user=st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789_.-"), max_size=12),
    password=st.text(
        st.characters(codec="utf-8", exclude_characters="@/\n"), min_size=1, max_size=24
    ),
    host=st.sampled_from(["db", "10.0.0.7:5432", "[::1]:5432", "db.example.org"]),
    tail=st.sampled_from(["/optuna", "/optuna?sslmode=require", "", "/a/b"]),
)
def test_mask_url_hides_any_password(scheme, user, password, host, tail):
    from urllib.parse import quote

    for pw in (password, quote(password, safe="")):  # as typed, and percent-encoded
        url = f"{scheme}://{user}:{pw}@{host}{tail}"
        assert mask_url(url) == f"{scheme}://{user}:***@{host}{tail}"
        assert (
            mask_url(f"cannot connect to {url}: refused")
            == f"cannot connect to {scheme}://{user}:***@{host}{tail}: refused"
        )


QUERY_PASSWORDS = [
    f"postgresql://optuna@127.0.0.1:9/study?password={SECRET}",
    f"postgresql://optuna@127.0.0.1:9/study?connect_timeout=2&password={SECRET}&sslmode=disable",
    f"mysql+pymysql://optuna@127.0.0.1:9/study?password={SECRET}",
    f"postgresql://optuna:{SECRET}@127.0.0.1:9/study?sslpassword={SECRET}",
    f"nosuchdb://optuna@host/study?PASSWORD={SECRET}",
]


@pytest.mark.parametrize("url", QUERY_PASSWORDS)
def test_passwords_in_the_query_never_show(tmp_path, monkeypatch, cli, caplog, url):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "examples" / "paper_scenario.yaml", tmp_path / "s.yaml")
    caplog.set_level(logging.DEBUG)

    result = cli("plan", "s.yaml", "--out", "out", "--storage", url, "--trials", "2")

    assert result.code == 2
    shown = result.out + result.err + caplog.text
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET not in shown and SECRET not in written
    assert "***" in result.err


@pytest.mark.parametrize("json_output", [True, False])
def test_a_sqlite_password_never_shows_on_success(tmp_path, monkeypatch, cli, json_output):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'study.db'}?password={SECRET}"
    argv = ["plan", str(REPO / "examples" / "paper_scenario.yaml"), "--out", "out"]
    argv += ["--storage", url, "--trials", "2"] + (["--json"] if json_output else [])

    result = cli(*argv)

    assert SECRET not in result.out + result.err
    assert result.code == 0, result.err
    assert "password=***" in result.out


@pytest.mark.parametrize(
    "url, masked",
    [
        (f"postgresql://u@h/db?password={SECRET}", "postgresql://u@h/db?password=***"),
        (
            f"postgresql://u@h/db?a=1&password={SECRET}&b=2",
            "postgresql://u@h/db?a=1&password=***&b=2",
        ),
        (f"postgresql://u:{SECRET}@h/db?passfile=/x", "postgresql://u:***@h/db?passfile=***"),
        (f"sqlite:///s.db?Password={SECRET}", "sqlite:///s.db?Password=***"),
        (f"postgresql://u@h/db?sslpassword={SECRET}", "postgresql://u@h/db?sslpassword=***"),
        (f"postgresql://u@h/db?pwd={SECRET}#x", "postgresql://u@h/db?pwd=***#x"),
    ],
)
def test_mask_url_hides_query_passwords(url, masked):
    assert mask_url(url) == masked
    assert mask_url(f"cannot open {url} (refused)") == f"cannot open {masked} (refused)"
