-- wrk script: POST /complaints with a different caller each time (bench/intake.py).
-- The token comes from the BENCH_TOKEN environment variable.
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("BENCH_PATH") or "/complaints"
local descriptions = {
  "上月话费账单多扣了 30 元，客服一直没有回复。",
  "宽带从周一开始断网，报修三次都没有人上门。",
  "The parcel was marked delivered but never arrived; nobody answers the hotline.",
  "营业厅工作人员态度恶劣，办理携号转网被拒绝。",
}
local categories = { "billing", "network", "delivery", "service" }
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  n = 0
end

function request()
  n = n + 1
  local phone = string.format("13%d%08d", 5 + (n % 5), math.random(0, 99999999))
  local k = 1 + (n % 4)
  local body = '{"customer_phone":"' .. phone .. '","channel":"phone","category":"'
    .. categories[k] .. '","severity":"normal","nature":"genuine","description":"'
    .. descriptions[k] .. '"}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
