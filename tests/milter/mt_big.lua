-- mt_big.lua - huge header block, 8-bit header, message over MaxMessageSize (64K here)
-- XXX miltertest (OpenDKIM 2.11) smashes its own stack on a header value of a
-- few KB, so one huge value is tested through Postfix (tests/e2e); here
-- the header block is made huge with many headers instead.
local t = dofile(srcdir .. "/milter/common.lua")
t.run(function()
    local conn = t.connect("192.0.2.30")
    local many = {{"X-Long", string.rep("x", 900)}}
    for i = 1, 2000 do table.insert(many, {"X-Many-" .. i, "value " .. i}) end
    local r = t.send(conn, {
        qid = "HUGEHDR", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
        headers = t.headers("x@outside.example", "alice@example.com", "Huge header",
                            "huge@outside.example", many)})
    t.is(r, SMFIR_ACCEPT, "a 900-byte header value and 2,000 headers accepted")

    -- raw 8-bit bytes: UTF-8 in one header, Latin-1 in another
    r = t.send(conn, {
        qid = "EIGHTBIT", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
        headers = t.headers("J\195\188rgen <x@outside.example>", "alice@example.com",
                            "Gr\252\223e aus K\195\182ln", "8bit@outside.example")})
    t.is(r, SMFIR_ACCEPT, "8-bit headers accepted")

    -- RFC 2047 subject
    r = t.send(conn, {
        qid = "ENCODED", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
        headers = t.headers("=?ISO-8859-1?Q?J=FCrgen?= <x@outside.example>", "alice@example.com",
                            "=?UTF-8?B?w5xiZXJwcsO8ZnVuZw==?=", "encoded@outside.example")})
    t.is(r, SMFIR_ACCEPT, "encoded headers accepted")

    -- 100 KB body > MaxMessageSize 64K: headers only, flagged truncated
    r = t.send(conn, {
        qid = "TOOBIG", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
        headers = t.headers("x@outside.example", "alice@example.com", "Too big",
                            "toobig@outside.example"),
        body = string.rep("0123456789abcdef0123456789abcdef0123456789abcdef012345678901234\r\n", 1600)})
    t.is(r, SMFIR_ACCEPT, "message over MaxMessageSize accepted")
    mt.disconnect(conn)

    local box = t.ctl("mailbox --as alice")
    t.is(tonumber(t.jget(box, "threads", true)), 4, "all four recorded")
    t.ok(box:find("\"Huge header\"") ~= nil, "huge-header message listed")
    t.ok(box:find("\"Überprüfung\"", 1, true) ~= nil, "RFC 2047 subject decoded (UTF-8 JSON)")
    t.ok(box:find("\"Grüße aus Köln\"", 1, true) ~= nil,
         "mixed Latin-1/UTF-8 8-bit subject decoded to UTF-8")
    t.ok(box:find("\"Jürgen\"", 1, true) ~= nil, "RFC 2047 display name decoded")
    local trunc = t.sh("sqlite3 " .. db .. " \"select count(*) from messages where truncated = 1\"")
    t.is(trunc:gsub("%s+$", ""), "1", "exactly one message flagged truncated (C4)")
    local whole = t.sh("sqlite3 " .. db .. " \"select count(*) from messages where truncated = 0\"")
    t.is(whole:gsub("%s+$", ""), "3", "the others kept whole")
end)
