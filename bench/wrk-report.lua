-- wrk-report.lua: wrk's summary as one line that bench/load.go reads, so
-- nothing parses wrk's human output. Only done() is defined, so wrk sends its
-- prebuilt request without running Lua per request. Latencies are in µs.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"bench-result requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.status, e.connect, e.read, e.write, e.timeout))
end
