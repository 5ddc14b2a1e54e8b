#!/usr/bin/env python3
"""tools/doc_blocks.py — run every command the documentation shows.

    tools/doc_blocks.py [--list] [--only FILE:LINE] FILE.md...

Reads the fenced blocks of each Markdown file.  The info string after the
opening fence says what the test does with a block:

    ```sh                  commands: run with bash -e -o pipefail
    ```sh kafka db         the same, with the private Kafka broker and/or
                           MariaDB up and their env exported (KAFKA_BOOTSTRAP,
                           WARDEN_DB_URL, WARDEN_DB_PORT, ...)
    ```sh timeout=600      a longer limit than the default 300 s
    ```sh norun: REASON    shown, never run (counted and listed; keep rare)
    ```lua file=PATH       (any language) written to PATH before the
                           blocks after it run, so a snippet is tested as
                           pasted
    ```                    output, a synopsis or a picture: not run

An unmarked block that starts with a command (build/, make, tests/, tools/,
kcat, curl, mariadb, export, kill) is an error: commands are marked.

Each file gets a clean copy of the repository (the files git knows, plus
untracked ones not ignored, plus build/) in a temporary directory; its
blocks run there in order, each in a fresh bash, with build/ on PATH (so
`warden` is the built binary).  Files written by one block are seen by the
next; variables are not.  The broker and MariaDB are private to this run
(their state under the run's directory) and stopped at the end.  Every
block that uses one gets it fresh (stopped, its data removed, started
again), so no block sees the topics, groups or tables of another; a block
that starts and stops the broker or MariaDB itself gets the same private
state directory.

A failure prints FILE:LINE of the block, the block and the end of its
output; the exit status is 1 when any block failed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^(```+|~~~+)\s*(.*)$")
COMMANDISH = re.compile(r"^\s*(\$ |build/|make( |$)|tests/|tools/|kcat |curl |mariadb |export |kill )")


class Block:
    def __init__(self, path, line, info, text):
        self.path, self.line, self.info, self.text = path, line, info.strip(), text
        words = self.info.split()
        self.lang = words[0] if words else ""
        self.tags = words[1:]
        self.norun = None
        m = re.search(r"\bnorun:\s*(.*)$", self.info)
        if m:
            self.norun = m.group(1).strip() or "no reason given"
        self.file = None
        self.timeout = 300
        for w in self.tags:
            if w.startswith("file="):
                self.file = w[5:]
            elif w.startswith("timeout="):
                self.timeout = int(w[8:])

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def needs(self, what):
        return what in self.tags


def parse(path):
    blocks = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        blocks.append(Block(os.path.relpath(path, ROOT), i + 1, info, "\n".join(lines[i + 1:j]) + "\n"))
        i = j + 1
    return blocks


def copy_tree(dest):
    """The repository as a clean checkout would have it, plus build/."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    for rel in out.decode().split("\0"):
        if not rel or not os.path.lexists(os.path.join(ROOT, rel)):
            continue
        d = os.path.join(dest, os.path.dirname(rel))
        os.makedirs(d, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel), follow_symlinks=False)
    build = os.environ.get("BUILD", "build")
    if os.path.isdir(os.path.join(ROOT, build)):
        subprocess.run(["cp", "-a", os.path.join(ROOT, build), os.path.join(dest, "build")], check=True)


class Servers:
    """The private broker and MariaDB of this run, started on demand."""

    def __init__(self, base):
        self.env = {"WARDEN_KAFKA_DIR": os.path.join(base, "kafka"),
                    "WARDEN_DB_DIR": os.path.join(base, "mariadb")}
        self.used = set()

    def _script(self, name):
        return os.path.join(ROOT, "tests", "kafka" if name == "kafka" else "db",
                            "broker.sh" if name == "kafka" else "mariadb.sh")

    def up(self, name):
        env = dict(os.environ, **self.env)
        r = subprocess.run([self._script(name), "start"], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"could not start {name}: {r.stdout}{r.stderr}")
        self.used.add(name)
        out = subprocess.run([self._script(name), "env"], env=env, capture_output=True, text=True, check=True).stdout
        for m in re.finditer(r"^export (\w+)=(.*)$", out, re.M):
            self.env[m.group(1)] = m.group(2).strip("'\"")

    def stop(self, name):
        env = dict(os.environ, **self.env)
        subprocess.run([self._script(name), "stop"], env=env, capture_output=True)

    def down(self):
        for name in self.used:
            self.stop(name)


def run_file(path, blocks, servers, only, results):
    work = tempfile.mkdtemp(prefix="warden-docs.", dir=os.environ.get("TMPDIR"))
    try:
        copy_tree(work)
        tmp = os.path.join(work, ".tmp")
        os.makedirs(tmp)
        for b in blocks:
            if b.file:
                dest = os.path.join(work, b.file)
                os.makedirs(os.path.dirname(dest) or work, exist_ok=True)
                with open(dest, "w", encoding="utf-8") as f:
                    f.write(b.text)
                results["written"] += 1
                continue
            if b.lang not in ("sh", "console"):
                continue
            if only and b.where != only:
                continue
            if b.norun:
                results["norun"].append(f"{b.where}: {b.norun}")
                continue
            env = dict(os.environ)
            env.update({"PATH": os.path.join(work, "build") + os.pathsep + env["PATH"],
                        "WARDEN": os.path.join(work, "build", "warden"), "TMPDIR": tmp,
                        "WARDEN_KAFKA_DIR": servers.env["WARDEN_KAFKA_DIR"],
                        "WARDEN_DB_DIR": servers.env["WARDEN_DB_DIR"]})
            env.pop("KAFKA_BOOTSTRAP", None)
            env.pop("WARDEN_DB_URL", None)
            try:
                for name in ("kafka", "db"):
                    # Every block that uses a server gets a fresh one: topics,
                    # groups and tables of earlier blocks never leak into it.
                    script = "tests/kafka/broker.sh start" if name == "kafka" else "tests/db/mariadb.sh start"
                    if b.needs(name) or script in b.text:
                        servers.stop(name)
                    if b.needs(name):
                        servers.up(name)
            except RuntimeError as e:
                results["failed"].append(f"{b.where}: {e}")
                print(f"FAIL {b.where}: {e}")
                continue
            for name in ("kafka", "db"):
                if b.needs(name):
                    env.update({k: v for k, v in servers.env.items()})
            try:
                r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.text], cwd=work, env=env,
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=b.timeout)
                rc, out = r.returncode, r.stdout + r.stderr
            except subprocess.TimeoutExpired as e:
                rc, out = "timeout", ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""))
            if rc == 0:
                results["ran"] += 1
                print(f"ok   {b.where}")
            else:
                results["failed"].append(b.where)
                tail = "\n".join(out.rstrip().split("\n")[-40:])
                print(f"FAIL {b.where}: exit {rc}\n--- block\n{b.text}--- output (end)\n{tail}\n---")
    finally:
        if os.environ.get("DOCS_KEEP") == "1":
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv):
    list_only = "--list" in argv
    argv = [a for a in argv if a != "--list"]
    only = None
    if "--only" in argv:
        k = argv.index("--only")
        only = argv[k + 1]
        del argv[k:k + 2]
    files = [os.path.abspath(a) for a in argv]
    if not files:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    parsed = {f: parse(f) for f in files}
    bad = []
    for f, blocks in parsed.items():
        for b in blocks:
            if b.lang == "" and COMMANDISH.match(b.text):
                bad.append(f"{b.where}: a command in an unmarked block (mark it ```sh, or ```sh norun: REASON)")
            if list_only and (b.lang in ("sh", "console") or b.file):
                what = f"writes {b.file}" if b.file else (f"norun: {b.norun}" if b.norun else "runs " + " ".join(b.tags))
                print(f"{b.where}: {what}")
    for m in bad:
        print("FAIL " + m)
    if list_only:
        return 1 if bad else 0
    results = {"ran": 0, "written": 0, "norun": [], "failed": []}
    base = tempfile.mkdtemp(prefix="warden-docs-servers.", dir=os.environ.get("TMPDIR"))
    servers = Servers(base)
    try:
        for f, blocks in parsed.items():
            run_file(f, blocks, servers, only, results)
    finally:
        servers.down()
        shutil.rmtree(base, ignore_errors=True)
    for n in results["norun"]:
        print("not run: " + n)
    for n in results["failed"]:
        print("failed: " + n)
    print(f"docs: {results['ran']} blocks ran, {len(results['failed']) + len(bad)} failed, "
          f"{len(results['norun'])} not run, {results['written']} files written")
    return 1 if results["failed"] or bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
