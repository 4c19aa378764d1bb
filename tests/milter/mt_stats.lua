-- mt_stats.lua - crmsyncctl stats shows the milter's own figures (issue 10):
-- messages seen, synced, skipped by reason, accepted with no owner, the
-- policy's users; written by the status thread, here on SIGUSR1
local t = dofile(srcdir .. "/milter/common.lua")

local function send(qid, rcpt, subject)
    local conn = t.connect("192.0.2.70")
    local r = t.send(conn, {
        qid = qid, from = "<x@outside.example>", rcpts = {rcpt},
        headers = t.headers("x@outside.example", rcpt:gsub("[<>]", ""), subject,
                            qid .. "@outside.example")})
    mt.disconnect(conn)
    return r
end

-- the one host's status document (its name may hold dots, which jget's
-- paths cannot), or nil
local function host_status(stats)
    local m = t.jget(stats, "milter")
    if m == nil then return nil end
    return m:match('^{"[^"]*":(.*)}$')
end

-- SIGUSR1 reloads and writes the status at once; wait until want() holds
local function flush_and_wait(want)
    os.execute("kill -USR1 " .. pid)
    for _ = 1, 50 do
        local s = host_status(t.ctl("stats"))
        if s and want(s) then return s end
        mt.sleep(0.1)
    end
    return host_status(t.ctl("stats"))
end

t.run(function()
    -- the socket is up before the store and the reload thread: wait for both
    for _ = 1, 100 do
        if t.sh("grep -c 'starting: socket' " .. tmp .. "/milter.log"):match("^[1-9]") then break end
        mt.sleep(0.1)
    end
    -- the status at start, before any mail
    local s = flush_and_wait(function(s) return t.jget(s, "policy.reloads") == "1" end)
    t.ok(s ~= nil, "stats has a milter status for this host")
    s = s or "{}"
    t.is(t.jget(s, "running"), "true", "the milter is running")
    t.is(t.jget(s, "since_start.seen"), "0", "no mail seen yet")
    t.is(t.jget(s, "policy.users"), "3", "policy users: alice, bob, carol")
    t.ok(tonumber(t.jget(s, "policy.load_ms") or "-1") >= 0, "policy load time in ms")
    t.ok((t.jget(s, "policy.loaded_at") or ""):match("^%d+%-%d+%-%d+T") ~= nil,
         "policy loaded_at is an ISO date")
    t.is(t.jget(s, "policy.rules_errors", true), "0", "no rules-error users")
    t.ok((t.jget(s, "updated_at") or ""):match("Z$") ~= nil, "the store adds updated_at")

    t.is(send("S1", "<alice@example.com>", "Synced one"), SMFIR_ACCEPT, "mail to alice accepted")
    t.is(send("S2", "<carol@example.com>", "Carol is Sync off"), SMFIR_ACCEPT,
         "mail to carol (Sync off) accepted")
    t.is(send("S3", "<nobody@elsewhere.example>", "To nobody"), SMFIR_ACCEPT,
         "mail to nobody accepted")
    t.is(send("S1", "<alice@example.com>", "Synced one"), SMFIR_ACCEPT,
         "the same message to alice again")

    s = flush_and_wait(function(s) return t.jget(s, "since_start.seen") == "4" end) or "{}"
    for _, w in ipairs({
        {"since_start.seen", "4", "seen: every message at end of headers"},
        {"since_start.no_owner", "1", "no_owner: the mail to nobody"},
        {"since_start.recorded", "2", "recorded: alice's message, twice"},
        {"since_start.synced", "1", "synced: alice's copy"},
        {"since_start.duplicates", "1", "duplicates: alice's copy again (T2)"},
        {"since_start.skipped.mode-off", "1", "skipped mode-off: carol's copy"},
        {"since_start.skipped.no-label", "0", "skipped no-label: none"},
        {"since_start.failures", "0", "no failures"},
        {"last_hour.seen", "4", "last hour: the same four"},
        {"last_hour.skipped.mode-off", "1", "last hour: carol's skip"},
        {"policy.reloads", "2", "two reloads (the SIGUSR1s)"},
    }) do
        t.is(t.jget(s, w[1]), w[2], w[3])
    end

    -- no WebhookURL here: events are kept, not sent, and none is pending
    -- (X3; issue #16 point 7)
    local all = t.ctl("stats")
    local kept = tonumber(t.jget(all, "events.kept") or "0")
    t.ok(kept >= 2, "events.kept counts the outbox (" .. kept .. ")")
    t.is(t.jget(all, "events.pending"), "0", "events.pending is 0 without a webhook")
    t.is(t.jget(all, "events_pending"), "0", "events_pending is 0 without a webhook")
    t.is(t.jget(all, "events_kept"), tostring(kept), "events_kept is events.kept")
    t.is(t.jget(all, "events.webhook"), "false", "events.webhook says they are not sent")

    -- a broken Sieve script: its user is listed with the error
    local f = io.open(tmp .. "/bad.sieve", "w")
    f:write('require "fileinto";\nif header :contains "Subject" "x" { fileinto "X" \n')
    f:close()
    f = io.open(tmp .. "/policy/users.policy", "a")
    f:write("\nUser dave\nAddress dave@example.com\nRules " .. tmp .. "/bad.sieve\n")
    f:close()
    s = flush_and_wait(function(s) return t.jget(s, "policy.users") == "4" end) or "{}"
    t.is(t.jget(s, "policy.rules_errors", true), "1", "one rules-error user")
    t.is(t.jget(s, "policy.rules_errors[0].user"), "dave", "it is dave")
    t.ok((t.jget(s, "policy.rules_errors[0].error") or ""):match("bad%.sieve") ~= nil,
         "with the script's error")

    -- a refused reload is counted with its reason; the old policy stays
    f = io.open(tmp .. "/policy/users.policy", "a")
    f:write("Sync sometimes\n")
    f:close()
    s = flush_and_wait(function(s) return t.jget(s, "policy.reload_failures") == "1" end) or "{}"
    t.is(t.jget(s, "policy.reload_failures"), "1", "a refused reload is counted")
    t.ok((t.jget(s, "policy.last_error") or ""):match("users%.policy:%d+") ~= nil,
         "last_error names file:line")
    t.is(t.jget(s, "policy.users"), "4", "the running policy stays")
end)
