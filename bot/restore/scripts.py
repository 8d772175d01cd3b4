"""The Lua scripts behind every session change: each read-check-write is one atomic step.

Every script receives one JSON argument ``p`` (prefix, rules, the clock's "now" and the
operation's own parameters) and starts with the shared prelude. The scripts build key names
from the prefix, which carries the ``{restore}`` hash tag (``bot.store.keys``): every key
they touch is in one slot, so each script is one atomic step on a single server, behind
Sentinel and on a Cluster alike; KEYS[1] is the open-sessions index, named only so that a
Cluster client routes the script to that slot's node. The audit entry for a change (in the
session's trail and in the audit stream) is written by the same script as the change. A
decision run again with the same request id (``p.request``) answers what its first run
decided.
"""

from __future__ import annotations

from typing import Final

from bot.restore.session import ALLOWED, FINAL_STATES, IN_FLIGHT_STATES, OPEN_STATES

PRELUDE: Final = r"""
local p = cjson.decode(ARGV[1])
local prefix = p.prefix

local function as_set(list)
  local set = {}
  for _, item in ipairs(list) do set[item] = true end
  return set
end
local OPEN = as_set(p.rules.open)
local IN_FLIGHT = as_set(p.rules.in_flight)
local FINAL = as_set(p.rules.final)
local ALLOWED = {}
for from, targets in pairs(p.rules.allowed) do ALLOWED[from] = as_set(targets) end

-- Every key below shares the prefix's hash tag ({restore}) with KEYS[1], the key the
-- caller names so that Redis Cluster runs the script on the node holding that slot.
local OPEN_KEY = prefix .. 'open'
local FINAL_KEY = prefix .. 'final'
local AUDIT_KEY = prefix .. 'audit'
local function session_key(id) return prefix .. 'session:' .. id end
local function trail_key(id) return prefix .. 'trail:' .. id end
local function facts_key(id) return prefix .. 'facts:' .. id end
local function state_key(state) return prefix .. 'state:' .. state end
local function restore_index_key(restore_id)
  return prefix .. 'by-restore:' .. restore_id
end

local function present(value) return value ~= nil and value ~= cjson.null and value ~= '' end
local function as_table(value) if type(value) == 'table' then return value end return {} end

-- A decision carries its caller's request id. Run again with the same id (the client
-- retrying after a timeout, or the caller settling a click Redis did not confirm), it
-- answers what the first run decided instead of deciding again.
local REQUEST_KEY = nil
local function use_request()
  REQUEST_KEY = nil
  if present(p.request) then REQUEST_KEY = prefix .. 'request:' .. p.request end
end
use_request()
local function replayed()
  if not REQUEST_KEY then return nil end
  local raw = redis.call('GET', REQUEST_KEY)
  if raw then return cjson.decode(raw) end
  return nil
end
local function remember(result)
  if REQUEST_KEY then
    redis.call('SET', REQUEST_KEY, cjson.encode(result), 'EX', p.request_memory)
  end
  return result
end

-- Touch every key a script may write before it writes any. While a Cluster moves this
-- slot to another node, keys already moved make Redis stop the script with "non local key"
-- at the first command that names one; touched first, that happens before any write, so a
-- script runs entirely or not at all and the store runs it again once the move is done.
local STATES = {}
for from, targets in pairs(p.rules.allowed) do
  STATES[from] = true
  for _, to in ipairs(targets) do STATES[to] = true end
end
-- reach({session ids}, restore id, ...): the restore ids may be nil. A batch of decisions
-- (DECIDE_EACH) reaches every key of all of them first and sets REACHED.
local REACHED = false
local SHARED_REACHED = false
local REACHED_IDS = {}
local function reach(ids, ...)
  if REACHED then return end
  if not SHARED_REACHED then
    redis.call('EXISTS', OPEN_KEY, FINAL_KEY, AUDIT_KEY)
    for state, _ in pairs(STATES) do redis.call('EXISTS', state_key(state)) end
    SHARED_REACHED = true
  end
  if REQUEST_KEY then redis.call('EXISTS', REQUEST_KEY) end
  for _, id in ipairs(ids) do
    if not REACHED_IDS[id] then
      redis.call('EXISTS', session_key(id), trail_key(id), facts_key(id))
      REACHED_IDS[id] = true
    end
  end
  for i = 1, select('#', ...) do
    local restore_id = select(i, ...)
    if type(restore_id) == 'string' and restore_id ~= '' then
      redis.call('EXISTS', restore_index_key(restore_id))
    end
  end
end
local function restore_of(doc) if doc then return doc.restore_id end return nil end

local function load(id)
  local raw = redis.call('GET', session_key(id))
  if not raw then return nil end
  return cjson.decode(raw)
end

-- A refusal on an unknown id goes only to the global stream: guessed ids must not create keys.
-- A session's own trail is capped, and refusals (clicks nobody may make can come in any
-- number) go to it only while it is short, so they can never push its decisions out.
local function audit(id, known, actor, action, outcome, from, to, detail)
  local fields = {'at', p.now, 'session', id, 'actor', actor, 'action', action,
                  'outcome', outcome, 'from', from or '', 'to', to or '', 'detail', detail or ''}
  redis.call('XADD', AUDIT_KEY, 'MAXLEN', '~', p.audit_maxlen, '*', unpack(fields))
  if not known then return end
  local trail = trail_key(id)
  if outcome == 'refused' and redis.call('XLEN', trail) >= p.trail_refusals then return end
  redis.call('XADD', trail, 'MAXLEN', p.trail_maxlen, '*', unpack(fields))
end

local function due(doc)
  if not OPEN[doc.state] then return false end
  local deadline = redis.call('ZSCORE', OPEN_KEY, doc.session_id)
  return deadline ~= false and p.now_epoch >= tonumber(deadline)
end

local function reset_deadline(doc)
  doc.decision_deadline = p.deadline
  redis.call('ZADD', OPEN_KEY, p.deadline_epoch, doc.session_id)
end

local function move(doc, to)
  doc.state = to
  doc.version = doc.version + 1
  doc.updated_at = p.now
  if OPEN[to] then reset_deadline(doc) end
  if IN_FLIGHT[to] then doc.intent_at = p.now end
end

local function save(doc, previous_state)
  local id = doc.session_id
  local key = session_key(id)
  redis.call('SET', key, cjson.encode(doc))
  if previous_state and previous_state ~= doc.state then
    redis.call('SREM', state_key(previous_state), id)
  end
  if FINAL[doc.state] then
    redis.call('ZREM', OPEN_KEY, id)
    -- Forgotten by the sweep (FORGET) once retention has passed on the injected clock; the
    -- TTLs only clean up what a sweep never reaches.
    redis.call('ZADD', FINAL_KEY, 'NX', p.now_epoch, id)
    redis.call('EXPIRE', key, p.retention_seconds)
    redis.call('EXPIRE', trail_key(id), p.retention_seconds)
    redis.call('EXPIRE', facts_key(id), p.retention_seconds)
    if present(doc.restore_id) then
      redis.call('EXPIRE', restore_index_key(doc.restore_id), p.retention_seconds)
    end
  else
    redis.call('SADD', state_key(doc.state), id)
    if not OPEN[doc.state] then redis.call('ZREM', OPEN_KEY, id) end
  end
end

local function expire(doc)
  local from = doc.state
  local missed = doc.decision_deadline
  move(doc, 'EXPIRED')
  doc.outcome = p.expired_outcome
  save(doc, from)
  audit(doc.session_id, true, p.system_actor, p.expired_action, 'ok', from, 'EXPIRED',
        'no decision by ' .. tostring(missed))
end
"""

# The end of TRANSITION and ANSWER: ARGV[1] holds what every decision shares (prefix,
# rules, the clock), each later argument one decision's own parameters (session, actor,
# request id...), and ``decide()`` is run for each in turn, each seeing the changes of the
# ones before it: a batch decides exactly as the same calls one after another would, in
# one round trip. Every key any of them may write is touched before the first of them
# writes (see ``reach``), so a batch that meets a moving Cluster slot writes nothing.
DECIDE_EACH: Final = r"""
local REFUSED_BY_REDIS = as_set({'READONLY', 'OOM', 'MISCONF', 'NOREPLICAS', 'MASTERDOWN',
                                 'LOADING', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN'})
local shared = p
local batch = {}
for i = 2, #ARGV do
  batch[i - 1] = setmetatable(cjson.decode(ARGV[i]), {__index = shared})
end
-- Nothing is written yet, so each session is read once however many decisions it has.
local before = {}
for _, own in ipairs(batch) do
  p = own
  use_request()
  local id = p.session_id
  if before[id] == nil then before[id] = load(id) or false end
  reach({id}, restore_of(before[id]), as_table(p.updates).restore_id)
end
REACHED = true
local answers = {}
for i, own in ipairs(batch) do
  p = own
  use_request()
  local decided, answer = pcall(decide)
  if decided then
    answers[i] = answer
  elseif i == 1 and type(answer) == 'string' and REFUSED_BY_REDIS[string.match(answer, '^%u+')] then
    -- Redis itself refused the batch's first write (READONLY on a primary demoted by a
    -- failover, OOM, MISCONF...): nothing is written yet, and the script answers with that
    -- error, as a script of its own would, so the client reacts to it as such (a Sentinel
    -- client reconnects to the new primary) and every decision of the batch is asked again.
    return redis.error_reply(answer)
  else
    -- A decision this script could not make fails alone, as it would have in a script of
    -- its own: {'error', why} in its place, the decisions before it made and answered.
    answers[i] = {'error', tostring(answer)}
  end
end
return answers
"""

CREATE: Final = r"""
local seen = replayed()
if seen then return seen end
local doc = p.session
reach({doc.session_id})
if redis.call('EXISTS', session_key(doc.session_id)) == 1 then return 0 end
reset_deadline(doc)
save(doc, nil)
audit(doc.session_id, true, doc.requester, p.action, 'ok', '', doc.state, p.detail)
return remember(1)
"""

ATTACH_CARD: Final = r"""
local doc = load(p.session_id)
if not doc then return 0 end
reach({p.session_id}, doc.restore_id)
doc.channel = p.channel
doc.card_ts = p.card_ts
doc.updated_at = p.now
save(doc, doc.state)
return 1
"""

# One decision per argument after the first: {ok, reason, previous_state, session_json,
# expired_now} each, in order (see DECIDE_EACH).
TRANSITION: Final = (
    r"""
local function decide()
local seen = replayed()
if seen then return seen end
local id, to = p.session_id, p.to
local doc = load(id)
reach({id}, restore_of(doc), as_table(p.updates).restore_id)
if not doc then
  audit(id, false, p.actor, p.action, 'refused', '', to, 'unknown')
  return {0, 'unknown', '', '', 0}
end
local previous = doc.state
local expired_now = 0
-- An explicit move to EXPIRED that is due is simply that move, recorded under its actor.
if to ~= 'EXPIRED' and due(doc) then
  expire(doc)
  expired_now = 1
end

local reason = nil
if doc.state == 'EXPIRED' then reason = 'expired'
elseif FINAL[doc.state] then reason = 'finished'
elseif not as_set(p.expected)[doc.state] or not ALLOWED[doc.state][to] then reason = 'wrong_state'
end
if reason then
  audit(id, true, p.actor, p.action, 'refused', doc.state, to, reason)
  local refused = {0, reason, previous, cjson.encode(doc), expired_now}
  -- Expiring the session was a change: a replay must report it, to its one reporter.
  if expired_now == 1 then return remember(refused) end
  return refused
end

local old_restore_id = doc.restore_id
for field, value in pairs(p.updates) do doc[field] = value end
if doc.restore_id ~= old_restore_id then
  if present(old_restore_id) and redis.call('GET', restore_index_key(old_restore_id)) == id then
    redis.call('DEL', restore_index_key(old_restore_id))
  end
  if present(doc.restore_id) then redis.call('SET', restore_index_key(doc.restore_id), id) end
end
move(doc, to)
save(doc, previous)
audit(id, true, p.actor, p.action, 'ok', previous, to, p.detail)
if to == 'EXPIRED' then expired_now = 1 end
return remember({1, '', previous, cjson.encode(doc), expired_now})
end
"""
    + DECIDE_EACH
)

# One answer per argument after the first: {ok, reason, previous_state, session_json,
# expired_now, answered_by, consents_json} each, in order (see DECIDE_EACH).
ANSWER: Final = (
    r"""
local function decide()
local seen = replayed()
if seen then return seen end
local id, check, consent = p.session_id, p.check, p.consent
local detail = check .. ' = ' .. consent
local doc = load(id)
reach({id}, restore_of(doc))
if not doc then
  audit(id, false, p.actor, p.action, 'refused', '', '', detail .. ' (unknown)')
  return {0, 'unknown', '', '', 0, '', ''}
end
local previous = doc.state
local expired_now = 0
if due(doc) then
  expire(doc)
  expired_now = 1
end
local function refuse(reason, answered_by)
  audit(id, true, p.actor, p.action, 'refused', doc.state, '', detail .. ' (' .. reason .. ')')
  local refused = {0, reason, previous, cjson.encode(doc), expired_now, answered_by or '', ''}
  if expired_now == 1 then return remember(refused) end
  return refused
end

if doc.state == 'EXPIRED' then return refuse('expired') end
if FINAL[doc.state] then return refuse('finished') end
if doc.state ~= 'AWAITING_CONSENT' then return refuse('wrong_state') end
local checks = as_table(doc.failed_checks)
local known = false
for _, failed in ipairs(checks) do
  if failed.check == check then known = true end
end
if not known then return refuse('unknown_check') end
local answers = as_table(doc.answers)
if answers[check] then return refuse('already_answered', answers[check].by) end
if not as_set(p.valid_consents)[consent] then return refuse('invalid_consent') end

answers[check] = {consent = consent, by = p.actor, at = p.now}
doc.answers = answers

local consents, seen, complete = {}, {}, true
for _, failed in ipairs(checks) do
  local answer = answers[failed.check]
  if not answer then
    complete = false
  elseif not seen[failed.check] then
    seen[failed.check] = true
    table.insert(consents, answer.consent)
  end
end

if complete then
  move(doc, 'REVALIDATING')
  save(doc, previous)
  audit(id, true, p.actor, p.action, 'ok', previous, previous, detail)
  audit(id, true, p.actor, p.complete_action, 'ok', previous, 'REVALIDATING',
        table.concat(consents, ','))
  return remember({1, '', previous, cjson.encode(doc), 0, '', cjson.encode(consents)})
end
doc.version = doc.version + 1
doc.updated_at = p.now
reset_deadline(doc)
save(doc, previous)
audit(id, true, p.actor, p.action, 'ok', previous, previous, detail)
return remember({1, '', previous, cjson.encode(doc), 0, '', ''})
end
"""
    + DECIDE_EACH
)

RECORD_REFUSAL: Final = r"""
local doc = load(p.session_id)
reach({p.session_id})
local from = ''
if doc then from = doc.state end
audit(p.session_id, doc ~= nil, p.actor, p.action, 'refused', from, '', p.reason)
return 1
"""

# Returns {number of due ids looked at, expired session json...}.
EXPIRE_DUE: Final = r"""
local seen = replayed()
if seen then return seen end
local ids = redis.call('ZRANGEBYSCORE', OPEN_KEY, '-inf', p.now_epoch, 'LIMIT', 0, p.batch)
local docs = {}
for i, id in ipairs(ids) do
  docs[i] = load(id)
  reach({id}, restore_of(docs[i]))
end
local result = {#ids}
for i, id in ipairs(ids) do
  local doc = docs[i]
  if doc and OPEN[doc.state] then
    expire(doc)
    table.insert(result, cjson.encode(doc))
  else
    redis.call('ZREM', OPEN_KEY, id)
  end
end
if #result > 1 then return remember(result) end
return result
"""

RULES: Final = {
    "allowed": {state.value: sorted(targets) for state, targets in ALLOWED.items()},
    "open": sorted(OPEN_STATES),
    "in_flight": sorted(IN_FLIGHT_STATES),
    "final": sorted(FINAL_STATES),
}


# Forgets final sessions that ended at least ``retention_seconds`` ago on the injected clock:
# the session, its audit trail, its backup facts and its restore index entry (if still
# its own). Returns how many of the at most ``batch`` due ids it looked at.
FORGET: Final = r"""
local cutoff = p.now_epoch - p.retention_seconds
local ids = redis.call('ZRANGEBYSCORE', FINAL_KEY, '-inf', cutoff, 'LIMIT', 0, p.batch)
local docs = {}
for i, id in ipairs(ids) do
  docs[i] = load(id)
  reach({id}, restore_of(docs[i]))
end
for i, id in ipairs(ids) do
  local doc = docs[i]
  if doc and present(doc.restore_id) then
    local index = restore_index_key(doc.restore_id)
    if redis.call('GET', index) == id then redis.call('DEL', index) end
  end
  redis.call('DEL', session_key(id), trail_key(id), facts_key(id))
  redis.call('ZREM', FINAL_KEY, id)
end
return #ids
"""

__all__ = [
    "ANSWER",
    "ATTACH_CARD",
    "CREATE",
    "EXPIRE_DUE",
    "FORGET",
    "PRELUDE",
    "RECORD_REFUSAL",
    "RULES",
    "TRANSITION",
]
