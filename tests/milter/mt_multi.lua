-- mt_multi.lua - several messages on one connection, abort mid-message
-- (per-message context reset at envfrom, eom and abort)
local t = dofile(srcdir .. "/milter/common.lua")
t.run(function()
    local conn = t.connect("192.0.2.10")
    for i = 1, 3 do
        local r = t.send(conn, {
            qid = "MULTI" .. i, from = "<customer@outside.example>",
            rcpts = {"<alice@example.com>", "<bob@example.com>"},
            headers = t.headers("Customer <customer@outside.example>",
                                "alice@example.com, bob@example.com",
                                "Offer " .. i, "multi" .. i .. "@outside.example"),
            body = "Message " .. i .. "\r\n"})
        t.is(r, SMFIR_ACCEPT, "message " .. i .. " on one connection accepted")
    end
    -- start a fourth, abort it after its headers
    mt.macro(conn, SMFIC_MAIL, "i", "ABORTED")
    mt.mailfrom(conn, "<customer@outside.example>")
    mt.rcptto(conn, "<alice@example.com>")
    for _, h in ipairs(t.headers("customer@outside.example", "alice@example.com",
                                 "Aborted one", "aborted@outside.example")) do
        mt.header(conn, h[1], h[2])
    end
    mt.eoh(conn)
    mt.bodystring(conn, "partial")
    t.ok(mt.abort(conn) == nil, "abort mid-message")
    -- the connection goes on: the next message must not inherit anything
    local r = t.send(conn, {
        qid = "AFTER", from = "<other@outside.example>", rcpts = {"<bob@example.com>"},
        headers = t.headers("other@outside.example", "bob@example.com", "After abort",
                            "after@outside.example")})
    t.is(r, SMFIR_ACCEPT, "message after abort accepted")
    -- a message for nobody we know is accepted at end of headers (no body)
    local r2, step = t.send(conn, {
        qid = "NOBODY", from = "<a@outside.example>", rcpts = {"<b@outside.example>"},
        headers = t.headers("a@outside.example", "b@outside.example", "Not ours",
                            "notours@outside.example")})
    t.is(r2, SMFIR_ACCEPT, "mail with no user accepted")
    t.is(step, "eoh", "... already at end of headers (body skipped)")
    mt.disconnect(conn)

    t.is(t.nthreads("alice"), 3, "alice: 3 threads (aborted message not recorded)")
    t.is(t.nthreads("bob"), 4, "bob: 3 threads + the one after the abort")
    local bob = t.ctl("mailbox --as bob")
    t.is(t.jget(bob, "threads[0].subject"), "After abort", "bob's newest thread is the one after the abort")
    local all = t.ctl("mailbox --as alice")
    t.ok(not all:find("Aborted one"), "aborted subject nowhere in alice's mailbox")
    t.ok(not all:find("After abort"), "bob's message not in alice's mailbox")
end)
