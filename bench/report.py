"""Writes bench/results.md from the numbers scripts/bench.sh collected in one run.

Usage: report.py RESULTS_DIR > bench/results.md

Every ratio is between numbers of the same run. Medians throughout; peak memory is the maximum
resident set size /usr/bin/time -v reports.
"""

import glob
import json
import os
import re
import statistics
import sys

res = sys.argv[1]


def load(name):
    with open(os.path.join(res, name)) as f:
        return json.load(f)


def hyperfine(name):
    """Median seconds per command name."""
    return {r["command"]: r["median"] for r in load(name)["results"]}


def ms_file(name):
    with open(os.path.join(res, name + ".ms")) as f:
        return statistics.median(float(x) for x in f if x.strip())


def time_v(path):
    """(wall seconds, peak MB) from a /usr/bin/time -v report."""
    text = open(path).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return secs, kb / 1024


def export(name):
    """Median wall seconds, median peak MB, median emulator CPU seconds over the runs."""
    runs = sorted(glob.glob(os.path.join(res, f"{name}_*.time")))
    walls, peaks, cpus = [], [], []
    for t in runs:
        w, p = time_v(t)
        walls.append(w)
        peaks.append(p)
        cpus.append(float(open(t[: -len(".time")] + ".emucpu").read()))
    return statistics.median(walls), statistics.median(peaks), statistics.median(cpus), len(runs)


def verdict(ok, text):
    return ("met" if ok else "**missed**") + (f" ({text})" if text else "")


meta = load("meta.json")
out = []
w = out.append
w("# Benchmarks: snowbridge beside what users would otherwise run")
w("")
w(
    f"One run of `scripts/bench.sh`, {meta['date']}, on {meta['cores']} cores ({meta['cpu']}); "
    f"load average {meta['load_before']} before, {meta['load_after']} after (the machine is shared). "
    f"{meta['rustc']}; the release binary is {meta['binary_bytes'] / 1e6:.1f} MB. "
    f"The run took {meta['seconds'] / 60:.1f} minutes, {meta['build_seconds'] / 60:.1f} of them building. "
    "Everything over TLS against the emulator on loopback (`snowbridge emulator --tls`, its CA "
    "trusted by every client), unless marked plain HTTP. Medians; ratios are from this run."
)
if meta["quick"]:
    w("")
    w("**BENCH_QUICK=1: too few runs to be a measurement.**")
w("")
w(f"Emulator start-up with 100,000 incidents (seeding a new database): {float(open(os.path.join(res, 'startup_100000.ms')).read()):.0f} ms.")

# 1. warm call
api = hyperfine("api.json")
plain = hyperfine("api_http.json")
rust = load("inproc_api.json")
pyc = load("inproc_py.json")
s, c = api["snowbridge"], api["curl"]
_, api_peak = time_v(os.path.join(res, "api_snowbridge.time"))
w("")
w("## 1. A warm authenticated call (`GET /api/now/table/incident?sysparm_limit=1`)")
w("")
w("| | whole process | vs snowbridge |")
w("| --- | ---: | ---: |")
for k in ("snowbridge", "curl", "requests", "pysnc"):
    w(f"| {k} | {api[k] * 1000:.1f} ms | {api[k] / s:.2f}x |")
w("")
w(
    f"Plain HTTP: snowbridge {plain['snowbridge'] * 1000:.1f} ms, curl {plain['curl'] * 1000:.1f} ms "
    f"({plain['snowbridge'] / plain['curl']:.2f}x curl). snowbridge's peak memory: {api_peak:.1f} MB."
)
w("")
w(
    f"In-process, per call on a warm connection: snowbridge's library {rust['median_ms']:.2f} ms, "
    f"requests {pyc['requests']['median_ms']:.2f} ms, pysnc {pyc['pysnc']['median_ms']:.2f} ms "
    f"(pysnc {pyc['pysnc']['median_ms'] / rust['median_ms']:.1f}x, requests "
    f"{pyc['requests']['median_ms'] / rust['median_ms']:.1f}x snowbridge's time)."
)
w("")
w(f"- Target within 1.05x of curl: {verdict(s / c <= 1.05, f'{s / c:.2f}x')}.")
vs_pysnc = api["pysnc"] / s
w(f"- Target at least 10x faster than pysnc: {verdict(vs_pysnc >= 10, f'{vs_pysnc:.1f}x')}.")

# 2. export
w("")
w("## 2. Export of 100,000 incidents, every field with its value and display value")
w("")
w("| | wall | records/s | peak memory | emulator CPU | runs |")
w("| --- | ---: | ---: | ---: | ---: | ---: |")
rows = {}
for name, label in (
    ("export_table", "`snowbridge records --display-value all` (Table API)"),
    ("export_jsonv2", "`snowbridge records --api jsonv2 --display-value all`"),
    ("export_curl", "one `curl` over the same 100 pages (no parsing)"),
    ("export_pysnc", "pysnc `GlideRecord` iteration (display values: all)"),
):
    wall, mem, cpu, n = export(name)
    rows[name] = (wall, mem, cpu)
    w(f"| {label} | {wall:.2f} s | {100000 / wall:,.0f} | {mem:.1f} MB | {cpu:.2f} s | {n} |")
tw, tm, tc = rows["export_table"]
pw = rows["export_pysnc"][0]
cw, _, cc = rows["export_curl"]
w("")
w(
    f"snowbridge's Table API export: {pw / tw:.1f}x pysnc's throughput, {tw / cw:.2f}x curl's time. "
    f"The emulator spent {tc:.2f} s of CPU serving it ({tc / tw:.0%} of the wall time; "
    f"{cc:.2f} s for curl's pages, {cc / cw:.0%} of curl's wall time)."
)
w("")
w(f"- Target at least 10x pysnc's throughput: {verdict(pw / tw >= 10, f'{pw / tw:.1f}x')}.")
w(f"- Target peak memory under 32 MB: {verdict(tm < 32, f'{tm:.1f} MB')}.")

# 3. import
imp = hyperfine("import.json")
bc3 = hyperfine("import_bc3.json")
ri = load("inproc_import.json")
rk = load("inproc_rookie.json")
si = imp["snowbridge"]
w("")
w("## 3. Chrome import from a 20,000-cookie Chromium profile")
w("")
w("| | whole process | vs snowbridge |")
w("| --- | ---: | ---: |")
w(f"| snowbridge `import-chrome --dry-run` | {si * 1000:.1f} ms | 1.00x |")
w(f"| rookiepy | {imp['rookiepy'] * 1000:.1f} ms | {imp['rookiepy'] / si:.1f}x |")
w(f"| browser_cookie3 | {bc3['browser_cookie3'] * 1000:.1f} ms | {bc3['browser_cookie3'] / si:.1f}x |")
w("")
w(
    f"In-process: snowbridge's `obtain::chrome::import` {ri['median_ms']:.2f} ms "
    f"({ri['items']} cookies), rookiepy's `chromium_based` {rk['median_ms']:.2f} ms ({rk['items']} cookies)."
)
w("")
vs_rookie = imp["rookiepy"] / si
w(f"- Target at least 12x faster than rookiepy whole-process: {verdict(vs_rookie >= 12, f'{vs_rookie:.1f}x')}.")
in_rookie = ri["median_ms"] / rk["median_ms"]
w(f"- Target no slower than rookiepy in-process: {verdict(in_rookie <= 1, f'{in_rookie:.2f}x its time')}.")

# 4, 5. browser
w("")
w("## 4. Headless login, 5. the browser fallback (as itil.user)")
w("")
w("| | snowbridge | Selenium (Python) | ratio |")
w("| --- | ---: | ---: | ---: |")
ok = {}
for name, label in (
    ("login", "`connect --login --headless` / form login + cookies"),
    ("attach", "`attach` (REST refused, then the form's dialog)"),
    ("resolve", "`resolve` (REST refused, then Resolve Incident)"),
):
    a, b = ms_file(f"{name}_snowbridge"), ms_file(f"{name}_selenium")
    ok[name] = a <= b
    w(f"| {label} | {a:.0f} ms | {b:.0f} ms | {a / b:.2f}x |")
w("")
for name in ok:
    w(f"- Target {name} no slower than Selenium: {verdict(ok[name], '')}.")

# 6. client credentials
cc = hyperfine("cc.json")
w("")
w("## 6. Client credentials: a cold connect and the first call")
w("")
w(
    f"snowbridge (`connect` then `api`, two processes) {cc['snowbridge'] * 1000:.1f} ms; pysnc's "
    f"`ServiceNowClientCredentialsFlow` and one query {cc['pysnc'] * 1000:.1f} ms "
    f"({cc['pysnc'] / cc['snowbridge']:.1f}x snowbridge's time)."
)
print("\n".join(out))
