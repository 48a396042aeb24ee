"""The sandbox's stdio as native: descriptors 0-2 closed when qvisor starts stay closed for the
guest (EBADF; qvisor's own files do not take those numbers), and a directory as stdin reads
EISDIR (CPython cannot start with one as fd 0: the `qvisor` command is a shell shim that hands it
over, qvisor/scripts/qvisor). Each case runs natively and in the sandbox; the reports must agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from run_helpers import PLATFORMS, ROOT, build_c

REPORT = r'''
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int out = argv[1][0] - '0';
    char line[256], c;
    int n = 0;
    struct stat st;
    errno = 0;
    long r = read(0, &c, 1);
    n += snprintf(line + n, sizeof line - n, "read0=%ld/%d", r, r < 0 ? errno : 0);
    for (int fd = 0; fd < 3; fd++) {
        if (fd == out) continue;
        int f = fstat(fd, &st) < 0 ? errno : 0;
        int w = 0;
        if (f == EBADF && fd > 0) w = write(fd, "x", 1) < 0 ? errno : 0;
        n += snprintf(line + n, sizeof line - n, " fd%d:fstat=%d,dir=%d,write=%d", fd, f,
                      f == 0 && S_ISDIR(st.st_mode), w);
    }
    line[n++] = '\n';
    return write(out, line, n) == n ? 0 : 9;
}
'''


def _qvisor_command() -> Path:
    cmd = Path(sys.executable).parent / "qvisor"
    if not cmd.exists():
        pytest.skip(f"{cmd} is not installed (make setup installs it)")
    return cmd


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return build_c(tmp_path_factory.mktemp("stdio-programs"), "report", REPORT)


def _run(argv: list[str], closed: tuple[int, ...], stdin, out: int) -> tuple[int, str]:
    def close_them():
        for fd in closed:
            os.close(fd)
    p = subprocess.run(argv + [str(out)], stdin=stdin, capture_output=True, preexec_fn=close_them,
                       timeout=300, cwd=ROOT)
    return p.returncode, (p.stdout if out == 1 else p.stderr).decode()


CASES = [  # (closed fds, stdin is a directory, report on fd)
    pytest.param((), True, 1, id="stdin-a-directory"),
    pytest.param((0,), False, 1, id="stdin-closed"),
    pytest.param((1,), False, 2, id="stdout-closed"),
    pytest.param((2,), False, 1, id="stderr-closed"),
    pytest.param((0, 1), False, 2, id="stdin-and-stdout-closed"),
]


@pytest.mark.parametrize("closed, dir_stdin, out", CASES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_stdio_as_native(kernel, report, tmp_path, platform, closed, dir_stdin, out):
    qvisor = _qvisor_command()
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY) if dir_stdin else None
    try:
        stdin = fd if fd is not None else subprocess.DEVNULL
        native = _run([str(report)], closed, stdin, out)
        sandbox = _run([str(qvisor), "run", "--platform", platform, "--kernel", str(kernel), "--clear-env",
                        "--", str(report)], closed, stdin, out)
    finally:
        if fd is not None:
            os.close(fd)
    assert native[0] == 0 and "fd" in native[1]
    assert sandbox == native
