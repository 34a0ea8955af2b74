-- POST /merchant_api/v1/points_events with one point for one customer; counts responses by status.
-- Env: RIVOSIM_BENCH_CUSTOMER (customer_identifier), RIVOSIM_BENCH_KEY (the shop's raw Rivo API key).
-- done() prints "status <code>: <count>" lines that benchmarks/http_load.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  local customer = os.getenv("RIVOSIM_BENCH_CUSTOMER") or "1"
  wrk.method = "POST"
  wrk.body = '{"customer_identifier": "' .. customer .. '", "source": "manual", "points_amount": 1, '
    .. '"credits_amount": 0}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = os.getenv("RIVOSIM_BENCH_KEY") or ""
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for code, n in pairs(counts) do
      totals[code] = (totals[code] or 0) + n
    end
  end
  for code, n in pairs(totals) do
    io.write(string.format("status %d: %d\n", code, n))
  end
end
