#!/usr/bin/python3
"""Golden-output tests of the ckptdb command-line tool.

Each file in tests/cli/golden/ is a transcript:

    # comment lines (the first lines only)
    # mask: REGEX        replace what group 1 (or the whole match) matched
    #                    with <*> in the actual output (times, disk sizes)
    $ ckptdb ls db
    ...expected stdout...
    stderr: ...expected stderr, line by line...
    exit: 4              (only when the exit code is not 0)
    $ ckptdb ...

The commands of one transcript run in order, in a fresh directory holding
copies of the fixture databases `db` and `db2` (made by
`cli_test_helper make-db` / `make-db2`, see cli_test_helper.cc), so the
output holds no absolute paths. `ckptdb` and `helper` name the tool and the
test helper; arguments are split as a shell would (no pipes).

  run_golden.py --make-fixture           build the fixture databases
  run_golden.py FILE...                  run transcripts
  run_golden.py --update FILE...         rewrite them with the actual output

Environment: CKPTDB (the tool), CKPTDB_HELPER (the helper),
CKPTDB_CLI_WORK (a work directory; the fixture lives in its `fixture/`).
"""

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


def tool_env():
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env["LC_ALL"] = "C"
    return env


def fixture_dir():
    return os.path.join(os.environ["CKPTDB_CLI_WORK"], "fixture")


def make_fixture():
    fixture = fixture_dir()
    shutil.rmtree(fixture, ignore_errors=True)
    os.makedirs(fixture)
    helper = os.environ["CKPTDB_HELPER"]
    for cmd, name in (("make-db", "db"), ("make-db2", "db2")):
        subprocess.run([helper, cmd, os.path.join(fixture, name)], check=True)
    print("fixture databases in", fixture)


def parse(path):
    header, masks, blocks = [], [], []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        header.append(lines[i])
        m = re.match(r"#\s*mask:\s?(.*)$", lines[i])
        if m:
            masks.append(re.compile(m.group(1)))
        i += 1
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"{path}:{i + 1}: expected a '$ ' command line")
        cmd = lines[i][2:]
        i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        blocks.append((cmd, "".join(line + "\n" for line in out)))
    return header, masks, blocks


def apply_masks(masks, text):
    for rx in masks:
        def repl(m):
            if rx.groups:
                s = m.string
                return s[m.start():m.start(1)] + "<*>" + s[m.end(1):m.end()]
            return "<*>"
        text = rx.sub(repl, text)
    return text


def run_command(cmd, cwd):
    argv = shlex.split(cmd)
    programs = {"ckptdb": os.environ["CKPTDB"],
                "helper": os.environ["CKPTDB_HELPER"]}
    if argv[0] not in programs:
        raise ValueError(f"unknown program in '{cmd}'")
    argv[0] = programs[argv[0]]
    p = subprocess.run(argv, cwd=cwd, env=tool_env(), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    text = p.stdout.decode("utf-8", "backslashreplace")
    if text and not text.endswith("\n"):
        text += "\n[no newline at end of stdout]\n"
    for line in p.stderr.decode("utf-8", "backslashreplace").splitlines():
        text += "stderr: " + line + "\n"
    if p.returncode != 0:
        text += f"exit: {p.returncode}\n"
    return text


def run_transcript(path, update):
    header, masks, blocks = parse(path)
    with tempfile.TemporaryDirectory(prefix="ckptdb-golden-") as work:
        for name in ("db", "db2"):
            shutil.copytree(os.path.join(fixture_dir(), name),
                            os.path.join(work, name))
        actual = []
        for cmd, _ in blocks:
            actual.append((cmd, apply_masks(masks, run_command(cmd, work))))
    if update:
        with open(path, "w", encoding="utf-8") as f:
            for line in header:
                f.write(line + "\n")
            for cmd, out in actual:
                f.write("$ " + cmd + "\n" + out)
        print("updated", path)
        return True
    ok = True
    for (cmd, want), (_, got) in zip(blocks, actual):
        if want != got:
            ok = False
            sys.stdout.write(f"--- {os.path.basename(path)}: $ {cmd}\n")
            sys.stdout.writelines(difflib.unified_diff(
                want.splitlines(True), got.splitlines(True),
                "expected", "actual"))
    print(("ok   " if ok else "FAIL ") + path)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-fixture", action="store_true")
    ap.add_argument("--update", action="store_true",
                    default=os.environ.get("CKPTDB_UPDATE_GOLDEN") == "1")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    if args.make_fixture:
        make_fixture()
    ok = True
    for f in args.files:
        ok &= run_transcript(f, args.update)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
