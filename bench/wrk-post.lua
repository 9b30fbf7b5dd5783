-- wrk script for bench/compare.sh: POST an OpenAI chat completion request.
-- Auth and gateway-specific headers are passed with wrk -H on the command line.
wrk.method = "POST"
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"

-- One machine-readable line for compare.sh to parse (latencies in microseconds).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
