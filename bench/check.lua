-- wrk script: replays prepared requests in order and checks every answer.
-- args: <requests file> <expected substring>
-- Each line of the requests file: X-Forwarded-For <TAB> bearer token or empty <TAB> body, and optionally
-- <TAB> method <TAB> content type (by default POST and application/json; a GET goes without a body).
-- An answer counts as a success only with a 2xx status (the portal always answers 200; the peer of bench.peer
-- accepts a reset request with 202) and the expected substring in its body.

local prepared = {}
local count = 0
local index = 0
local expect = ""
ok = 0
bad = 0
sample = ""

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expect = args[2]
  for line in io.lines(args[1]) do
    local fields = {}
    for value in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = value
    end
    local xff, auth, body = fields[1], fields[2], fields[3]
    local method, content_type = fields[4] or "POST", fields[5] or "application/json"
    local headers = {
      ["Content-Type"] = content_type,
      ["Accept-Language"] = "ru",
      ["User-Agent"] = "portal-bench",
      ["X-Forwarded-For"] = xff,
    }
    if auth ~= "" then
      headers["Authorization"] = "Bearer " .. auth
    end
    if method == "GET" then
      headers["Content-Type"] = nil
      body = nil
    end
    prepared[#prepared + 1] = wrk.format(method, wrk.path, headers, body)
  end
  count = #prepared
end

function request()
  index = index % count + 1
  return prepared[index]
end

function response(status, headers, body)
  if status >= 200 and status < 300 and string.find(body, expect, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then
      sample = tostring(status) .. " " .. string.sub(body or "", 1, 400):gsub("[\r\n\t]", " ")
    end
  end
end

function done(summary, latency, requests)
  local good, wrong, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    wrong = wrong + thread:get("bad")
    if example == "" then
      example = thread:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT duration_us=%d requests=%d ok=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%d p90=%d p99=%d mean=%d\n",
    summary.duration, summary.requests, good, wrong, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
  io.write("WRK_SAMPLE " .. example .. "\n")
end
