"""Debian's own dynamically linked programs in the sandbox, differential against native: each
case is one `bash -c` script run on the host and under `qvisor run` (stdout and status must
agree). The programs come from Debian packages `make userland` installs (coreutils, bash,
python3, perl, git, sqlite3, xz-utils, make, gcc); a case whose program is missing is skipped
with its name. Each script works in its own directory, $W, made fresh under /tmp (a different
one natively and in the sandbox, never printed).

On this host's KVM platform every case runs; on emu (an instruction emulator, ~10x slower) the
first three."""

from __future__ import annotations

import os
import shutil
import uuid

import harness
import pytest
from test_sandbox import PLATFORMS, sandbox_kernel  # noqa: F401 - the fixture

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp", "TZ": "UTC"}

# (id, programs it needs, script)
CASES = [
    ("ls-la", ["ls"], "ls -la /usr/bin | head -5; ls -l /bin/sh /usr/lib/x86_64-linux-gnu/libc.so.6 | wc -l"),
    ("bash-script", ["bash"],
     'a=(x y z); echo ${#a[@]} ${a[1]}; f() { return 3; }; f; echo $?; '
     'trap "echo bye" EXIT; for i in 1 2 3; do echo $i; done | sort -r | tr "\\n" " "; echo; '
     'echo $(( 6 * 7 )) "$(echo sub)"'),
    ("bash-procsub", ["bash", "diff", "cat"],
     'diff <(printf "a\\nb\\n") <(printf "a\\nc\\n"); echo "diff: $?"; '
     'while read l; do echo "got $l"; done < <(printf "1\\n2\\n"); echo piped | cat /dev/stdin; '
     'echo to-stderr > /dev/stderr 2>&1; exec 3< <(echo fd3); cat /dev/fd/3'),
    ("python3-imports", ["python3"],
     "python3 -c 'import json, subprocess, sqlite3, threading, tempfile, os; "
     "print(json.dumps({\"a\": [1, 2]})); "
     "print(subprocess.run([\"echo\", \"child\"], capture_output=True, text=True).stdout.strip()); "
     "c = sqlite3.connect(\":memory:\"); print(c.execute(\"select 40 + 2\").fetchone()[0]); "
     "t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join(); "
     "print(os.path.isdir(tempfile.mkdtemp()))'"),
    ("python3-pool", ["python3"],
     "python3 -c 'import multiprocessing as m; m.set_start_method(\"fork\"); p = m.Pool(2); "
     "print(p.map(abs, [-1, -2, -3])); print(p.apply(pow, (2, 10))); p.close(); p.join()'"),
    ("coreutils", ["sort", "sha256sum", "stat", "id", "date", "cp", "find"],
     'mkdir -p "$W" && cd "$W" && printf "b\\na\\nc\\n" > f && sort f | tr "\\n" " " && echo && '
     'sha256sum f | cut -c1-16 && stat -c "%s %F" f && cp -a f g && cmp f g && echo copied && '
     'id -u && date -d @0 +%Y && find /usr/share/doc -maxdepth 1 -name "coreutils*" | wc -l'),
    ("perl", ["perl"], "perl -e 'my %h = (a => 1, b => 2); print join(\",\", sort keys %h), \" \", 6 * 7, \"\\n\"'"),
    ("sqlite3", ["sqlite3"],
     "sqlite3 :memory: 'create table t(x); insert into t values (1), (2), (3); select sum(x) from t;'"),
    ("tar-xz", ["tar", "xz"],
     'mkdir -p "$W" && cd "$W" && mkdir d && echo data > d/f && tar cJf a.tar.xz d && rm -r d && '
     'xz -dc a.tar.xz | tar t && tar xJf a.tar.xz && cat d/f'),
    ("git", ["git"],
     'mkdir -p "$W" && cd "$W" && git init -q r && cd r && echo hi > f && git add f && '
     'git -c user.name=a -c user.email=a@b commit -qm first && git log --format=%s && '
     'git status --short | wc -l'),
    ("make-gcc", ["make", "gcc"],
     'mkdir -p "$W" && cd "$W" && printf "int main(void){return 4;}\\n" > a.c && '
     'printf "a: a.c\\n\\tgcc -o a a.c\\n" > Makefile && make -s && ./a; echo $?'),
]
EMU_CASES = {"ls-la", "bash-script", "python3-imports"}
# (platform, case) -> why it is expected to fail (an xfail); none today.
KNOWN: dict[tuple[str, str], str] = {}


def _params():
    out = []
    for platform in PLATFORMS:
        for name, progs, script in CASES:
            if platform == "emu" and name not in EMU_CASES:
                continue
            why = KNOWN.get((platform, name))
            marks = [pytest.mark.xfail(reason=why, strict=False)] if why else []
            out.append(pytest.param(progs, script, platform, id=f"{platform}-{name}", marks=marks))
    return out


@pytest.mark.parametrize("progs, script, platform", _params())
def test_debian_program_matches_native(userland_build, sandbox_kernel, progs, script, platform):  # noqa: F811
    missing = [p for p in progs if shutil.which(p, path=ENV["PATH"]) is None]
    if missing:
        pytest.skip(f"not installed here: {', '.join(missing)}")
    tag = uuid.uuid4().hex[:12]
    native_dir = f"/tmp/pyquark-debian-{tag}-native"
    try:
        native = harness.run_native("/bin/bash", ["-c", script], {**ENV, "W": native_dir}, timeout=120)
    finally:
        shutil.rmtree(native_dir, ignore_errors=True)
    assert native.status == 0 and native.stdout, f"natively: {native}"
    got = harness.run_sandbox("/bin/bash", ["-c", script], {**ENV, "W": f"/tmp/pyquark-debian-{tag}-sandbox"},
                              platform=platform, timeout=600, kernel=sandbox_kernel)
    assert not os.path.exists(f"/tmp/pyquark-debian-{tag}-sandbox"), "the sandbox wrote to the host's /tmp"
    problems = harness.compare(native, got)
    assert not problems, "\n".join(problems) + f"\nsandbox stderr:\n{got.stderr[-2000:]}"
