"""The Lua scripts: each one a read-decide-write that must not interleave with another process.

Numbers go back to Python as strings where they may have fractions (Redis
truncates Lua numbers to integers in replies).
"""

from __future__ import annotations

# Extend-only cooldown for one deployment; publishes when it changed anything.
# Used by both scripts below, so it is text they share.
_COOL = """
local function cool(cooldowns, failures, deployment, until_, reason, channel, origin, now)
  redis.call('DEL', failures)
  local current = redis.call('HGET', cooldowns, deployment)
  if current then
    local held = cjson.decode(current)
    if tonumber(held['until']) >= until_ then
      return tostring(held['until'])
    end
  end
  -- Forget cooldowns that are over, so the hash stays as small as what is cooling.
  local all = redis.call('HGETALL', cooldowns)
  for i = 1, #all, 2 do
    local entry = cjson.decode(all[i + 1])
    if tonumber(entry['until']) <= now then
      redis.call('HDEL', cooldowns, all[i])
    end
  end
  redis.call('HSET', cooldowns, deployment, cjson.encode({['until'] = until_, reason = reason}))
  redis.call('PUBLISH', channel, cjson.encode({
    kind = 'cooldown', origin = origin, deployment_id = deployment,
    ['until'] = until_, reason = reason}))
  return tostring(until_)
end
"""

# KEYS: cooldowns hash, failures zset of the deployment.
# ARGV: deployment, until, reason, channel, origin, now.
# Returns the deployment's cooldown end after the call.
COOL = (
    _COOL
    + """
return cool(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5],
            tonumber(ARGV[6]))
"""
)

# A failure, counted across the fleet in a sliding window per error class.
# KEYS: cooldowns hash, failures zset of the deployment.
# ARGV: deployment, error class, now, window, allowed, unique member, reason, channel, origin.
# Returns '' when the deployment stays open, else its cooldown end.
FAILURE = (
    _COOL
    + """
local now = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local allowed = tonumber(ARGV[5])
local tag = ARGV[2] .. '|'
redis.call('ZADD', KEYS[2], now, tag .. ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], math.ceil(window * 1000) + 1000)
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if string.sub(member, 1, #tag) == tag then
    count = count + 1
  end
end
if count <= allowed then
  return ''
end
return cool(KEYS[1], KEYS[2], ARGV[1], now + window, ARGV[7], ARGV[8], ARGV[9], now)
"""
)

# Lease up to ARGV[3] requests of this minute's rpm budget.
# KEYS: the deployment's usage hash for the minute (fields r: requests granted, t: tokens).
# ARGV: rpm (-1: none), tpm (-1: none), wanted, expiry in ms.
# Returns {granted, tokens used so far}.
LEASE = """
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local granted = tonumber(ARGV[3])
local used = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or '0')
if tpm >= 0 and tokens >= tpm then
  return {0, tokens}
end
if rpm >= 0 then
  granted = math.min(granted, rpm - used)
end
if granted <= 0 then
  return {0, tokens}
end
redis.call('HINCRBY', KEYS[1], 'r', granted)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {granted, tokens}
"""

# KEYS: the usage hash. ARGV: tokens, expiry in ms. Returns the minute's tokens.
ADD_TOKENS = """
local total = redis.call('HINCRBY', KEYS[1], 't', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return total
"""

# Store (ARGV[2] non-empty) or delete an override, and tell the fleet, in one step.
# KEYS: the overrides hash. ARGV: group, stored JSON or '', channel, message.
# Returns 1 when something changed.
PUT_OVERRIDE = """
local changed
if ARGV[2] == '' then
  changed = redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  changed = 1
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return changed
"""

# Pin a session to a deployment unless another process pinned it elsewhere first.
# KEYS: the pin. ARGV: deployment, the deployment being replaced ('' when none),
# ttl ms, channel, origin, the pin's name (for the message).
# Returns the deployment pinned after the call. A pin that changes what other
# processes may hold is published, so they move too.
PIN = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] and current ~= ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if current ~= ARGV[1] and (current or ARGV[2] ~= '') then
  redis.call('PUBLISH', ARGV[4], cjson.encode({
    kind = 'pin', origin = ARGV[5], key = ARGV[6], deployment_id = ARGV[1]}))
end
return ARGV[1]
"""
