"""Time `regwatch poll` and rss2email 3.14 on the same local farm of feeds: cold and warm.

    .venv/bin/python benchmarks/poll.py                       # 300 feeds x 50 items, both tools
    .venv/bin/python benchmarks/poll.py --skip-rss2email --feeds 3000 --items 10
    .venv/bin/python benchmarks/poll.py --skip-rss2email --entities 10000

The farm (benchmarks/farm.py) runs in its own process: N RSS feeds of M items, each item
~2.5 KB of HTML in its description, spread over --hosts loopback addresses
(feed n at http://127.0.0.{1 + n % hosts}:PORT/f{n}.xml, so per-host connection limits
bite as in a real deployment), --latency-ms added by the server before every answer
(without blocking other requests), HTTP/1.1 keep-alive, an ETag on every feed and 304 on
If-None-Match; plus an SMTP sink on loopback that counts what it receives.

Runs, each a fresh command measured from outside, start-up and imports included:

- regwatch cold: `python -m watcher --config CFG --log-level error poll`, run from the root
  of the checkout this script is in (so that checkout's watcher/ is measured), on a new database
  (every item new), with 300 [[sources]], the entities Microsoft, OpenAI, Mistral AI (and
  --entities K - 3 synthetic ones, whose aliases never occur in full in the text),
  `concurrency = 50`, `timeout = "60s"`, no channels (nothing to send).
- regwatch warm: the same command again: one conditional GET per feed, all 304.
- rss2email cold: `r2e run` on a freshly created feed database. rss2email 3.14 sends every
  entry of a feed on its first run unless the feed was added with `r2e add --only-new` or
  the run is `r2e run --no-send` (rss2email/command.py, feed.py), so the cold run converts
  and mails all N x M items; the sink's count is printed and checked. Delivery is
  rss2email's documented `email-protocol = smtp` to the farm's sink (`smtp-server =
  127.0.0.1:PORT`): a real SMTP conversation per message, as it does in production (one
  connection per message, rss2email's own behaviour). Its `verbose` is set to `error`,
  as regwatch runs with --log-level error. Feeds are added in one `r2e opmlimport`
  (its documented bulk add) after `r2e new`; only the setup is done that way, untimed.
- rss2email warm: `r2e run` again: every feed answers 304.
- regwatch extra phases (unless --skip-extra): the farm drops its ETags (same bodies, the
  "identical body, no parse" path), then serves one new item per feed.

rss2email 3.14 is installed with pip into a throwaway venv under benchmarks/out/ (git-
ignored), kept between runs. Its dependencies (feedparser, html2text) come at the newest
versions pip finds; the versions are printed.

Also: what keeping the cold poll's hits' evidence costs in the database, in bytes per hit
(the evidence tables' pages, counted with SQLite's dbstat).

Figures per run:
- wall: monotonic clock around start and reaping of the command.
- cpu: user + system of the whole process tree, from os.wait4() on the command (on Linux
  its rusage covers the process and every descendant waited for at each level); the tree
  is also sampled from /proc every 20 ms, and if the sampled per-process CPU sum is the
  larger (descendants nobody waited for) that figure is used and marked with `*`. A
  descendant that detaches itself (double fork) leaves the tree and is not counted.
- tree RSS: the largest sum of the RSS of every process in the tree, sampled every 20 ms
  from /proc; max RSS: the largest single process's ru_maxrss (from wait4).
- farm: what the farm served during the run (requests, 200s, 304s, TCP connections, MB),
  the mails the sink received, and the farm's own CPU (not part of the tool's figures).

The machine's other load shows in the figures: run it more than once and compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from farm import item_html  # benchmarks/farm.py: this script's folder is on sys.path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
R2E_VERSION = "3.14"
ENTITIES = ("Microsoft", "OpenAI", "Mistral AI")
SYNTHETIC_WORDS = ("Digital", "Cloud", "Market", "Data", "Software", "Access", "Model", "Fine")
SUMMARY = re.compile(
    r"(\d+) sources polled, (\d+) failed, (\d+) new items, (\d+) hits; alerts: (\d+) sent"
)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


# --- The farm process -------------------------------------------------------------------


class FarmProcess:
    """benchmarks/farm.py as a child process, driven through its stdin/stdout."""

    def __init__(self, feeds: int, items: int, hosts: int, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "farm.py"), f"--feeds={feeds}", f"--items={items}"]
            + [f"--hosts={hosts}", f"--latency-ms={latency_ms}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.proc.stdin and self.proc.stdout
        self.stdin: IO[str] = self.proc.stdin
        self.stdout: IO[str] = self.proc.stdout
        ready = self.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise SystemExit(f"the farm did not start: {ready}")
        self.port, self.smtp_port = int(ready[1]), int(ready[2])
        self.hosts = hosts

    def url(self, n: int) -> str:
        return f"http://127.0.0.{1 + n % self.hosts}:{self.port}/f{n}.xml"

    def ask(self, command: str) -> str:
        self.stdin.write(command + "\n")
        self.stdin.flush()
        return self.stdout.readline().strip()

    def stats(self) -> dict[str, int]:
        return dict(json.loads(self.ask("stats")))

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.write("quit\n")
            self.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- Measuring a process tree -----------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system seconds of one process so far (its own, not its children's)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def children(pid: int) -> list[int]:
    """Direct children of pid, from each thread's /proc children list."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(c) for c in f.read().split())
    return out


def children_by_scan(pid: int) -> list[int]:
    """The same, for kernels without /proc/PID/task/TID/children: scan every process."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                continue
    return out


HAS_CHILDREN = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            todo.extend(children(pid) if HAS_CHILDREN else children_by_scan(pid))
        except OSError:
            continue  # gone meanwhile
    return pids


@dataclass
class Run:
    label: str
    wall: float = 0.0
    user: float = 0.0
    sys: float = 0.0
    sampled_cpu: float = 0.0  # sum over the processes seen of their last sampled CPU
    tree_rss: int = 0  # bytes: max over samples of the sum of the tree's RSS
    max_rss: int = 0  # bytes: largest single process (ru_maxrss)
    processes: int = 0  # distinct processes seen in the tree
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    farm: dict[str, int] = field(default_factory=dict)
    farm_cpu: float = 0.0

    @property
    def cpu(self) -> float:
        return max(self.user + self.sys, self.sampled_cpu)

    @property
    def cpu_mark(self) -> str:
        return "*" if self.sampled_cpu > 1.05 * (self.user + self.sys) + 0.05 else " "


def measure(label: str, cmd: list[str], folder: Path, farm: FarmProcess, **kw: Any) -> Run:
    """Run cmd to its end; wall, tree CPU, tree RSS and what the farm did meanwhile."""
    run = Run(label)
    farm.stats()  # reset the counters
    farm_cpu = farm.cpu()
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, **kw)
        done = threading.Event()
        cpu_seen: dict[int, float] = {}

        def sample() -> None:
            while not done.is_set():
                total = 0
                for pid in tree(proc.pid):
                    try:
                        total += proc_rss(pid)
                        cpu_seen[pid] = proc_cpu(pid)
                    except (OSError, IndexError, ValueError):
                        continue
                run.tree_rss = max(run.tree_rss, total)
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = run.returncode = os.waitstatus_to_exitcode(status)
    run.user, run.sys, run.max_rss = usage.ru_utime, usage.ru_stime, usage.ru_maxrss * 1024
    run.sampled_cpu, run.processes = sum(cpu_seen.values()), len(cpu_seen)
    run.farm, run.farm_cpu = farm.stats(), farm.cpu() - farm_cpu
    run.stdout, run.stderr = out_path.read_text(), err_path.read_text()
    return run


# --- regwatch ---------------------------------------------------------------------------


def regwatch_config(folder: Path, farm: FarmProcess, feeds: int, entities: int, db: str) -> Path:
    lines = [f'[storage]\npath = "{db}"\n[defaults]\nconcurrency = 50\ntimeout = "60s"\n']
    for n in range(feeds):
        lines.append(f'[[sources]]\nname = "f{n}"\nurl = "{farm.url(n)}"\n')
    for name in ENTITIES:
        lines.append(f'[[entities]]\nname = "{name}"\naliases = ["{name}"]\n')
    for k in range(max(entities - len(ENTITIES), 0)):
        # A first word that occurs in the items, a second that never does: no hit, but
        # the matcher follows the partial match, as with real watchlists of companies.
        word = SYNTHETIC_WORDS[k % len(SYNTHETIC_WORDS)]
        lines.append(f'[[entities]]\nname = "Synthetic {k}"\naliases = ["{word} Holdings {k}"]\n')
    config = folder / f"{db}.toml"
    config.write_text("\n".join(lines))
    return config


def regwatch(config: Path, label: str, folder: Path, farm: FarmProcess) -> Run:
    cmd = [sys.executable, "-m", "watcher", "--config", str(config), "--log-level", "error"]
    # From the checkout's root, so `-m watcher` is this checkout's, whatever the venv points at.
    run = measure(label, cmd + ["poll"], folder, farm, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"{label}: exit {run.returncode}\n{run.stderr[-3000:]}")
    return run


# The evidence's tables and their indexes (watcher/store/evidence.py, migration 070).
EVIDENCE = (
    "evidence_bodies",
    "captures",
    "hit_captures",
    "hit_evidence",
    "captures_sha256",
    "hit_captures_capture",
    "sqlite_autoindex_evidence_bodies_1",
    "sqlite_autoindex_hit_captures_1",
)


def evidence_figures(db: Path) -> str:
    """What the cold poll's evidence costs: bytes on disk per hit (SQLite's dbstat pages)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    hits, captures, bodies, size, packed = conn.execute(
        "SELECT (SELECT COUNT(DISTINCT hit_id) FROM hit_captures), (SELECT COUNT(*) FROM "
        "captures), COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(length(data)), 0) "
        "FROM evidence_bodies"
    ).fetchone()
    marks = ",".join("?" * len(EVIDENCE))
    on_disk = conn.execute(
        f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", EVIDENCE
    ).fetchone()[0]
    total = conn.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
    conn.close()
    return (
        f"evidence after the cold poll: {hits} hits, {captures} captures, {bodies} bodies, "
        f"{size / 1e6:.1f} MB as received, {packed / 1e6:.1f} MB compressed; its tables take "
        f"{on_disk / 1e6:.1f} MB of the database's {total / 1e6:.1f} MB: "
        f"{on_disk / max(hits, 1):,.0f} bytes per hit"
    )


def summary(run: Run) -> dict[str, int]:
    found = SUMMARY.search(run.stdout)
    if not found:
        return {}
    keys = ("sources", "failed", "new", "hits", "sent")
    return dict(zip(keys, map(int, found.groups()), strict=True))


# --- rss2email --------------------------------------------------------------------------


def r2e_venv() -> Path:
    """A venv with rss2email 3.14, made once under benchmarks/out/ and kept."""
    venv = OUT / f"rss2email-{R2E_VERSION}"
    r2e = venv / "bin" / "r2e"
    if r2e.exists():
        return venv
    print(f"installing rss2email {R2E_VERSION} into {venv} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", f"rss2email=={R2E_VERSION}"]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise SystemExit(f"cannot install rss2email (or use --skip-rss2email):\n{done.stderr}")
    return venv


def r2e_setup(venv: Path, folder: Path, farm: FarmProcess, feeds: int) -> list[str]:
    """A new rss2email config and feed database with every feed; the `r2e run` command."""
    cfg, data, opml = folder / "r2e.cfg", folder / "r2e.json", folder / "feeds.opml"
    base = [str(venv / "bin" / "r2e"), "-c", str(cfg), "-d", str(data)]
    env = {**os.environ, "HOME": str(folder)}
    subprocess.run(
        base + ["new", "bench@example.invalid"], check=True, env=env, capture_output=True
    )
    opml.write_text(
        '<?xml version="1.0"?><opml version="1.0"><body>\n'
        + "".join(
            f'<outline type="rss" text="f{n}" xmlUrl="{farm.url(n)}"/>\n' for n in range(feeds)
        )
        + "</body></opml>\n"
    )
    subprocess.run(base + ["opmlimport", str(opml)], check=True, env=env, capture_output=True)
    text = cfg.read_text()
    for old, new in [
        ("email-protocol = sendmail", "email-protocol = smtp"),
        ("smtp-server = smtp.example.net", f"smtp-server = 127.0.0.1:{farm.smtp_port}"),
        ("verbose = info", "verbose = error"),
    ]:
        if old not in text.splitlines():
            raise SystemExit(f"rss2email's new config has no line {old!r}: {cfg}")
        text = text.replace(old, new)
    cfg.write_text(text)
    return base + ["run"]


def versions(venv: Path) -> str:
    code = (
        "from importlib.metadata import version as v; "
        "print(' '.join(p + ' ' + v(p) for p in ('rss2email', 'feedparser', 'html2text')))"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return out.stdout.strip()


# --- Report -----------------------------------------------------------------------------

HEADER = f"{'run':<32}{'wall s':>8}{'cpu s':>9}{'user':>8}{'sys':>7}{'tree RSS':>10}{'max RSS':>9}{'procs':>6}"


def row(run: Run) -> str:
    return (
        f"{run.label:<32}{run.wall:8.2f}{run.cpu:8.2f}{run.cpu_mark}{run.user:8.2f}{run.sys:7.2f}"
        f"{run.tree_rss / 1e6:8.0f} MB{run.max_rss / 1e6:6.0f} MB{run.processes:6d}"
    )


def details(run: Run, result: str) -> str:
    f = run.farm
    return (
        f"  {run.label}: {result}\n"
        f"    farm: {f['requests']} requests ({f['ok']} x 200, {f['not_modified']} x 304) on "
        f"{f['connections']} connections, {f['bytes'] / 1e6:.1f} MB; {f['mails']} mails "
        f"({f['mail_bytes'] / 1e6:.1f} MB) on {f['smtp_connections']} SMTP connections; "
        f"farm CPU {run.farm_cpu:.2f} s"
    )


def regwatch_result(run: Run) -> str:
    s = summary(run)
    if not s:
        return "no summary line found"
    return f"{s['sources']} sources, {s['failed']} failed, {s['new']} new items, {s['hits']} hits"


def r2e_result(run: Run) -> str:
    errors = [line for line in run.stderr.splitlines() if "[ERROR]" in line or "Error" in line]
    note = f", exit {run.returncode}" if run.returncode else ""
    note += f", {len(errors)} error lines in stderr, first: {errors[0][:200]}" if errors else ""
    return f"{run.farm['mails']} mails sent{note}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.1f}x" if b > 0 else "   n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--entities", type=int, default=3, help="3, or more with synthetic ones")
    parser.add_argument("--hosts", type=int, default=30, help="loopback addresses to spread over")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="added to every answer")
    parser.add_argument("--skip-rss2email", action="store_true")
    parser.add_argument(
        "--skip-extra", action="store_true", help="no no-ETag / one-new-item polls of regwatch"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="then a cold poll under cProfile, to FILE"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    venv = None if args.skip_rss2email else r2e_venv()
    farm = FarmProcess(args.feeds, args.items, args.hosts, args.latency_ms)
    folder = Path(tempfile.mkdtemp(prefix="regwatch-bench-"))
    try:
        report(args, farm, folder, venv)
    finally:
        farm.close()
        if args.keep:
            print(f"(kept {folder})")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def report(args: argparse.Namespace, farm: FarmProcess, folder: Path, venv: Path | None) -> None:
    html = sum(len(item_html(n, i)) for n in range(10) for i in range(args.items)) / (
        10 * args.items
    )
    print(
        f"farm: {args.feeds} feeds x {args.items} items on {args.hosts} hosts "
        f"(127.0.0.1-127.0.0.{args.hosts}), {args.latency_ms:g} ms latency, ETags; "
        f"{html / 1000:.2f} KB of HTML per item description"
    )
    print(
        f"regwatch {metadata.version('regwatch')} (Python {sys.version.split()[0]}, "
        f"feedparser {metadata.version('feedparser')}), {args.entities} entities, "
        f"concurrency 50" + (f"; {versions(venv)}" if venv else "")
    )
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)

    config = regwatch_config(folder, farm, args.feeds, args.entities, "bench.db")
    runs = [regwatch(config, "regwatch cold (new database)", folder, farm)]
    evidence = evidence_figures(folder / "bench.db")
    runs.append(regwatch(config, "regwatch warm (all 304)", folder, farm))
    results = [regwatch_result(r) for r in runs]
    for run in runs:
        print(f"  ... {run.label}: {run.wall:.2f} s", flush=True)
    if venv is not None:
        r2e_run = r2e_setup(venv, folder, farm, args.feeds)
        env = {**os.environ, "HOME": str(folder)}
        for label in ("rss2email cold (first run)", "rss2email warm (all 304)"):
            run = measure(label, r2e_run, folder, farm, env=env)
            runs.append(run)
            results.append(r2e_result(run))
            print(f"  ... {run.label}: {run.wall:.2f} s", flush=True)
    if not args.skip_extra:
        farm.ask("etags off")
        runs.append(regwatch(config, "regwatch no ETag, same bodies", folder, farm))
        farm.ask("etags on")
        farm.ask("extra 1")
        runs.append(regwatch(config, "regwatch one new item per feed", folder, farm))
        results += [regwatch_result(r) for r in runs[-2:]]

    print()
    print(HEADER)
    for run in runs:
        print(row(run))
    print("(cpu: user+sys of the process tree; * = from /proc sampling, some descendants unwaited)")
    print("(tree RSS: peak of the summed RSS of the tree; max RSS: largest single process)")
    print()
    for run, result in zip(runs, results, strict=True):
        print(details(run, result))
    print()
    cold, warm = runs[0], runs[1]
    new = summary(cold).get("new", 0)
    expected = args.feeds * args.items
    if new != expected or summary(cold).get("failed"):
        print(f"WARNING: regwatch's cold poll stored {new} new items, not {expected}, or failed")
    for run in [r for r in runs if "warm" in r.label]:
        if run.farm["not_modified"] != args.feeds:
            print(f"WARNING: {run.label}: {run.farm['not_modified']} answers 304, not {args.feeds}")
    if new:
        print(f"regwatch cold: {cold.cpu / new * 1000:.3f} ms CPU per new item ({new} items)")
    if venv is not None:
        r2e_cold, r2e_warm = runs[2], runs[3]
        mails = r2e_cold.farm["mails"]
        if mails:
            print(
                f"rss2email cold: {r2e_cold.cpu / mails * 1000:.3f} ms CPU per mail ({mails} mails)"
            )
        if mails != expected:
            print(f"WARNING: rss2email's cold run sent {mails} mails, not {expected}")
        print(f"rss2email / regwatch, cold wall: {ratio(r2e_cold.wall, cold.wall)}  (issue: >= 6x)")
        print(
            f"rss2email / regwatch, warm wall: {ratio(r2e_warm.wall, warm.wall)}  (issue: >= 12x)"
        )
        print(f"rss2email / regwatch, warm CPU:  {ratio(r2e_warm.cpu, warm.cpu)}")
        print(f"rss2email / regwatch, cold CPU:  {ratio(r2e_cold.cpu, cold.cpu)}")
    print(evidence)
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)

    if args.profile:
        profiled = regwatch_config(folder, farm, args.feeds, args.entities, "profile.db")
        cmd = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "watcher"]
        cmd += ["--config", str(profiled), "--log-level", "error", "poll"]
        farm.ask("extra 0")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        print(f"cold poll profiled (fresh database, not timed): {args.profile}")


if __name__ == "__main__":
    main()
