-- wrk script: a duty manager urges complaints picked at random (bench/escalation.py).
-- BENCH_TOKEN is the duty manager's token; BENCH_IDS the complaint ids, comma-separated.
local token = os.getenv("BENCH_TOKEN")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "", "[^,]+") do
  ids[#ids + 1] = id
end
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(os.time() + id * 7919)
end

function request()
  local complaint = ids[math.random(1, #ids)]
  return wrk.format("POST", "/complaints/" .. complaint .. "/actions/urge", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, '{"reason":"客户再次来电催促处理进度"}')
end
