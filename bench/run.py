"""`python -m bench`: packets per second and peak RSS of pcapkit and of the tools people would
otherwise use, on captures of 600 packets to millions, built from two lab recordings.

Workloads (`WORKLOADS`): two `tcpdump -i any` recordings of worker-1 in the lab (`python -m
samples.lab bench FILE --load dns|bulk`, root, recorded when missing): `dns`, many short HTTP
connections each after its DNS lookups; `bulk`, TCP uploads across the VXLAN overlay. Each size
(`SIZES`) is a capture made of port-shifted copies of one recording (`bench/copies.py`), the
last copy cut to the size; all of them live in git-ignored bench/data/.

Every measurement is one run of one tool as its own process (`MEASURES`): wall seconds from
start to exit, and peak RSS, the larger of the process's own `ru_maxrss` and the sum of its
process tree's RSS sampled every 20 ms (pyshark's tshark, Dask's workers). A measurement stops
at `CAP_SECONDS` or at `CAP_RSS` of RAM, and is skipped when the previous size's figures,
scaled by packets, say it would pass either. A capture too large for the page cache
(`MAX_FILE_RAM`) is read from disk, by pcapkit's streamed rows only (`Measure.from_disk`).
scapy and pyshark run on a slice of the first packets and their rate is extrapolated from their
own loop's time. A pcapkit variant whose flag this pcapkit lacks (exit 2, "No such option") is
shown as n/a.

Writes the table to stdout, bench/data/results.json, bench/data/results.md (the tables, also
written into bench/README.md between its `bench:results` markers) and bench/plot.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from bench import copies
from pcapkit.cli.interrupt import descendants

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data"
PLOT = REPO / "bench" / "plot.png"
README = REPO / "bench" / "README.md"
MARK, END_MARK = "<!-- bench:results -->", "<!-- /bench:results -->"

WORKLOADS = {
    "dns": "node-any.pcap",  # short HTTP connections and their lookups, 30 % DNS
    "bulk": "bulk-any.pcap",  # TCP uploads over VXLAN, wire-size segments
}
SIZES = (600, 250_000, 1_300_000, 5_000_000, 20_000_000)
CAP_SECONDS = 300.0
CAP_RSS = 0.4  # of the machine's RAM: other work shares it
#: a size's capture must fit the page cache (so every tool reads it from memory) and leave
#: this much disk free
MAX_FILE_RAM = 0.4
MIN_FREE_DISK = 5 << 30
ANALYZE = "from pcapkit.cli.script import main; main()"
TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time (Debian package `time`)


@dataclasses.dataclass(frozen=True)
class Measure:
    """One contestant: the command it runs on a capture."""

    name: str
    argv: Callable[[Path], list[str]]
    slice: int | None = None  # packets read; None: the whole capture
    one_core: bool = False  # pinned to one CPU, polars and numba on one thread
    max_packets: int | None = None  # not run on bigger captures
    cooked_v1: bool = False  # reads the capture rewritten with Linux cooked v1 headers
    tool: str | None = None  # the executable it needs
    note: str = ""
    #: also measured on a capture too large for the page cache, read from disk: its time is
    #: the disk's, its peak RSS what the issue asks to stay flat whatever the size
    from_disk: bool = False


def _analyze(*flags: str) -> Callable[[Path], list[str]]:
    return lambda path: [sys.executable, "-c", ANALYZE, "analyze", *flags, "--format", "json",
                         "-o", os.devnull, str(path)]


#: where `pcapkit convert` writes its store (replaced at each size, removed at the end)
STORE = DATA / "convert.store"


def _convert(path: Path) -> list[str]:
    return [sys.executable, "-c", ANALYZE, "convert", str(path), "--to", str(STORE),
            "--overwrite"]


def _loop(name: str, limit: int | None = None) -> Callable[[Path], list[str]]:
    return lambda path: [sys.executable, "-m", "bench.loops", name, str(path),
                         *([str(limit)] if limit else [])]


SCAPY_SLICE, PYSHARK_SLICE = 20_000, 3_000
MEASURES = (
    Measure("pcapkit analyze, 1 core", _analyze("--workers", "1"), one_core=True,
            from_disk=True),
    Measure("pcapkit analyze, all cores", _analyze(), from_disk=True),
    Measure("pcapkit analyze, Dask local:2", _analyze("--scheduler", "local:2"), from_disk=True),
    Measure("pcapkit convert, all cores", _convert, from_disk=True,
            note="analyze, and every table written as Parquet (a store)"),
    Measure("pcapkit decode", _loop("decode"), note="read + decode in chunks, no flows",
            from_disk=True),
    Measure("tshark -q -z expert", lambda p: ["tshark", "-q", "-z", "expert", "-r", str(p)],
            max_packets=5_000_000, tool="tshark"),
    Measure("tcptrace -n", lambda p: ["tcptrace", "-n", str(p)], cooked_v1=True, tool="tcptrace",
            note="same packets with Linux cooked v1 headers: tcptrace 6.6.7 reads no v2"),
    Measure("dpkt loop", _loop("dpkt"), max_packets=5_000_000,
            note="pcap.Reader + link layer down to TCP/UDP ports"),
    Measure("scapy PcapReader", _loop("scapy", SCAPY_SLICE), slice=SCAPY_SLICE),
    Measure("pyshark FileCapture", _loop("pyshark", PYSHARK_SLICE), slice=PYSHARK_SLICE,
            tool="tshark", note="keep_packets=False"),
    Measure("tcpdump -r FILE -w /dev/null", lambda p: ["tcpdump", "-r", str(p), "-w",
                                                       os.devnull], tool="tcpdump",
            note="libpcap's read loop"),
)


@dataclasses.dataclass
class Result:
    workload: str
    size: int  # packets in the capture
    measure: str
    status: str  # "ok", or why there is no figure
    packets: int = 0  # packets the tool went through (a slice: fewer than size)
    seconds: float | None = None  # wall, whole process
    loop_seconds: float | None = None  # the tool's own loop (in-Python tools)
    rss_mb: float | None = None
    cpu_seconds: float | None = None  # user + system, the tool's and its children's
    load: float | None = None  # the machine's 1-minute load average as it started
    from_disk: bool = False  # the capture was read from disk, too large for the page cache

    @property
    def rate(self) -> float | None:
        """Packets per second (a slice: over its loop, the start-up left out)."""
        seconds = self.loop_seconds if self.loop_seconds and self.packets < self.size \
            else self.seconds
        return self.packets / seconds if seconds and self.status == "ok" else None


# --- running one measurement -------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (`pcapkit.cli.interrupt.descendants`)."""
    return [pid, *descendants(pid)]


def _rss(pids: list[int]) -> int:
    """Bytes resident in `pids` (those still running)."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


class Run(NamedTuple):
    status: str
    seconds: float  # wall
    cpu: float | None  # user + system seconds of the tool and the children it waited for
    peak: int  # bytes
    stdout: str


def run_one(argv: list[str], one_core: bool, cap_rss: int) -> Run:
    """Run `argv` to its end, or until a cap."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cpu = min(os.sched_getaffinity(0))
    if one_core:
        env |= {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("w+") as report:
        # GNU time forks the tool from a small process: the tool's own ru_maxrss would start
        # from this (large) process's, which a fork copies and exec keeps as its high-water mark
        timed = [TIME, "-f", "%M %U %S", "-o", report.name, *argv] if TIME else argv
        start = time.perf_counter()
        proc = subprocess.Popen(
            timed, cwd=REPO, env=env, stdout=out, stderr=err, text=True, start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if one_core else None)
        peak, killed, polls, tree = 0, "", 0, [proc.pid]
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if polls % 10 == 0:  # the tree is walked every 0.2 s, its RSS summed every 20 ms
                tree = _descendants(proc.pid)
            polls += 1
            peak = max(peak, _rss(tree))
            elapsed = time.perf_counter() - start
            if not killed and (elapsed > CAP_SECONDS or peak > cap_rss):
                killed = (f"killed (over {CAP_SECONDS:.0f} s)" if elapsed > CAP_SECONDS
                          else f"killed (RSS over {cap_rss / 2**30:.0f} GB)")
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        reported = (report.read().strip().splitlines() or [""])[-1].split()
    cpu_seconds = None
    if len(reported) == 3:
        peak = max(peak, int(reported[0]) * 1024)
        cpu_seconds = float(reported[1]) + float(reported[2])
    if TIME and proc.returncode and stderr.startswith("Command exited with non-zero status"):
        stderr = stderr.split("\n", 1)[-1]
    if not TIME:
        peak = max(peak, usage.ru_maxrss * 1024)
        cpu_seconds = usage.ru_utime + usage.ru_stime
    if killed:
        status_text = killed
    elif proc.returncode == 2 and "No such option" in stderr:
        status_text = "n/a (flag not available)"
    elif proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["no message"])[-1][:80]
        status_text = f"failed (exit {proc.returncode}: {last})"
    else:
        status_text = "ok"
    return Run(status_text, seconds, cpu_seconds, peak, stdout)


def in_page_cache(path: Path) -> None:
    """Read `path` through, so that the tool measured next reads it from memory: the captures
    of all sizes do not fit in the page cache together, and each size's first measure ("1
    core") read its file from disk (bulk 5M: 22.8 s, then 10.5-11.9 s back to back)."""
    chunk = bytearray(8 << 20)
    with path.open("rb", buffering=0) as f:
        while f.readinto(chunk):
            pass


def measure(m: Measure, workload: str, size: int, path: Path, earlier: list[Result],
            cap_rss: int, cached: bool = True) -> Result:
    """One measurement, or the reason it was skipped; `earlier`: this measure's results at
    the smaller sizes of the workload; `cached`: the capture fits the page cache (else it is
    read from disk, by the measures that are `from_disk`)."""
    result = Result(workload, size, m.name, "ok", from_disk=not cached)
    last = earlier[-1] if earlier else None
    if m.tool and not shutil.which(m.tool):
        result.status = f"skipped ({m.tool} not installed)"
        return result
    if m.max_packets and size > m.max_packets:
        result.status = f"skipped (over {m.max_packets / 1e6:.0f}M packets)"
        return result
    if last and last.status.startswith(("killed", "skipped (over", "skipped (RSS")):
        result.status = last.status.replace("killed", "skipped")
        return result
    if m.slice and last and last.status == "ok" and last.packets == m.slice:
        # the first packets are the same in every size: the slice is measured once
        return dataclasses.replace(last, size=size)
    ok = [r for r in earlier if r.status == "ok" and r.seconds and r.rss_mb]
    if m.slice is None and len(ok) >= 2:
        seconds = _extend(ok, size, lambda r: r.seconds or 0.0)
        rss = _extend(ok, size, lambda r: (r.rss_mb or 0.0) * 2**20)
        if seconds > CAP_SECONDS and cached:
            result.status = f"skipped (over {CAP_SECONDS:.0f} s: ~{seconds:.0f} s)"
            return result
        if rss > cap_rss:
            result.status = f"skipped (RSS ~{rss / 2**30:.0f} GB)"
            return result
    result.load = os.getloadavg()[0]
    if cached:
        in_page_cache(path)
    run = run_one(m.argv(path), m.one_core, cap_rss)
    result.status, result.seconds, result.cpu_seconds = run.status, run.seconds, run.cpu
    result.rss_mb = run.peak / 2**20
    result.packets = min(size, m.slice) if m.slice else size
    if run.status == "ok" and run.stdout.split() and m.argv(path)[1:3] == ["-m", "bench.loops"]:
        count, loop = run.stdout.split()[-2:]
        result.packets, result.loop_seconds = int(count), float(loop)
    return result


def _extend(ok: list[Result], size: int, y: Callable[[Result], float]) -> float:
    """The straight line through the last two results, at `size` packets."""
    a, b = ok[-2], ok[-1]
    slope = max(0.0, (y(b) - y(a)) / (b.size - a.size))
    return y(b) + slope * (size - b.size)


# --- the captures --------------------------------------------------------------------------

def source(workload: str) -> Path:
    """The workload's lab recording, recorded now if missing (root)."""
    path = DATA / WORKLOADS[workload]
    if not path.exists():
        print(f"recording {path} with the lab (root, network namespaces)…", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "samples.lab", "bench", str(path), "--load",
                        workload], check=True, cwd=REPO, env=dict(os.environ,
                                                                  PYTHONPATH=str(REPO)))
    return path


def label(size: int) -> str:
    if size < 100_000:
        return f"{size:,}"
    return f"{size / 1e6:g}M"


def capture_path(name: str, size: int) -> Path:
    return DATA / f"{name}-{label(size)}.pcap"


def build(src: copies.Source, src_path: Path, size: int, name: str) -> Path:
    """The capture of `size` packets made of copies of `src`, unless already there."""
    path = capture_path(name, size)
    if not path.exists() or path.stat().st_mtime < src_path.stat().st_mtime:
        tmp = path.with_suffix(".part")
        copies.write(src, tmp, -(-size // src.packets), size)
        tmp.replace(path)
    return path


def room_for(src_path: Path, src_packets: int, size: int, path: Path
             ) -> tuple[str | None, str | None]:
    """Why a capture of `size` packets cannot be made at `path` (or None), and why only the
    `from_disk` measures run on it (or None: it fits the page cache)."""
    need = src_path.stat().st_size / src_packets * size
    there = path.stat().st_size if path.exists() else 0  # its disk space is taken already
    if shutil.disk_usage(DATA).free + there - need < MIN_FREE_DISK:
        return f"skipped (file ~{need / 2**30:.0f} GB: disk full)", None
    if need > MAX_FILE_RAM * _meminfo("MemTotal"):
        return None, f"skipped (file ~{need / 2**30:.0f} GB, over {MAX_FILE_RAM:.0%} of RAM)"
    return None, None


# --- the machine, the table, the plot ------------------------------------------------------

def _meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return next((line for line in text if any(c.isdigit() for c in line)), "?")[:60]


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    py = [sys.executable, "-c"]
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(_meminfo("MemTotal") / 2**30, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "versions": {
            "tshark": _version(["tshark", "--version"]),
            "tcptrace": _version(["tcptrace", "-v"]),
            "tcpdump": _version(["tcpdump", "--version"]),
            "dpkt": _version([*py, "import dpkt; print(dpkt.__version__)"]),
            "scapy": _version([*py, "import scapy; print(scapy.VERSION)"]),
            "pyshark": _version([*py, "from importlib.metadata import version as v; "
                                      "print(v('pyshark'))"]),
            "polars": _version([*py, "import polars; print(polars.__version__)"]),
        },
    }


def _ratio(r: Result, tshark: Result | None) -> str:
    """`r`'s packets/s over tshark's on the same capture."""
    if not (tshark and tshark.rate and r.rate):
        return "—"
    x = r.rate / tshark.rate
    return f"{x:.0f}x" if x >= 10 else f"{x:.1f}x" if x >= 0.95 else f"{x:.2g}x"


def _si(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k" if x >= 1e4 else f"{x:,.0f}"


def table(results: list[Result]) -> list[str]:
    """The one table: workload × size × measure."""
    lines = [f"{'workload':8} {'packets':>7}  {'measure':30} {'seconds':>8} {'CPU s':>8} "
             f"{'packets/s':>10} {'RSS MB':>7} {'vs tshark':>9} {'load':>5}  note"]
    for r in results:
        head = f"{r.workload:8} {label(r.size):>7}  {r.measure:30}"
        if r.status != "ok" or r.rate is None or r.seconds is None:
            lines.append(f"{head} {r.status}")
            continue
        tshark = _find(results, r.workload, r.size, "tshark -q -z expert")
        cpu = f"{r.cpu_seconds:.2f}" if r.cpu_seconds is not None else "?"
        load = f"{r.load:.1f}" if r.load is not None else "?"
        note = (f"slice of {r.packets:,}: all ~{r.size / r.rate:,.0f} s"
                if r.packets < r.size else "")
        lines.append(f"{head} {r.seconds:>8.2f} {cpu:>8} {r.rate:>10,.0f} {r.rss_mb or 0:>7,.0f} "
                     f"{_ratio(r, tshark):>9} {load:>5}  {note}")
    return lines


def markdown(results: list[Result], info: dict[str, Any]) -> str:
    """bench/README.md's tables: one per workload, a row per measure, a column per size; a
    cell is seconds · packets/s · peak RSS · packets/s against tshark's."""
    out = []
    for workload in dict.fromkeys(r.workload for r in results):
        sizes, notes = [], []
        for size in dict.fromkeys(r.size for r in results if r.workload == workload):
            statuses = {r.status for r in results if (r.workload, r.size) == (workload, size)}
            if len(statuses) == 1 and statuses != {"ok"}:
                notes.append(f"{label(size)} packets: {statuses.pop()}.")
            else:
                sizes.append(size)
        out.append(f"### {workload}\n")
        out.append("| measure | " + " | ".join(f"{label(s)} packets" for s in sizes) + " |")
        out.append("|---|" + "---:|" * len(sizes))
        for m in MEASURES:
            rows = [_find(results, workload, s, m.name) for s in sizes]
            if len({r.status for r in rows if r}) == 1 and rows[0] and rows[0].status != "ok":
                out.append(f"| {m.name} | {rows[0].status} |" + " |" * (len(sizes) - 1))
                continue
            cells = []
            for s, r in zip(sizes, rows, strict=True):
                if r is None or r.status != "ok" or r.rate is None or r.seconds is None:
                    cells.append(r.status if r else "")
                    continue
                tshark = _find(results, workload, s, "tshark -q -z expert")
                mark = "¹" if r.packets < r.size else "²" if r.from_disk else ""
                vs = "—" if m.name.startswith("tshark") else _ratio(r, tshark)
                ratio = "" if vs == "—" else f" · **{vs}**"
                cells.append(f"{r.seconds:.2f} s{mark} · {_si(r.rate)}/s · "
                             f"{r.rss_mb or 0:,.0f} MB{ratio}")
            out.append(f"| {m.name} | " + " | ".join(cells) + " |")
        out.extend(["", *notes, ""] if notes else [""])
    out.append("Each cell: wall seconds · packets/s · peak RSS · packets/s against tshark's on the "
               "same capture. ¹ on a slice (the first packets, the same in every size: measured "
               "once), seconds of the whole process; packets/s over the tool's own loop. ² read "
               f"from disk: the capture is over {MAX_FILE_RAM:.0%} of RAM, too large for the "
               "page cache, and only pcapkit's streamed rows are measured on it, for their "
               "peak RSS; their time is the disk's.")
    return "\n".join(out) + "\n"


def _find(results: list[Result], workload: str, size: int, name: str) -> Result | None:
    return next((r for r in results if (r.workload, r.size, r.measure) == (workload, size,
                                                                          name)), None)


def plot(results: list[Result], info: dict[str, Any], path: Path) -> None:
    """Seconds and peak RSS against packets, log-log, one line per measure and workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.5))
    colors = plt.get_cmap("tab20")
    for i, m in enumerate(MEASURES):
        labelled = False
        for workload, style in zip(WORKLOADS, ("-", "--"), strict=True):
            rows = [r for r in results if r.measure == m.name and r.workload == workload
                    and r.rate is not None and r.rss_mb is not None]
            if not rows:
                continue
            xs = [r.size for r in rows]
            # a slice's time is extrapolated to the whole capture
            ts = [r.size / r.rate if r.rate else 0.0 for r in rows]
            kw: dict[str, Any] = {"color": colors(i), "linestyle": style, "marker": "o",
                                  "markersize": 3}
            ax_t.plot(xs, ts, label=None if labelled else m.name, **kw)
            labelled = True
            if m.slice is None:
                ax_m.plot(xs, [r.rss_mb for r in rows], **kw)
    for ax, what in ((ax_t, "seconds (slices extrapolated)"), (ax_m, "peak RSS, MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("packets in the capture")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"pcapkit bench: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB; "
                 "solid: dns workload, dashed: bulk", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", action="append", choices=list(WORKLOADS),
                        help="repeatable (default: all)")
    parser.add_argument("--sizes", type=lambda s: [int(float(x)) for x in s.split(",")],
                        default=list(SIZES), help=f"packets, comma-separated (default: "
                        f"{','.join(map(str, SIZES))})")
    parser.add_argument("--only", action="append", metavar="MEASURE",
                        help="run only the measures whose name contains this (repeatable)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the plot and tables from bench/data/results.json")
    args = parser.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        doc = json.loads((DATA / "results.json").read_text())
        report([Result(**r) for r in doc["results"]], doc["machine"])
        return
    info = machine()
    cap_rss = int(CAP_RSS * _meminfo("MemTotal"))
    measures = [m for m in MEASURES if not args.only or any(o in m.name for o in args.only)]
    print(f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, load average "
          f"{info['load_before'][0]:.2f}", file=sys.stderr)
    results: list[Result] = []
    started = time.perf_counter()
    for workload in args.workload or list(WORKLOADS):
        src_path = source(workload)
        src = copies.scan(src_path)
        twin: tuple[copies.Source, Path] | None = None
        earlier: dict[str, list[Result]] = {m.name: [] for m in measures}
        for size in args.sizes:
            why, uncached = room_for(src_path, src.packets, size, capture_path(workload, size))
            runs = [m for m in measures if uncached is None or m.from_disk]
            path = build(src, src_path, size, workload) if why is None and runs else None
            for m in measures:
                target = path if m in runs else None
                if path and m.cooked_v1 and src.linktype == copies.SLL2:
                    if twin is None:
                        v1 = DATA / f"{workload}-v1-source.pcap"
                        if not v1.exists() or v1.stat().st_mtime < src_path.stat().st_mtime:
                            copies.cooked_v1(src_path, v1)
                        twin = (copies.scan(v1), v1)
                    target = build(twin[0], twin[1], size, f"{workload}-v1")
                if target is None:
                    r = Result(workload, size, m.name, why or uncached or "skipped")
                else:
                    r = measure(m, workload, size, target, earlier[m.name], cap_rss,
                                cached=uncached is None)
                results.append(r)
                earlier[m.name].append(r)
                print(table([r])[1], file=sys.stderr, flush=True)
    shutil.rmtree(STORE, ignore_errors=True)
    info["load_after"] = os.getloadavg()
    info["minutes"] = round((time.perf_counter() - started) / 60, 1)
    (DATA / "results.json").write_text(json.dumps(
        {"machine": info, "results": [dataclasses.asdict(r) for r in results]}, indent=1) + "\n")
    report(results, info)


def _machine_line(info: dict[str, Any]) -> str:
    v = info["versions"]
    return (f"Measured on {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, Linux "
            f"{info['kernel']}, Python {info['python']}, a VM shared with other work: load "
            f"average {info['load_before'][0]:.1f} before the run, "
            f"{info.get('load_after', [0])[0]:.1f} after; {info.get('minutes', '?')} minutes. "
            f"{v['tshark'].split(' (Git')[0]}, tcptrace 6.6.7, {v['tcpdump']}, dpkt "
            f"{v['dpkt']}, scapy {v['scapy']}, pyshark {v['pyshark']}, polars {v['polars']}.")


def report(results: list[Result], info: dict[str, Any]) -> None:
    print(f"\n{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, Linux "
          f"{info['kernel']}, Python {info['python']}; load average "
          f"{info['load_before'][0]:.2f} before, {info.get('load_after', [0])[0]:.2f} after; "
          f"{info.get('minutes', '?')} minutes\n")
    print("\n".join(table(results)))
    tables = f"{_machine_line(info)}\n\n{markdown(results, info)}"
    (DATA / "results.md").write_text(tables)
    text = README.read_text()
    start, end = text.find(MARK), text.find(END_MARK)
    if 0 <= start < end:
        README.write_text(f"{text[:start + len(MARK)]}\n{tables}{text[end:]}")
    try:
        plot(results, info, PLOT)
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
    else:
        print(f"\nplot: {PLOT.relative_to(REPO)}; tables: bench/data/results.md")
