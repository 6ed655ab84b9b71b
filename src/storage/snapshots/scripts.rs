//! The Lua scripts of the snapshot store. Each names the snapshot's key and its
//! metadata's (one slot, by the hash tag), and on one Redis the two keys of the
//! layout before it as KEYS[3] and KEYS[4]. Each is hashed once, on first use.

use std::sync::LazyLock;

use redis::Script;

/// The compare-and-set: written only when no job with this sequence number or a
/// higher one has written its snapshot for this datasource. A write that replaces a
/// snapshot of another hash answers with the one it replaced and its format, read in
/// the same script: the schema's changes are those against exactly what this write
/// replaced. ARGV: value, seq, hash, discoveredAt, JSON bytes, jobId, format, index,
/// stored bytes, the index's inflated bytes.
pub static PUT_IF_NEWER: LazyLock<Script> = LazyLock::new(|| Script::new(PUT_IF_NEWER_LUA));
const PUT_IF_NEWER_LUA: &str = r"
local body, meta = KEYS[1], KEYS[2]
local old = #KEYS > 2
if old and redis.call('EXISTS', meta) == 0 and redis.call('EXISTS', KEYS[4]) == 1 then
  body, meta = KEYS[3], KEYS[4]
end
local stored = tonumber(redis.call('HGET', meta, 'seq') or '-1')
local seq = tonumber(ARGV[2])
if stored > seq then
  return {-1, redis.call('HGET', meta, 'jobId') or '', false, ''}
end
if stored == seq then
  return {-2, '', false, ''}
end
local replaced, format = false, ''
local hash = redis.call('HGET', meta, 'hash')
if hash and hash ~= ARGV[3] then
  replaced = redis.call('GET', body)
  format = redis.call('HGET', meta, 'format') or ''
end
local version = tonumber(redis.call('HGET', meta, 'version') or '0') + 1
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'version', version, 'hash', ARGV[3], 'discoveredAt', ARGV[4],
  'bytes', ARGV[5], 'seq', ARGV[2], 'jobId', ARGV[6], 'format', ARGV[7], 'index', ARGV[8],
  'stored', ARGV[9], 'indexBytes', ARGV[10])
if old then
  redis.call('DEL', KEYS[3], KEYS[4])
end
return {version, '', replaced, format}
";

/// The value and its metadata at one moment: {value, {hash, version, discoveredAt,
/// bytes, format, jobId}}, or nil.
pub static GET: LazyLock<Script> = LazyLock::new(|| Script::new(GET_LUA));
const GET_LUA: &str = r"
local body, meta = KEYS[1], KEYS[2]
local value = redis.call('GET', body)
if not value and #KEYS > 2 then
  body, meta = KEYS[3], KEYS[4]
  value = redis.call('GET', body)
end
if not value then
  return false
end
return {value, redis.call('HMGET', meta, 'hash', 'version', 'discoveredAt', 'bytes', 'format', 'jobId')}
";

/// Byte ranges of the value (ARGV after the second: start, inclusive end, ...), only
/// if its version and job are still ARGV[1] and ARGV[2] (a delete starts the version
/// again at 1, the job tells the writes apart); nil otherwise.
pub static GET_RANGES: LazyLock<Script> = LazyLock::new(|| Script::new(GET_RANGES_LUA));
const GET_RANGES_LUA: &str = r"
local now = redis.call('HMGET', KEYS[2], 'version', 'jobId')
if now[1] ~= ARGV[1] or now[2] ~= ARGV[2] then
  return false
end
local out = {}
for i = 3, #ARGV, 2 do
  out[#out + 1] = redis.call('GETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])
end
return out
";
