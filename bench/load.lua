-- wrk script for bench/run. The caller sets, through the environment:
--   PATHS    request paths separated by spaces; "{issue}" becomes a random issue number
--            up to ISSUES, "{page}" a random page id from PAGE_FIRST to PAGE_LAST
--   METHOD   GET (default) or POST, with BODY as JSON ("{n}" in it a running number)
--   COOKIE   the session cookie, or TOKEN for an API bearer token
-- and it prints one line: "result <req/s> <p50 ms> <p95 ms> <p99 ms> <errors> <non-2xx/3xx>".
local paths = {}
for path in string.gmatch(os.getenv("PATHS") or "/", "%S+") do
  table.insert(paths, path)
end
local issues = tonumber(os.getenv("ISSUES") or "1")
local page_first = tonumber(os.getenv("PAGE_FIRST") or "1")
local page_last = tonumber(os.getenv("PAGE_LAST") or "1")
local method = os.getenv("METHOD") or "GET"
local body = os.getenv("BODY")
local headers = {}
if os.getenv("COOKIE") then headers["Cookie"] = os.getenv("COOKIE") end
if os.getenv("TOKEN") then headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
if body then headers["Content-Type"] = "application/json" end

local counter = 0
local thread_seed = 1
setup = function(thread)
  thread:set("thread_seed", thread_seed)
  thread_seed = thread_seed + 1
end
init = function()
  math.randomseed(42 + thread_seed)
end

request = function()
  counter = counter + 1
  local path = paths[math.random(#paths)]
  path = string.gsub(path, "{issue}", function() return tostring(math.random(issues)) end)
  path = string.gsub(path, "{page}", function() return tostring(math.random(page_first, page_last)) end)
  local payload = body and string.gsub(body, "{n}", tostring(counter)) or nil
  return wrk.format(method, path, headers, payload)
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("result %.1f %.2f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors, summary.errors.status))
end
