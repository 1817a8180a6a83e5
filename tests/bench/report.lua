-- report.lua: wrk script that prints one machine-readable summary line,
-- so tests/bench/run.sh does not have to parse wrk's human units.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d bytes=%d duration_us=%d sockerr=%d status_err=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.bytes, summary.duration,
        e.connect + e.read + e.write + e.timeout, e.status,
        latency:percentile(50), latency:percentile(99)))
end
