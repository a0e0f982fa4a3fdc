"""The Lua scripts of the Redis transport, each loaded once and called by SHA.

Lua is how one round trip both takes messages and records who holds them: a script runs
atomically on the server, so there is never a moment where a message is in neither its queue
nor the ``unacked`` structures (issue 3's first reliability rule). redis-py's ``Script`` objects
call ``EVALSHA`` and fall back to ``SCRIPT LOAD`` on ``NOSCRIPT`` (after a Redis restart).

The scripts only *read* envelopes (``cjson.decode``); they never re-encode one, because Redis'
cjson turns ``[]`` into ``{}`` and rounds big integers. Envelopes that must change (the
``redelivered`` flag) are rewritten in Python and handed to ``RELEASE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis
    from redis.commands.core import Script

#: KEYS: unacked, unacked_index, leases, inflight, deadletter, delayed-per-queue (nq of
#: them), bucket...
#: ARGV: now, limit, delayed_batch, nonce, nq, queue-name-per-bucket...
#: Returns a flat list ``item, tag, queue`` per leased message; bad items get a tag that
#: starts with "\0bad:" and are recorded only in the consumer's lease hash.
FETCH = r"""
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local nonce = ARGV[4]
local nq = tonumber(ARGV[5])
for k = 6, 5 + nq do
  local due = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
  for i = #due, 1, -1 do
    local m = due[i]
    local nl = string.find(m, '\n', 1, true)
    if nl then
      redis.call('RPUSH', string.sub(m, nl + 1), string.sub(m, 1, nl - 1))
    else
      redis.call('RPUSH', KEYS[5], cjson.encode({id = nonce .. ':d' .. i, queue = '',
        reason = 'delayed entry without a target queue', time = now, payload = m}))
    end
    redis.call('ZREM', KEYS[k], m)
  end
end
local function slow_fields(item)
  local ok, env = pcall(cjson.decode, item)
  if ok and type(env) == 'table' and type(env['properties']) == 'table' then
    local p = env['properties']
    local di = p['delivery_info']
    if type(di) == 'table' then return p['delivery_tag'], di['exchange'], di['routing_key'] end
    return p['delivery_tag'], nil, nil
  end
  return nil, nil, nil
end
-- Fast path for envelopes laid out as kombu and celeriac write them (properties last, with
-- Python's default separators or compact ones): plain substring search near the end, no
-- JSON parse. Anything unexpected (escapes, other layouts) falls back to cjson.
local function fast_fields(item, tagp, infop, rkp)
  local len = #item
  local s = string.find(item, tagp, len > 200 and len - 200 or 1, true)
  if not s then return nil end
  local e = string.find(item, '"', s + #tagp, true)
  if not e then return nil end
  local d = string.find(item, infop, len > 700 and len - 700 or 1, true)
  if not d then return nil end
  local xe = string.find(item, '"', d + #infop, true)
  if not xe or string.sub(item, xe, xe + #rkp - 1) ~= rkp then return nil end
  local re = string.find(item, '"', xe + #rkp, true)
  if not re then return nil end
  local after = string.byte(item, re + 1)
  local tag = string.sub(item, s + #tagp, e - 1)
  local ex, rk = string.sub(item, d + #infop, xe - 1), string.sub(item, xe + #rkp, re - 1)
  if (after ~= 125 and after ~= 44) or string.find(tag .. ex .. rk, '\\', 1, true) then
    return nil
  end
  return tag, ex, rk
end
local function fields(item)
  local tag, ex, rk = fast_fields(item, '"delivery_tag": "', '"delivery_info": {"exchange": "',
    '", "routing_key": "')
  if tag then return tag, ex, rk end
  tag, ex, rk = fast_fields(item, '"delivery_tag":"', '"delivery_info":{"exchange":"',
    '","routing_key":"')
  if tag then return tag, ex, rk end
  return slow_fields(item)
end
local taken = {}
local function take(item, qname, source)
  local tag, ex, rk = fields(item)
  taken[#taken + 1] = {item, qname, source, tag, ex, rk}
end
local inflight = redis.call('LRANGE', KEYS[4], 0, -1)
if #inflight > 0 then
  for i = #inflight, 1, -1 do take(inflight[i], '', '') end
  redis.call('DEL', KEYS[4])
end
for i = 6 + nq, #KEYS do
  if #taken >= limit then break end
  local items = redis.call('RPOP', KEYS[i], limit - #taken)
  if items then
    for _, item in ipairs(items) do take(item, ARGV[i - nq], KEYS[i]) end
  end
end
local tags = {}
for i, t in ipairs(taken) do tags[i] = (type(t[4]) == 'string' and t[4] ~= '') and t[4] or '' end
local existing = {}
for s = 1, #tags, 1000 do
  local part = redis.call('HMGET', KEYS[1], unpack(tags, s, math.min(s + 999, #tags)))
  for j, v in ipairs(part) do existing[s + j - 1] = v end
end
local out, unacked, index, leases, seen = {}, {}, {}, {}, {}
for i, t in ipairs(taken) do
  local item, qname, source, tag, ex, rk = t[1], t[2], t[3], t[4], t[5], t[6]
  local kind = nil
  if type(tag) ~= 'string' or tag == '' or type(ex) ~= 'string' or type(rk) ~= 'string' then
    kind = '\0bad:'
  elseif seen[tag] or existing[i] then
    kind = '\0bad:dup:'
  end
  if kind then
    tag = kind .. nonce .. ':' .. i
    leases[#leases + 1] = tag
    leases[#leases + 1] = source .. '\n' .. item
  else
    seen[tag] = true
    if qname == '' then qname = rk end
    unacked[#unacked + 1] = tag
    unacked[#unacked + 1] =
      '[' .. item .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']'
    index[#index + 1] = now
    index[#index + 1] = tag
    leases[#leases + 1] = tag
    leases[#leases + 1] = qname
  end
  out[#out + 1] = item
  out[#out + 1] = tag
  out[#out + 1] = qname
end
local function bulk(cmd, key, args)
  for s = 1, #args, 1000 do
    redis.call(cmd, key, unpack(args, s, math.min(s + 999, #args)))
  end
end
if #unacked > 0 then
  bulk('HSET', KEYS[1], unacked)
  bulk('ZADD', KEYS[2], index)
end
if #leases > 0 then bulk('HSET', KEYS[3], leases) end
return out
"""

#: KEYS: unacked, unacked_index, leases.  ARGV: groups of 6:
#: tag, action (lpush|rpush|zadd|drop), target key, payload, score, check_unacked (1|0).
#: A message is moved only if this consumer still holds its lease (and, when checked, it is
#: still in ``unacked``): a peer that restored it meanwhile wins, nothing is duplicated.
RELEASE = r"""
local done = 0
for i = 1, #ARGV, 6 do
  local tag = ARGV[i]
  if redis.call('HDEL', KEYS[3], tag) == 1 then
    local held = 1
    if ARGV[i + 5] == '1' then
      held = redis.call('HDEL', KEYS[1], tag)
      redis.call('ZREM', KEYS[2], tag)
    end
    if held == 1 then
      local action = ARGV[i + 1]
      if action == 'lpush' then
        redis.call('LPUSH', ARGV[i + 2], ARGV[i + 3])
      elseif action == 'rpush' then
        redis.call('RPUSH', ARGV[i + 2], ARGV[i + 3])
      elseif action == 'zadd' then
        redis.call('ZADD', ARGV[i + 2], ARGV[i + 4], ARGV[i + 3])
      end
      done = done + 1
    end
  end
end
return done
"""

#: KEYS: unacked, unacked_index, leases.  ARGV: tags.
#: Only tags this consumer still holds are removed: once a peer restored a message (the tag
#: travels with it) a late ack from a presumed-dead consumer must not delete the new lease.
ACK = r"""
local done = 0
for s = 1, #ARGV, 1000 do
  local part = {unpack(ARGV, s, math.min(s + 999, #ARGV))}
  local held = redis.call('HMGET', KEYS[3], unpack(part))
  local mine = {}
  for i, v in ipairs(held) do if v then mine[#mine + 1] = part[i] end end
  if #mine > 0 then
    redis.call('HDEL', KEYS[3], unpack(mine))
    redis.call('HDEL', KEYS[1], unpack(mine))
    redis.call('ZREM', KEYS[2], unpack(mine))
    done = done + #mine
  end
end
return done
"""

#: KEYS: liveness, consumers, leases, unacked_index.  ARGV: consumer id, ttl ms, now.
#: Marks the consumer alive and re-scores its tags so no visibility-timeout scan (ours or a
#: Celery worker's) takes a message a live consumer is still working on (pitfall §7.6).
HEARTBEAT = r"""
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
local tags = redis.call('HKEYS', KEYS[3])
local args = {}
for _, tag in ipairs(tags) do
  if string.byte(tag, 1) ~= 0 then
    args[#args + 1] = ARGV[3]
    args[#args + 1] = tag
  end
  if #args >= 1000 then
    redis.call('ZADD', KEYS[4], 'XX', unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('ZADD', KEYS[4], 'XX', unpack(args)) end
return #tags
"""

#: KEYS: consumers, own leases, deadletter.
#: ARGV: key prefix, own id, force id ('' = none), sep, now, priority steps ("0,3,6,9").
#: Every registered consumer whose liveness key expired (or ``force id``) hands its leases to
#: the caller in one atomic step; the caller then puts them back on their queues one by one
#: (``RELEASE``), so a crash of the caller midway loses nothing either. Items still in the dead
#: consumer's inflight list (taken by BLMOVE, never leased) go straight back to their bucket.
CLAIM_DEAD = r"""
local steps = {}
for s in string.gmatch(ARGV[6], '%d+') do steps[#steps + 1] = tonumber(s) end
local function bucket_of(item)
  local ok, env = pcall(cjson.decode, item)
  if not ok or type(env) ~= 'table' or type(env['properties']) ~= 'table' then return nil end
  local di = env['properties']['delivery_info']
  if type(di) ~= 'table' or type(di['routing_key']) ~= 'string' then return nil end
  local pri = tonumber(env['properties']['priority']) or 0
  local step = 0
  for _, s in ipairs(steps) do if s <= pri then step = s end end
  if step == 0 then return ARGV[1] .. di['routing_key'] end
  return ARGV[1] .. di['routing_key'] .. ARGV[4] .. step
end
local claimed = 0
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  local dead = (id == ARGV[3])
  if not dead and id ~= ARGV[2] then
    dead = redis.call('EXISTS', ARGV[1] .. 'celeriac.consumer.' .. id) == 0
  end
  if dead then
    local lkey = ARGV[1] .. 'celeriac.leases.' .. id
    local ikey = ARGV[1] .. 'celeriac.inflight.' .. id
    if lkey ~= KEYS[2] then
      local fields = redis.call('HGETALL', lkey)
      for s = 1, #fields, 1000 do
        redis.call('HSET', KEYS[2], unpack(fields, s, math.min(s + 999, #fields)))
      end
      claimed = claimed + #fields / 2
      redis.call('DEL', lkey)
      redis.call('SREM', KEYS[1], id)
    end
    local items = redis.call('LRANGE', ikey, 0, -1)
    for _, item in ipairs(items) do
      local target = bucket_of(item)
      if target then
        redis.call('RPUSH', target, item)
      else
        redis.call('RPUSH', KEYS[3], cjson.encode({id = id .. ':inflight:' .. claimed,
          queue = '', reason = 'undecodable envelope left by a dead consumer',
          time = tonumber(ARGV[5]), payload = item}))
      end
      claimed = claimed + 1
    end
    redis.call('DEL', ikey)
  end
end
return claimed
"""

#: KEYS: deadletter.  ARGV: pairs of (record, target bucket key, payload).
REQUEUE_DEAD = r"""
local moved = 0
for i = 1, #ARGV, 3 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    redis.call('RPUSH', ARGV[i + 1], ARGV[i + 2])
    moved = moved + 1
  end
end
return moved
"""

#: KEYS: mutex.  ARGV: token.  kombu's compare-and-delete release of ``unacked_mutex``.
RELEASE_MUTEX = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Scripts:
    """The registered scripts of one Redis client (SHA computed once, loaded on first use)."""

    def __init__(self, client: Redis) -> None:
        self.fetch: Script = client.register_script(FETCH)
        self.ack: Script = client.register_script(ACK)
        self.release: Script = client.register_script(RELEASE)
        self.heartbeat: Script = client.register_script(HEARTBEAT)
        self.claim_dead: Script = client.register_script(CLAIM_DEAD)
        self.requeue_dead: Script = client.register_script(REQUEUE_DEAD)
        self.release_mutex: Script = client.register_script(RELEASE_MUTEX)


__all__ = ["Scripts"]
