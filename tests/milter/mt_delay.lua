-- mt_delay.lua - StoreCommitDelay: a message past its end of headers is
-- waited for by the writer; one that never comes to end-of-message (abort,
-- disconnect, nothing kept) is let go, so later lone messages wait for
-- nothing (a leaked expectation would make each wait the whole delay)
local t = dofile(srcdir .. "/milter/common.lua")

local function now_ms()
    return tonumber(t.sh("date +%s%3N")) or 0
end

local seq = 0
local function hdrs(to, subject)
    seq = seq + 1
    return t.headers("x@outside.example", to, subject .. " " .. seq, "d" .. seq .. "@outside.example")
end

-- ten lone messages to alice, one connection each: their total time in ms
local function ten_lone(tag)
    local t0 = now_ms()
    for i = 1, 10 do
        local conn = t.connect("192.0.2.70")
        local r = t.send(conn, {qid = tag .. i, from = "<x@outside.example>",
                                rcpts = {"<alice@example.com>"}, headers = hdrs("alice@example.com", tag)})
        mt.disconnect(conn)
        assert(r == SMFIR_ACCEPT, "lone message accepted")
    end
    return now_ms() - t0
end

-- up to end of headers for alice on conn (the milter now expects a record)
local function to_eoh(conn, qid)
    mt.macro(conn, SMFIC_MAIL, "i", qid, "{auth_authen}", "")
    assert(mt.mailfrom(conn, "<x@outside.example>") == nil)
    assert(mt.rcptto(conn, "<alice@example.com>") == nil)
    for _, h in ipairs(hdrs("alice@example.com", qid)) do
        assert(mt.header(conn, h[1], h[2]) == nil)
    end
    assert(mt.eoh(conn) == nil)
end

t.run(function()
    local f = io.open(conf, "a")
    f:write("StoreCommitDelay 100ms\n")
    f:close()
    t.ok(t.reload_and_wait("reloaded:", 1), "StoreCommitDelay 100ms, reloaded")

    local base = ten_lone("B")
    t.ok(base >= 0, "ten lone messages: " .. base .. " ms")

    -- A is past its end of headers; B, a whole message meanwhile, waits
    -- for A (up to the delay) before its commit
    local a = t.connect("192.0.2.71")
    to_eoh(a, "WA")
    local b = t.connect("192.0.2.72")
    local t0 = now_ms()
    local r = t.send(b, {qid = "WB", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
                         headers = hdrs("alice@example.com", "WB")})
    local waited = now_ms() - t0
    t.is(r, SMFIR_ACCEPT, "B accepted")
    t.ok(waited >= 90, "B's commit waited for A, past its end of headers (" .. waited .. " ms)")
    mt.disconnect(b)
    assert(mt.bodystring(a, "Hello.\r\n") == nil)
    assert(mt.eom(a) == nil)
    t.is(mt.getreply(a), SMFIR_ACCEPT, "A accepted")
    mt.disconnect(a)

    -- messages that pass their end of headers and never reach the store
    local c = t.connect("192.0.2.73")
    to_eoh(c, "AB1")
    assert(mt.abort(c) == nil)
    mt.disconnect(c)
    c = t.connect("192.0.2.74")
    to_eoh(c, "DC1")
    assert(mt.bodystring(c, "Hello.\r\n") == nil)
    mt.disconnect(c)
    c = t.connect("192.0.2.75")
    to_eoh(c, "DC2")
    mt.disconnect(c)

    local after = ten_lone("A")
    t.ok(after < base + 500,
         "after aborts and disconnects, lone messages wait for nothing (" .. after ..
         " ms, before " .. base .. " ms; a leak adds 1000)")
    local n = t.nthreads("alice")
    t.ok(n >= 20, "the messages were recorded (" .. n .. " threads)")
end)
