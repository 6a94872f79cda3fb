package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts below make every multi-step change atomic on the server,
// so that two consumers (or a consumer and an admin command) never both
// move, settle or replay the same entry. Each script touches only the keys
// it is given, which share one hash tag, so they also run on Cluster.
//
// Settlement scripts share an argument layout:
//
//	KEYS[1] work stream
//	ARGV[1] group, ARGV[2] consumer, ARGV[3] stream entry id,
//	ARGV[4] delivery count seen when the entry was received
//
// and first check that the entry is still pending for this consumer with
// that delivery count. If it is not, the lease was lost (another consumer,
// or this one on a later Receive, reclaimed the entry) and the script
// changes nothing and returns 0.

// luaOwned is prepended to the settlement scripts.
const luaOwned = `
local function owned()
  local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
  if type(p) ~= 'table' or p.err or #p ~= 1 then return false end
  return tonumber(p[1][4]) == tonumber(ARGV[4])
end
local function settle()
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  redis.call('XDEL', KEYS[1], ARGV[3])
end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// retryScript: ARGV[5] id, ARGV[6] body, ARGV[7] next attempt, ARGV[8]
// delay in ms. KEYS[2] is the delayed set. A delayed retry becomes a member
// "<entry id>\n<attempt>\n<len(id)>\n<id><body>" scored by its due time in
// server milliseconds (the entry id keeps members unique).
var retryScript = goredis.NewScript(luaOwned + `
if not owned() then return 0 end
local delay = tonumber(ARGV[8])
if delay <= 0 then
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[5], 'body', ARGV[6], 'attempt', ARGV[7])
else
  local member = ARGV[3] .. '\n' .. ARGV[7] .. '\n' .. string.len(ARGV[5]) .. '\n' .. ARGV[5] .. ARGV[6]
  redis.call('ZADD', KEYS[2], nowms() + delay, member)
end
settle()
return 1
`)

// releaseScript: ARGV[5] id, ARGV[6] body, ARGV[7] attempt, ARGV[8]
// earlier deliveries without an outcome. The copy is marked redelivered,
// since a consumer already had it.
var releaseScript = goredis.NewScript(luaOwned + `
if not owned() then return 0 end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[5], 'body', ARGV[6], 'attempt', ARGV[7], 'redelivered', '1',
  'prior_deliveries', ARGV[8])
settle()
return 1
`)

// deadScript: KEYS[2] dead-letter stream; ARGV[5] id, ARGV[6] body,
// ARGV[7] attempt, ARGV[8] reason, ARGV[9] dead_at (RFC 3339).
var deadScript = goredis.NewScript(luaOwned + `
if not owned() then return 0 end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[5], 'body', ARGV[6], 'attempt', ARGV[7],
  'reason', ARGV[8], 'dead_at', ARGV[9])
settle()
return 1
`)

// extendScript resets the entry's idle time (XCLAIM to ourselves with
// JUSTID, which leaves the delivery count alone).
var extendScript = goredis.NewScript(luaOwned + `
if not owned() then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// unreadScript gives back an entry that was read into a consumer's buffer
// but never handed out: a verbatim copy goes to the end of the stream.
var unreadScript = goredis.NewScript(luaOwned + `
if not owned() then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e == 1 then redis.call('XADD', KEYS[1], '*', unpack(e[1][2])) end
settle()
return 1
`)

// luaSize is prepended to the scripts that read entries for a consumer.
// KEYS[1] is the work stream, KEYS[3] the dead-letter stream, ARGV[1]
// the group; the caller defines maxb, the limit on a body in bytes.
//
// size(kv) measures an entry's field list: the length of its body (the
// body field, else the value of its only field, else all its fields, as
// the consumer decodes it) and of the whole entry. kill dead-letters an
// entry whose body is over maxb without it leaving Redis: the body is
// copied inside the server, never sent to a client. The dead letter has
// no dead_at field: its stream entry id says when it died.
const luaSize = `
local function size(kv)
  local total, body, only = 0, nil, nil
  for i = 1, #kv, 2 do
    total = total + string.len(kv[i]) + string.len(kv[i + 1])
    if kv[i] == 'body' then body = string.len(kv[i + 1]) end
    only = string.len(kv[i + 1])
  end
  if body == nil then
    if #kv == 2 then body = only else body = total end
  end
  return body, total
end
local function kill(sid, kv, n)
  local f = {}
  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end
  local body = f['body']
  if body == nil then
    if #kv == 2 then body = kv[2] else body = cjson.encode(f) end
  end
  local id = f['id']
  if id == nil or id == '' then id = sid end
  local r = redis.pcall('XADD', KEYS[3], '*', 'id', id, 'body', body, 'attempt', f['attempt'] or '1',
    'reason', 'message of ' .. n .. ' bytes is over the limit of ' .. maxb .. ' (max_message_size)')
  if type(r) == 'table' and r.err then return r.err end
  redis.call('XACK', KEYS[1], ARGV[1], sid)
  redis.call('XDEL', KEYS[1], sid)
  return nil
end
`

// pollScript is one round trip of Receive:
//  1. move due retries from the delayed set (KEYS[2]) to the stream, as
//     far as Redis accepts the writes;
//  2. reclaim entries whose lease expired (idle at least ARGV[3] ms),
//     scanning the pending list after cursor ARGV[5], with their delivery
//     counts;
//  3. read new entries without blocking, up to ARGV[4] in all.
//
// Entries are read one at a time, and reading stops once the bytes read
// (whole entries) would pass the budget ARGV[7] with one more entry of
// the largest size allowed (ARGV[6]); at least one entry is read. An
// entry whose body is over ARGV[6] bytes is dead-lettered (kill) instead
// of returned: it costs the budget, not the client.
//
// Only step 1 and dead-lettering allocate memory. A Redis at maxmemory
// (noeviction) refuses them; the script then leaves those entries where
// they are (a due retry in the delayed set, an oversized entry pending
// until its lease expires) and goes on, since reading, claiming and the
// acks that follow need no memory and free it. The refusal is returned.
//
// It returns {cursor, next due ms or -1, server now ms,
// {{id, fields, count}...} reclaimed, {{id, fields}...} new,
// {{message id, bytes}...} dead-lettered, refused write error or an empty string}.
var pollScript = goredis.NewScript(`
local maxb = tonumber(ARGV[6])
` + luaSize + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[4])
local budget = tonumber(ARGV[7])

local refused = ''
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, m in ipairs(due) do
  local a = string.find(m, '\n', 1, true)
  local b = a and string.find(m, '\n', a + 1, true)
  local c = b and string.find(m, '\n', b + 1, true)
  if c then
    local n = tonumber(string.sub(m, b + 1, c - 1))
    local id = string.sub(m, c + 1, c + n)
    local r = redis.pcall('XADD', KEYS[1], '*', 'id', id, 'body', string.sub(m, c + n + 1),
      'attempt', string.sub(m, a + 1, b - 1))
    if type(r) == 'table' and r.err then
      refused = r.err
      break
    end
  end
  redis.call('ZREM', KEYS[2], m)
end
local nextdue = -1
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #first == 2 then nextdue = tonumber(first[2]) end

local loaded = 0
local killed = {}
local function room()
  return loaded == 0 or loaded + maxb <= budget
end
-- take returns true for an entry to hand out, after killing one too big.
local function take(sid, kv)
  local n, total = size(kv)
  loaded = loaded + total
  if n <= maxb then return true end
  local id = sid
  for i = 1, #kv, 2 do if kv[i] == 'id' and kv[i + 1] ~= '' then id = kv[i + 1] end end
  local err = kill(sid, kv, n)
  if err then
    refused = err
  else
    table.insert(killed, {id, n})
  end
  return false
end

local claimed = {}
local start = '-'
if ARGV[5] ~= '0-0' then start = '(' .. ARGV[5] end
local pend = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], start, '+', want)
local cursor = '0-0'
for i, p in ipairs(pend) do
  if #claimed >= want or not room() then break end
  cursor = p[1]
  local r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], p[1])
  local e = r[1]
  if type(e) == 'table' and type(e[2]) == 'table' then
    if take(e[1], e[2]) then table.insert(claimed, {e[1], e[2], tonumber(p[4]) + 1}) end
  elseif #r == 0 or type(e) ~= 'table' then
    -- Deleted from the stream meanwhile (Redis 6.2 answers nil; 7.0
    -- drops it from the pending list itself).
    redis.call('XACK', KEYS[1], ARGV[1], p[1])
  end
  if i == #pend and #pend < want then cursor = '0-0' end
end

local fresh = {}
while #claimed + #fresh < want and room() do
  local x = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[1], '>')
  if not x then break end
  local e = x[1][2][1]
  if take(e[1], e[2]) then table.insert(fresh, e) end
end
return {cursor, nextdue, now, claimed, fresh, killed, refused}
`)

// killScript dead-letters an entry over the size limit that a blocking
// read returned (the poll script catches all others before they leave
// Redis); settlement layout (luaOwned), and KEYS[3] dead-letter stream,
// ARGV[5] the limit. It returns the body's size, 0 if the lease was lost.
var killScript = goredis.NewScript(`
local maxb = tonumber(ARGV[5])
` + luaOwned + luaSize + `
if not owned() then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e ~= 1 then return 0 end
local n = size(e[1][2])
local err = kill(ARGV[3], e[1][2], n)
if err then return redis.error_reply(err) end
return n
`)

// reapScript deletes consumers of group ARGV[1] that have nothing pending
// and have been idle for at least ARGV[2] ms (only ARGV[3] when it is not
// empty). A consumer with pending entries is never deleted: that would drop
// its entries from the pending list, and they would never be redelivered.
var reapScript = goredis.NewScript(`
local cs = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(cs) ~= 'table' or cs.err then return 0 end
local n = 0
for _, c in ipairs(cs) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and (ARGV[3] == '' or f['name'] == ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
`)

// statsScript: KEYS stream, delayed, dead; ARGV[1] group. Returns {ready,
// in flight, delayed, dead} from one consistent snapshot. Settled entries
// are deleted, so every entry in the stream is either pending or not yet
// delivered.
var statsScript = goredis.NewScript(`
local len = redis.call('XLEN', KEYS[1])
local pending = 0
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(p) == 'table' and not p.err then pending = p[1] end
local ready = len - pending
if ready < 0 then ready = 0 end
return {ready, pending, redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[3])}
`)

// purgeScript: KEYS stream, delayed; ARGV[1] group. Deletes the entries
// the group has not delivered yet (after its last-delivered-id; all of
// them when there is no group) and the delayed set, and returns how many.
var purgeScript = goredis.NewScript(`
local start = '-'
local gs = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(gs) == 'table' and not gs.err then
  for _, g in ipairs(gs) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[1] then start = '(' .. f['last-delivered-id'] end
  end
end
local n = 0
while true do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 500)
  if #batch == 0 then break end
  local ids = {}
  for i, e in ipairs(batch) do ids[i] = e[1] end
  redis.call('XDEL', KEYS[1], unpack(ids))
  n = n + #ids
  start = '(' .. ids[#ids]
end
n = n + redis.call('ZCARD', KEYS[2])
redis.call('DEL', KEYS[2])
return n
`)

// moveDeadScript: KEYS stream, dead; ARGV[1] the mode, then dead-letter
// stream entry ids (modes 0 and 1), or pairs of an entry id and the body
// its copy gets (mode 2). Deletes each entry that still exists, after
// adding its copy to the stream as attempt 1 (modes 1, a replay, and 2, a
// rewritten replay; mode 0 deletes only), and returns their message ids.
var moveDeadScript = goredis.NewScript(`
local out = {}
local mode = tonumber(ARGV[1])
local stride = 1
if mode == 2 then stride = 2 end
for i = 2, #ARGV, stride do
  local e = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])
  if #e == 1 then
    local f = {}
    local kv = e[1][2]
    for j = 1, #kv, 2 do f[kv[j]] = kv[j + 1] end
    local id = f['id']
    if id == nil or id == '' then id = ARGV[i] end
    if mode > 0 then
      local body = f['body'] or ''
      if mode == 2 then body = ARGV[i + 1] end
      redis.call('XADD', KEYS[1], '*', 'id', id, 'body', body, 'attempt', 1)
    end
    redis.call('XDEL', KEYS[2], ARGV[i])
    table.insert(out, id)
  end
end
return out
`)
