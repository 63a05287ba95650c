"""Input text never becomes code, markup or terminal control.

Every case runs the real command in a fresh interpreter that carries a PEP 578 audit hook
(:data:`HARNESS`): it fails the run if the payload ever opens its file or starts a process, and
it tokenizes every source text the interpreter compiles, failing if the marker word appears in
any token but a string literal or a comment. So a pass proves the input was compiled, if at
all, only as data.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcalc.escape import printable, printable_lines, py_comment, py_str, xml_attr, xml_text

MARK = "PWNED"
PAYLOAD = f'import os;open("{MARK}_OUT","w");os.system("touch {MARK}_SYS")'

HARNESS = r'''
import io, sys, tokenize
MARK = sys.argv[1]
found = []

def tokens_outside_data(src):
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as e:
        return [f"untokenizable source holding the marker: {e}"]
    data = {tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", -1)}
    return [t.string for t in toks if MARK in t.string and t.type not in data]

def hook(event, args):
    if event == "compile" and args and isinstance(args[0], (str, bytes)):
        src = args[0].decode("utf-8", "replace") if isinstance(args[0], bytes) else args[0]
        if MARK in src:
            found.extend(tokens_outside_data(src))
    elif event == "open" and args and isinstance(args[0], str) and args[0].rpartition("/")[2] == MARK + "_OUT":
        found.append("payload opened " + args[0])
    elif event in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn"):
        found.append(f"{event}: {args!r}")

sys.addaudithook(hook)
from netcalc.cli import main
sys.argv = ["netcalc", *sys.argv[2:]]
try:
    main()
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else 1
else:
    code = 0
if found:
    print("AUDIT: input text compiled as code: " + repr(found[:5]), file=sys.stderr)
    code = 99
sys.exit(code)
'''

SPEC = "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n  - ReLU\n"


def audited(tmp_path, *args) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-c", HARNESS, MARK, *map(str, args)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=180)
    assert "AUDIT:" not in run.stderr, run.stderr
    assert run.returncode != 99
    assert "Traceback" not in run.stderr, run.stderr
    assert not list(tmp_path.glob(f"{MARK}_*")), "the payload ran"
    return run


def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    (tmp_path / name).write_text(text)
    return name


needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="check runs the exported module in torch (pip install torch==2.13.0)")

HOSTILE_NAMES = [  # printable, so allowed: they must reach Python only as string literals
    f'a"); {PAYLOAD}; ("',
    f"a'); {PAYLOAD}; ('",
    f"a\\\\\"); {PAYLOAD} #",
    f"{MARK} = 1",
    "__x",
    "__init__",
    "__class__",
    "a²",
    "forward",
    "0",
]


@needs_torch
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_layer_names_stay_data_in_export_and_check(tmp_path, name):
    spec = f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {{out_channels: 4, kernel_size: 3, name: {py_str(name)}}}\n" \
           f"  - ReLU: {{name: {py_str(name + '_r')}}}\n"
    path = write(tmp_path, spec)
    assert audited(tmp_path, "export", path).returncode == 0
    run = audited(tmp_path, "check", path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "all agree" in run.stdout


@needs_torch
@pytest.mark.parametrize("args_of", [
    lambda p: ["check", p],
    lambda p: ["export", p],
    lambda p: ["check", "net.yaml", "--set", f"X\n{PAYLOAD}\nY=1"],
    lambda p: ["export", "net.yaml", "--set", f"X\n{PAYLOAD}\nY=1"],
    lambda p: ["check", "net.yaml", "--set", f"{PAYLOAD}=1"],
], ids=["check-file-name", "export-file-name", "check-set-newline", "export-set-newline", "check-set-code"])
def test_file_names_and_set_names_never_run(tmp_path, args_of):
    path = write(tmp_path, SPEC, f"x\n{PAYLOAD}\n#.yaml")
    write(tmp_path, SPEC)
    run = audited(tmp_path, *args_of(path))
    if "--set" in args_of(path):
        assert run.returncode == 2 and "is not a symbol name" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    else:
        assert run.returncode == 0, run.stderr


@needs_torch
@pytest.mark.parametrize("title", [f"t\n{PAYLOAD}", f't"""; {PAYLOAD}; """', f"t\\\\\n{PAYLOAD}", "t\x00\x1b[31m"])
def test_the_spec_title_stays_a_docstring(tmp_path, title):
    path = write(tmp_path, f"name: {py_str(title)}\n" + SPEC)
    run = audited(tmp_path, "check", path)
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout + run.stderr


@needs_torch
def test_block_argument_names_must_be_names(tmp_path):
    spec = ("input: [1, 3, 8, 8]\nblocks:\n  B:\n    args: {" + py_str(f"c); {PAYLOAD}; (") + ": 4}\n"
            "    layers:\n      - Conv2d: {out_channels: 4, kernel_size: 3}\nlayers:\n  - B\n  - B: {}\n")
    path = write(tmp_path, spec)
    for command in ("export", "check"):
        run = audited(tmp_path, command, path)
        assert run.returncode == 1 and f"{path}:4:" in run.stderr and "is not a name" in run.stderr, run.stderr


@pytest.mark.parametrize("name", ["a\nb", "a\x1b[2Jb", "a\x00b", "a\rb", "a\u2028b", "a\x85b"])
@pytest.mark.parametrize("command", ["shapes", "export", "draw"])
def test_control_characters_in_names_are_located_errors(tmp_path, name, command):
    path = write(tmp_path, f"input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n  - ReLU: {{name: {py_str(name)}}}\n")
    run = subprocess.run([sys.executable, "-m", "netcalc", command, path], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:4:") and "control character" in lines[0], run.stderr
    assert "\x1b" not in run.stderr and "\x00" not in run.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "json"])
def test_escape_sequences_in_a_title_never_reach_the_terminal(tmp_path, fmt):
    path = write(tmp_path, 'name: "net\\e[2J\\e]0;owned\\a"\n' + SPEC)
    run = subprocess.run([sys.executable, "-m", "netcalc", "summary", path, "--format", fmt], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    assert fmt == "csv" or "net" in run.stdout  # CSV has no title row


def test_an_event_attribute_in_a_name_stays_an_attribute_value(tmp_path):
    name = '" onload="alert(1)'
    path = write(tmp_path, "input: [1, 3, 16, 16]\nlayers:\n"
                           f"  - Conv2d: {{out_channels: 4, kernel_size: 3, name: {py_str(name)}}}\n"
                           f"  - MaxPool2d: {{kernel_size: 2, name: {py_str(name + '<script>')}}}\n")
    for extra in ([], ["--rf"]):
        run = subprocess.run([sys.executable, "-m", "netcalc", "draw", path, *extra], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        root = ET.fromstring(run.stdout)  # well-formed XML
        elements = list(root.iter())
        assert not any(k.lower().startswith("on") for el in elements for k in el.attrib)
        assert not any(el.tag.endswith("script") for el in elements)
        assert any(name in (el.attrib.get("data-name", ""), el.attrib.get("data-layer", "")) for el in elements)


# ----------------------------------------------------------------------------- netcalc.escape


@pytest.mark.parametrize("text", ["plain", 'q"uo\'te', "back\\slash", "new\nline", "nul\x00", "esc\x1b[0m",
                                  "sep\u2028\u2029\x85\x0b\x0c", "astral\U0001f600", "\ud800", "tab\t"])
def test_py_str_is_one_literal_with_the_same_value(text):
    import ast

    literal = py_str(text)
    assert "\n" not in literal and "\r" not in literal
    assert ast.literal_eval(literal) == text


@pytest.mark.parametrize("text", ["x\nimport os", "x\rimport os", "x\x0cimport os", "x\u2028y", "x\x00y"])
def test_a_comment_never_ends_its_line(text):
    import io
    import tokenize

    source = f"a = 1  # {py_comment(text)}\n"
    kinds = [t.type for t in tokenize.generate_tokens(io.StringIO(source).readline)]
    assert kinds.count(tokenize.COMMENT) == 1 and kinds.count(tokenize.NAME) == 1
    compile(source, "<test>", "exec")


@pytest.mark.parametrize("text", ['" onload="x', "<script>&", "nul\x00esc\x1b", "\ufffe\uffff", "'single'"])
def test_xml_text_and_attributes_parse_back(text):
    doc = f'<svg a="{xml_attr(text)}"><t>{xml_text(text)}</t></svg>'
    root = ET.fromstring(doc)
    assert list(root.attrib) == ["a"]
    clean = "".join(c for c in text if c.isprintable() and c not in "\ufffe\uffff")
    assert clean in root.attrib["a"].replace("\\x00", "").replace("\\x1b", "").replace("\\ufffe", "").replace(
        "\\uffff", "")


def test_printable_keeps_text_and_lines():
    assert printable("résumé × 2") == "résumé × 2"
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable_lines("a\nb\x1bc\n") == "a\nb\\x1bc\n"


def _limited():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (30, 30))


HOSTILE_TEXT = st.lists(st.sampled_from(list("\"'\\{}[]()<>&;#$`:=,.- _aZ0") + [MARK, PAYLOAD, "\n", "\x1b"]),
                        min_size=1, max_size=12).map("".join)


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=HOSTILE_TEXT, title=HOSTILE_TEXT, file_name=HOSTILE_TEXT, symbol=HOSTILE_TEXT)
def test_fuzzed_names_titles_files_and_set_never_run(tmp_path_factory, name, title, file_name, symbol):
    """Random hostile text as a layer name, the title, the file name and a --set name, through
    export, draw and check, each run audited and under memory and CPU limits (issue 15)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    safe_file = "".join(c for c in file_name if c not in "/\x00") or "x"
    path = write(tmp, f"name: {py_str(title)}\ninput: [1, 3, 8, 8]\nlayers:\n"
                      f"  - Conv2d: {{out_channels: 4, kernel_size: 3, name: {py_str(name)}}}\n  - ReLU\n",
                 safe_file + ".yaml")
    commands = [("export", path), ("draw", path), ("shapes", path, "--set", f"{symbol}=3")]
    if importlib.util.find_spec("torch") is not None:
        commands.append(("check", path))
    for args in commands:
        run = subprocess.run([sys.executable, "-c", HARNESS, MARK, *args], cwd=tmp, capture_output=True, text=True,
                             timeout=120, preexec_fn=_limited)
        assert "AUDIT:" not in run.stderr and run.returncode != 99, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
        assert run.returncode in (0, 1, 2, 3), (args, run.returncode, run.stderr)
        assert "\x1b" not in run.stdout + run.stderr
        assert not list(tmp.glob(f"{MARK}_*")), "the payload ran"
