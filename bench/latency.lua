-- wrk script: request paths from `paths` (set by the caller through the PATHS env var,
-- separated by spaces, "{n}" replaced by a random issue number up to ISSUES), and print
-- req/s and p50/p95/p99 at the end.
local paths = {}
for path in string.gmatch(os.getenv("PATHS") or "/", "%S+") do
  table.insert(paths, path)
end
local issues = tonumber(os.getenv("ISSUES") or "1")
local cookie = os.getenv("COOKIE") or ""

math.randomseed(42)

request = function()
  local path = paths[math.random(#paths)]
  path = string.gsub(path, "{n}", tostring(math.random(issues)))
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format("requests %d, errors %d (non-2xx/3xx %d)\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
  io.write(string.format("req/s %.1f\n", summary.requests / seconds))
  io.write(string.format("p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
