"""A load generator that is not the bottleneck: Debian's ``wrk`` (C, epoll) fed pre-signed requests.

Every request is prepared before the run (path, headers, body — e.g. a payment with a signed
authorization) and written one per line to a file; a Lua script hands each ``wrk`` thread its own
slice and stops the thread when its slice is used up, so every prepared request is sent exactly once.
Each thread counts answers by status; ``run`` returns those counts and wrk's own latency figures.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = r"""
local requests, counter, threads = {}, 0, {}
-- wrk gives each thread its own Lua state: ``id`` (set in setup) selects the thread's slice.
local file_name, thread_count = os.getenv("WRK_REQUESTS"), tonumber(os.getenv("WRK_THREADS"))

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = 0
  for line in io.lines(file_name) do
    if n % thread_count == id then
      local path, headers_json, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      for k, v in headers_json:gmatch('"([^"]+)":"([^"]*)"') do headers[k] = v end
      table.insert(requests, wrk.format("POST", path, headers, body))
    end
    n = n + 1
  end
  next_index, statuses, sent = 1, {}, 0
end

-- A connection that finds the slice used up sends a cheap GET of the filler path until the last
-- prepared answer is in (wrk cannot leave a connection idle); filler answers (200) are not counted.
filler = wrk.format("GET", os.getenv("WRK_FILLER"))

function request()
  -- wrk calls request() once per thread before connecting, to check the script's request:
  -- answer that call with the filler so that no prepared request is used up unsent.
  if not verified then verified = true; return filler end
  local r = requests[next_index]
  if r == nil then return filler end
  next_index = next_index + 1
  return r
end

function response(status, headers, body)
  if status == 200 then return end
  statuses[status] = (statuses[status] or 0) + 1
  answered = (answered or 0) + 1
  if answered == #requests then
    -- wrk's main thread sleeps for the whole -d duration: tell the caller this slice is done,
    -- and it interrupts wrk (SIGINT) once every thread is, which ends the run with the summary.
    local marker = io.open(os.getenv("WRK_DONE_DIR") .. "/done-" .. id, "w")
    marker:close()
  end
end

function done(summary, latency, requests_stats)
  local merged = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, c in pairs(s) do merged[tostring(status)] = (merged[tostring(status)] or 0) + c end
  end
  local parts = {}
  for status, c in pairs(merged) do table.insert(parts, string.format('"%s": %d', status, c)) end
  io.write(string.format('WRK_RESULT {"statuses": {%s}, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_timeout": %d}\n', table.concat(parts, ", "),
    summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.connect,
    summary.errors.read, summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class Prepared:
    """One request to send: path, headers and a JSON body (no tabs or newlines in any of them)."""

    path: str
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class WrkResult:
    """What wrk reported: answers by status, wall time of the run, answer latency percentiles, socket errors."""

    statuses: dict[int, int]
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    """The ``wrk`` executable (Debian's package; installed with apt-get when missing and root).

    Raises:
        RuntimeError: not installed and cannot be.
    """
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)  # noqa: S607
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: apt-get install wrk (Debian's package)")
    return found


def run(base_url: str, prepared: Iterable[Prepared], *, connections: int, threads: int = 2,
        timeout_s: int = 30, max_duration_s: int = 600, filler: str = "/healthz",
        on_start: Callable[[subprocess.Popen[str]], None] | None = None) -> WrkResult:
    """Send every prepared request once over ``connections`` keep-alive connections; wait for wrk.

    Prepared requests must not be answered 200 (the filler's answer, which is not counted): the
    payment routes answer 202 or an error. ``on_start`` gets the running process (e.g. to sample its
    CPU time).
    """
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="machi-wrk-"))
    lines = workdir / "requests.tsv"
    with lines.open("w") as out:
        for request in prepared:
            out.write(f"{request.path}\t{json.dumps(request.headers, separators=(',', ':'))}\t{request.body}\n")
    script = workdir / "requests.lua"
    script.write_text(_SCRIPT)
    threads = max(1, min(threads, connections))
    process = subprocess.Popen(  # noqa: S603 - our own argv
        [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max_duration_s}s", "--timeout", f"{timeout_s}s",
         "-s", str(script), base_url],
        env={"WRK_REQUESTS": str(lines), "WRK_THREADS": str(threads), "WRK_FILLER": filler,
             "WRK_DONE_DIR": str(workdir), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if on_start is not None:
        on_start(process)
    started = time.monotonic()
    while process.poll() is None and len(list(workdir.glob("done-*"))) < threads:
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    output, _ = process.communicate()
    shutil.rmtree(workdir, ignore_errors=True)
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            data = json.loads(line.removeprefix("WRK_RESULT "))
            result = WrkResult(
                statuses={int(k): v for k, v in data["statuses"].items()},
                duration_s=elapsed, p50_ms=data["p50_us"] / 1e3, p99_ms=data["p99_us"] / 1e3,
                errors=data["errors_connect"] + data["errors_read"] + data["errors_timeout"],
            )
            return result
    raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
