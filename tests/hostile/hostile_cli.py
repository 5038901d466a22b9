"""Running the command line on hostile inputs, and judging what it did.

`Cli.run` starts a fresh process per case. Starting `python -m healthreach` costs ~2 s of imports
before the first line of the command runs, and most hostile cases end in well under a second after
that, so by default a case runs in a process forked from one warmed-up interpreter per test worker:
its own process, exit code, stdout and stderr, running `healthreach.cli.main` exactly as
`python -m healthreach` does. HEALTHREACH_HOSTILE_SUBPROCESS=1 runs every case as
`[sys.executable, "-m", "healthreach", ...]` instead (the kill and concurrency tests always do).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import healthreach

CHECKOUT = Path(os.environ.get("HEALTHREACH_HOSTILE_CHECKOUT") or Path(healthreach.__file__).resolve().parents[1])
"""The healthreach the command line runs: this one, unless HEALTHREACH_HOSTILE_CHECKOUT names another
checkout (to count what an older version did with the same cases)."""
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHECKOUT), os.environ.get("PYTHONPATH", "")]),
       "COLUMNS": "1000", "PYTHONWARNINGS": "ignore"}
PLAIN = os.environ.get("HEALTHREACH_HOSTILE_SUBPROCESS") == "1"
TIMEOUT_S = 300.0
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
"""A "billion laughs" YAML mapping: nine levels of nine aliases, 387 million strings once expanded."""

_SERVER = textwrap.dedent(r'''
    import json, os, sys, time, traceback
    import healthreach.cli
    import healthreach.commands  # every module a command needs, imported once before forking
    import healthreach.commands.api

    def child(job):
        code = 1
        try:
            os.chdir(job["cwd"])
            for fd, name in ((1, "stdout"), (2, "stderr")):
                os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            sys.argv = ["healthreach", *job["args"]]
            try:
                healthreach.cli.main()
                code = 0
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(job)
        deadline = time.monotonic() + job["timeout"]
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
            time.sleep(0.01)
        sys.stdout.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()
''')


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        """Everything printed, lines joined, runs of spaces collapsed (for matching messages)."""
        return re.sub(r"\s+", " ", self.stdout + "\n" + self.stderr)


class Cli:
    """Runs `healthreach ARGS` in a fresh process per call (see the module docstring)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.calls = 0
        self.server: subprocess.Popen[str] | None = None
        if not PLAIN:
            # Started in a scratch folder: `python -c` puts its working folder first on sys.path.
            self.server = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, text=True, env=ENV, cwd=scratch)

    def run(self, args: list[str], cwd: Path, timeout: float = TIMEOUT_S) -> Result:
        self.calls += 1
        if self.server is None:
            done = subprocess.run([sys.executable, "-m", "healthreach", *args], cwd=cwd, env=ENV,
                                  capture_output=True, text=True, timeout=timeout, check=False)
            return Result(done.returncode, done.stdout, done.stderr)
        out, err = self.scratch / f"{self.calls}.out", self.scratch / f"{self.calls}.err"
        job = {"args": [str(a) for a in args], "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
               "timeout": timeout}
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(job) + "\n")
        self.server.stdin.flush()
        answer = json.loads(self.server.stdout.readline())
        return Result(answer["rc"], out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"))

    def close(self) -> None:
        if self.server is not None:
            self.server.stdin.close()  # type: ignore[union-attr]
            self.server.wait(timeout=30)
            self.server.stdout.close()  # type: ignore[union-attr]


def record(**fields: object) -> None:
    """Append one outcome to HEALTHREACH_HOSTILE_REPORT (a JSON-lines file), when that is set."""
    report = os.environ.get("HEALTHREACH_HOSTILE_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(fields, ensure_ascii=False, default=str) + "\n")


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` by relative path (so an added sidecar counts as a change)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def leftovers(out: Path) -> list[str]:
    """What a run may leave beside or inside its output folder and must not: staging or old folders,
    a lock file, a parts cache, temporary files."""
    beside = [p.name for p in out.parent.glob(f".{out.name}.*")] + [p.name for p in out.parent.glob(f"{out.name}.parts")]
    inside = [str(p.relative_to(out)) for p in out.rglob("*") if ".tmp" in p.name] if out.is_dir() else []
    return sorted(beside + inside)
