#!/usr/bin/env python3
"""tools/doc_blocks.py — run every command the documentation shows.

    tools/doc_blocks.py [--list] [--only FILE:LINE] FILE.md...

Reads the fenced blocks of each Markdown file.  The info string after the
opening fence says what the test does with a block:

    ```sh                  commands: run with bash -e -o pipefail
    ```sh kafka db         the same, with the page's private Kafka broker
                           and/or MariaDB up and their env exported
                           (KAFKA_BOOTSTRAP, WARDEN_DB_URL, WARDEN_DB_PORT, ...)
    ```sh kafka db setup=NAME
                           the same, after the hidden setup step NAME of
                           tests/docs/setup.sh (run once per page, before the
                           first block naming it): a config `warden.lua`, the
                           sample on a topic, a migrated store, a `warden
                           run` in the background with the admin API ...; the
                           variables it exports (WARDEN_ADMIN_URL, ...) are
                           set for the blocks that name a setup
    ```sh timeout=600      a longer limit than the default 300 s
    ```sh norun: REASON    shown, never run (counted and listed; keep rare)
    ```lua file=PATH       (any language) written to PATH before the
                           blocks after it run, so a snippet is tested as
                           pasted
    ```synopsis            a command's forms (placeholders in capitals,
                           [optional] parts): every `warden CMD` line is
                           checked against `warden CMD --help` — the command
                           exists and lists every --option the synopsis shows
    ```                    output, a picture, a format: not run

An unmarked block with a command in it (a line `warden CMD ...`, or one
starting with build/, make, tests/, tools/, kcat, curl, mariadb, export,
kill, printf) is an error: commands are marked.

Each file is a session: it gets a clean copy of the repository (the files
git knows, plus untracked ones not ignored, plus build/) in a temporary
directory, and its blocks run there in order, each in a fresh bash, with
build/ on PATH (so `warden` is the built binary).  Files written by one
block are seen by the next; variables are not.  The blocks of a file share
one private broker and one MariaDB (their state under the run's directory),
started in the background when the file begins (both at once, while its
first blocks run) and stopped when it ends, so blocks of one page use
topic and group names of their own.  Files run DOCS_JOBS (default 3) at
a time, each with its own servers; a file's results are printed when it
ends.  A block that starts or stops the
broker or MariaDB itself with the project's scripts gets the same private
state directory (starting one already up reuses it; after a block stopped
it, the next block that needs it starts it again).  Background processes
a setup started are stopped (by pid) when the file ends.

A failure prints FILE:LINE of the block, the block and the end of its
output; the exit status is 1 when any block failed.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^(```+|~~~+)\s*(.*)$")
COMMANDISH = re.compile(r"^\s*(\$ |build/|make( |$)|tests/|tools/|kcat |curl |mariadb |export |kill |printf )")
WARDEN_LINE = re.compile(r"^\s*(?:build/)?warden [a-z]+(\s+[^\s(]|\s*$)")
SETUP = os.path.join(ROOT, "tests", "docs", "setup.sh")


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
        self.setup = None
        self.timeout = 300
        for w in self.tags:
            if w.startswith("file="):
                self.file = w[5:]
            elif w.startswith("timeout="):
                self.timeout = int(w[8:])
            elif w.startswith("setup="):
                self.setup = w[6:]

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


def unmarked_command(b):
    """An unmarked block that shows a command: the reason, or None."""
    if b.lang != "":
        return None
    if COMMANDISH.match(b.text):
        return "starts with a command"
    for n, line in enumerate(b.text.split("\n")):
        if WARDEN_LINE.match(line):
            return f"line {n + 1} is a warden command"
    return None


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


SCRIPTS = {"kafka": ("tests/kafka/broker.sh", "WARDEN_KAFKA_DIR"),
           "db": ("tests/db/mariadb.sh", "WARDEN_DB_DIR")}


class Servers:
    """One page's private broker and MariaDB: started in the background
    ahead of the first block that needs them, kept for the page."""

    def __init__(self, base):
        self.dirs = {name: os.path.join(base, name) for name in SCRIPTS}
        self.env = {SCRIPTS[name][1]: d for name, d in self.dirs.items()}
        self.starting = {}      # name -> Popen of `start`
        self.up_ = set()

    def _run_env(self):
        return dict(os.environ, **self.env)

    def _script(self, name):
        return os.path.join(ROOT, SCRIPTS[name][0])

    def start(self, name):
        """Begins starting name in the background (no-op when up or starting)."""
        if name in self.up_ or name in self.starting:
            return
        self.starting[name] = subprocess.Popen([self._script(name), "start"], env=self._run_env(),
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def up(self, name):
        """Waits until name is up; its env is in self.env."""
        if name in self.up_:
            return
        self.start(name)
        p = self.starting.pop(name)
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"could not start {name}: {out}")
        self._read_env(name)
        self.up_.add(name)

    def _read_env(self, name):
        out = subprocess.run([self._script(name), "env"], env=self._run_env(), capture_output=True,
                             text=True, check=True).stdout
        for m in re.finditer(r"^export (\w+)=(.*)$", out, re.M):
            self.env[m.group(1)] = m.group(2).strip("'\"")

    def recheck(self, name):
        """After a block that ran name's script itself: is it up or down now?"""
        st = subprocess.run([self._script(name), "status"], env=self._run_env(), capture_output=True)
        if st.returncode == 0:
            self._read_env(name)
            self.up_.add(name)
        else:
            self.up_.discard(name)

    def stop_all(self):
        """Stops what is up or starting, in the background: the Popens to wait for."""
        procs = []
        for name, p in list(self.starting.items()):
            p.communicate()
            self.up_.add(name)
        self.starting.clear()
        for name in list(self.up_):
            procs.append(subprocess.Popen([self._script(name), "stop"], env=self._run_env(),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.up_.clear()
        return procs


def kill_pids(pidfile):
    """SIGTERM the background processes a setup recorded (by pid), then KILL."""
    try:
        pids = [int(x) for x in open(pidfile).read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 20
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def check_synopsis(b, work):
    """Every `warden CMD` line of a synopsis: CMD exists, its --help lists the options shown."""
    problems = []
    cmds = []
    for line in b.text.split("\n"):
        m = re.match(r"^\s*(warden|gen_events)(?:\s+([a-z]+))?(.*)$", line)
        if m:
            prog = m.group(1)
            sub = m.group(2) if prog == "warden" else None
            cmds.append([prog, sub, m.group(3)])
        elif cmds and line.strip():
            cmds[-1][2] += " " + line       # a continuation line
    if not cmds:
        return ["no `warden CMD` line in a synopsis block"]
    for prog, sub, rest in cmds:
        exe = os.path.join(work, "build", "warden") if prog == "warden" else \
            os.path.join(work, "build", "examples", "gen_events")
        argv = [exe] + ([sub] if sub else []) + ["--help"]
        r = subprocess.run(argv, capture_output=True, text=True)
        helptext = r.stdout + r.stderr
        if r.returncode != 0:
            problems.append(f"`{' '.join(argv[1:])}` exits {r.returncode}")
            continue
        rest = re.sub(r"#.*$", "", rest, flags=re.M)
        for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", rest))):
            if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", helptext):
                problems.append(f"{prog} {sub or ''}: {opt} is not in its --help")
    return problems


def page_servers(blocks, only):
    """The servers a page's blocks use (by tag, or by starting them themselves)."""
    runnable = [b for b in blocks if b.lang in ("sh", "console") and not b.norun
                and not (only and b.where != only)]
    return [name for name in ("kafka", "db")
            if any(b.needs(name) or SCRIPTS[name][0] + " start" in b.text for b in runnable)]


def run_file(path, blocks, servers, only, results, out):
    print = out.append
    work = tempfile.mkdtemp(prefix="warden-docs.", dir=os.environ.get("TMPDIR"))
    state = os.path.join(work, ".docs")
    os.makedirs(state)
    pidfile, envfile = os.path.join(state, "pids"), os.path.join(state, "env")
    setups_done = set()
    try:
        copy_tree(work)
        tmp = os.path.join(work, ".tmp")
        os.makedirs(tmp)
        for name in page_servers(blocks, only):
            servers.start(name)             # in the background, while the first blocks run
        for b in blocks:
            if b.file:
                dest = os.path.join(work, b.file)
                os.makedirs(os.path.dirname(dest) or work, exist_ok=True)
                with open(dest, "w", encoding="utf-8") as f:
                    f.write(b.text)
                results["written"] += 1
                continue
            if only and b.where != only:
                continue
            if b.lang == "synopsis":
                problems = check_synopsis(b, work)
                if problems:
                    results["failed"].append(b.where)
                    print(f"FAIL {b.where}: synopsis\n  " + "\n  ".join(problems))
                else:
                    results["synopses"] += 1
                    print(f"ok   {b.where} (synopsis)")
                continue
            if b.lang not in ("sh", "console"):
                continue
            if b.norun:
                results["norun"].append(f"{b.where}: {b.norun}")
                continue
            t0 = time.monotonic()
            env = dict(os.environ)
            env.update({"PATH": os.path.join(work, "build") + os.pathsep + env["PATH"],
                        "WARDEN": os.path.join(work, "build", "warden"), "TMPDIR": tmp,
                        "WARDEN_KAFKA_DIR": servers.env["WARDEN_KAFKA_DIR"],
                        "WARDEN_DB_DIR": servers.env["WARDEN_DB_DIR"]})
            for k in ("KAFKA_BOOTSTRAP", "WARDEN_DB_URL", "WARDEN_DB_PORT", "WARDEN_DB_SOCKET",
                      "WARDEN_ADMIN_URL", "WARDEN_ADMIN_TOKEN"):
                env.pop(k, None)
            try:
                for name in ("kafka", "db"):
                    # A block that starts the server itself reuses the one
                    # starting in the background: wait for it first.
                    if b.needs(name) or (SCRIPTS[name][0] in b.text and name in servers.starting):
                        servers.up(name)
                    if b.needs(name):
                        env.update(servers.env)
                if b.setup:
                    env.update({"DOCS_STATE": state, "DOCS_PIDS": pidfile, "DOCS_ENV": envfile})
                    if b.setup not in setups_done:
                        r = subprocess.run(["bash", SETUP, b.setup], cwd=work, env=env,
                                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                           timeout=b.timeout)
                        if r.returncode != 0:
                            tail = "\n".join((r.stdout + r.stderr).rstrip().split("\n")[-30:])
                            raise RuntimeError(f"setup {b.setup} failed (exit {r.returncode}):\n{tail}")
                        setups_done.add(b.setup)
                    if os.path.exists(envfile):
                        for line in open(envfile, encoding="utf-8"):
                            k, _, v = line.rstrip("\n").partition("=")
                            if k:
                                env[k] = v
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                results["failed"].append(b.where)
                print(f"FAIL {b.where}: {e}")
                continue
            try:
                r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", b.text], cwd=work, env=env,
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=b.timeout)
                rc, out = r.returncode, r.stdout + r.stderr
            except subprocess.TimeoutExpired as e:
                rc, out = "timeout", ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""))
            for name in ("kafka", "db"):
                if SCRIPTS[name][0] in b.text:
                    servers.recheck(name)
            if rc == 0:
                results["ran"] += 1
                print(f"ok   {b.where} ({time.monotonic() - t0:.1f} s)")
            else:
                results["failed"].append(b.where)
                tail = "\n".join(out.rstrip().split("\n")[-40:])
                print(f"FAIL {b.where}: exit {rc}\n--- block\n{b.text}--- output (end)\n{tail}\n---")
    finally:
        kill_pids(pidfile)
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
            why = unmarked_command(b)
            if why:
                bad.append(f"{b.where}: a command in an unmarked block ({why}): mark it ```sh, "
                           "```synopsis, or ```sh norun: REASON")
            if list_only and (b.lang in ("sh", "console", "synopsis") or b.file):
                what = f"writes {b.file}" if b.file else (f"norun: {b.norun}" if b.norun else
                                                          "checks a synopsis" if b.lang == "synopsis" else
                                                          "runs " + " ".join(b.tags))
                print(f"{b.where}: {what}")
    for m in bad:
        print("FAIL " + m)
    if list_only:
        return 1 if bad else 0
    results = {"ran": 0, "written": 0, "synopses": 0, "norun": [], "failed": []}
    base = tempfile.mkdtemp(prefix="warden-docs-servers.", dir=os.environ.get("TMPDIR"))
    # Pages run JOBS at a time (DOCS_JOBS, default 3), each with its own
    # servers and copy of the tree; the pages with the most server blocks
    # first.  A page's lines are printed when it ends.
    pages = sorted(parsed.items(), key=lambda fb: -sum(1 for b in fb[1] if b.needs("kafka") or b.needs("db")
                                                       or b.setup or any(SCRIPTS[k][0] in b.text for k in SCRIPTS)))
    lock = threading.Lock()
    queue = list(enumerate(pages))

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                n, (f, blocks) = queue.pop(0)
            servers = Servers(os.path.join(base, str(n)))
            out, mine = [], {"ran": 0, "written": 0, "synopses": 0, "norun": [], "failed": []}
            try:
                run_file(f, blocks, servers, only, mine, out)
            except Exception as e:      # a bug here must not hide the other pages' results
                mine["failed"].append(f"{os.path.relpath(f, ROOT)}: {e!r}")
                out.append(f"FAIL {os.path.relpath(f, ROOT)}: {e!r}")
            finally:
                for p in servers.stop_all():
                    p.wait()
            with lock:
                for k in ("ran", "written", "synopses"):
                    results[k] += mine[k]
                results["norun"] += mine["norun"]
                results["failed"] += mine["failed"]
                if out:
                    print("\n".join(out), flush=True)

    try:
        jobs = max(1, int(os.environ.get("DOCS_JOBS", "3")))
        threads = [threading.Thread(target=worker) for _ in range(min(jobs, len(pages)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for n in results["norun"]:
        print("not run: " + n)
    for n in results["failed"]:
        print("failed: " + n)
    print(f"docs: {results['ran']} blocks ran, {len(results['failed']) + len(bad)} failed, "
          f"{len(results['norun'])} not run, {results['synopses']} synopses checked, "
          f"{results['written']} files written")
    return 1 if results["failed"] or bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
