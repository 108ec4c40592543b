-- wrk script: POST the body in $BENCH_BODY_FILE with $BENCH_AUTH as the bearer key (and
-- the headers in $BENCH_HEADERS), and print one machine-readable summary line at the end
-- (read by loadgen.py).
-- With $BENCH_NONCE set, every request's body differs: "__NONCE__" in the body is
-- replaced by "$BENCH_NONCE-<n>", n counting requests (one wrk thread: n is unique).
local body_file = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local handle = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = handle:read("*a")
handle:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_AUTH")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
-- $BENCH_HEADERS: more request headers, one "Name: value" a line (a proxy that takes its
-- routing from a header, as Portkey's x-portkey-config, gets it on every request).
local extra = os.getenv("BENCH_HEADERS")
if extra and extra ~= "" then
  for line in extra:gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    assert(name, "BENCH_HEADERS: not a 'Name: value' line: " .. line)
    wrk.headers[name] = value
  end
end

-- A body that also says "__SESSION__" gets one of SESSIONS session ids there, in turn,
-- so a run is many sessions of many turns each (session affinity's steady state).
local SESSIONS = 64
local nonce = os.getenv("BENCH_NONCE")
if nonce and nonce ~= "" then
  local head, tail = wrk.body:match("^(.-)__NONCE__(.*)$")
  assert(head, "BENCH_NONCE is set but the body has no __NONCE__")
  local count = 0
  local before, after = tail:match("^(.-)__SESSION__(.*)$")
  if before then
    request = function()
      count = count + 1
      local session = nonce .. "-s" .. (count % SESSIONS)
      return wrk.format(nil, nil, nil, head .. nonce .. "-" .. count .. before .. session .. after)
    end
  else
    request = function()
      count = count + 1
      return wrk.format(nil, nil, nil, head .. nonce .. "-" .. count .. tail)
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"
      .. "\"errors_connect\":%d,\"errors_read\":%d,\"errors_write\":%d,"
      .. "\"errors_status\":%d,\"errors_timeout\":%d,"
      .. "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
