-- GCRA over several buckets, all or nothing; modelled on rwz/redis-gcra.
-- A bucket stores its theoretical arrival time (TAT, µs on the Redis clock)
-- and the emission interval and burst it was computed with ("tat iv burst";
-- a bare TAT is read with the request's); it is full when TAT <= now and
-- expires then. A bucket whose interval or burst changed (a reload) keeps
-- its tokens up to the new burst, as the in-memory store does: tokens =
-- burst - (TAT - now) / iv, so TAT' = now + (burst' - min(tokens, burst')) * iv'.
-- KEYS[i]: bucket i. ARGV[4i-3 .. 4i]: emission interval (µs per unit),
-- burst, cost (negative refunds), debt ("1": charge even into debt).
-- Returns {allowed, index, burst, remaining, reset_us, retry_us}.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats, specs, before, after = {}, {}, {}, {}
local deny, wait = 0, 0.001
-- read returns a bucket's TAT in the request's interval and burst.
local function read(key, iv, burst)
  local v = redis.call('GET', key)
  if not v then return now end
  local tat, oiv, oburst = string.match(v, '^(%S+) (%S+) (%S+)$')
  if not tat then return math.max(now, tonumber(v) or now) end
  tat, oiv, oburst = math.max(now, tonumber(tat) or now), tonumber(oiv), tonumber(oburst)
  if oiv == nil or oburst == nil or oiv <= 0 or (oiv == iv and oburst == burst) then return tat end
  local tokens = math.min(oburst - (tat - now) / oiv, burst)
  return math.max(now, now + (burst - tokens) * iv)
end
for i, key in ipairs(KEYS) do
  local iv, burst, cost = tonumber(ARGV[4*i-3]), tonumber(ARGV[4*i-2]), tonumber(ARGV[4*i-1])
  local tat = tats[key]
  if tat == nil then tat = read(key, iv, burst) end
  specs[key] = ARGV[4*i-3] .. ' ' .. ARGV[4*i-2]
  -- a cost above the burst needs a full bucket and overdraws it
  local at = tat - (burst - math.min(cost, burst)) * iv
  if cost > 0 and ARGV[4*i] ~= '1' and at - now > wait then deny, wait = i, at - now end
  before[i], after[i] = tat, math.max(now, tat + cost * iv)
  tats[key] = after[i]
end
local function describe(i, tat, retry)
  local iv, burst = tonumber(ARGV[4*i-3]), tonumber(ARGV[4*i-2])
  local left = math.max(0, math.floor(burst - (tat - now) / iv + 1e-9))
  return {retry == 0 and 1 or 0, i, burst, left, math.ceil(tat - now), math.ceil(retry)}
end
if deny > 0 then return describe(deny, before[deny], wait) end
local tight, frac = 1, -math.huge
for i = 1, #KEYS do
  local f = (after[i] - now) / (tonumber(ARGV[4*i-2]) * tonumber(ARGV[4*i-3]))
  if f > frac then tight, frac = i, f end -- the least left, as a fraction of the burst
end
for key, tat in pairs(tats) do
  if tat > now then
    redis.call('SET', key, string.format('%.17g', tat) .. ' ' .. specs[key], 'PX', math.ceil((tat - now) / 1000))
  else
    redis.call('DEL', key)
  end
end
return describe(tight, after[tight], 0)
