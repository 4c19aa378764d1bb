-- mt_close.lua - close with no earlier callback, and connections that end
-- at every stage: the milter must stay up (STYLE: opendkim's close crash)
local t = dofile(srcdir .. "/milter/common.lua")
t.run(function()
    -- negotiate only, then close
    for i = 1, 5 do
        local conn = mt.connect(sock, 40, 0.25)
        t.ok(conn ~= nil, "bare connection " .. i)
        mt.disconnect(conn)
    end
    -- raw connects that send nothing or junk (TCP health-check style)
    local rc = t.sh(sockpoke .. " " .. sock:gsub("^unix:", "") .. " ; echo $?")
    t.is(rc:gsub("%s+$", ""), "0", "raw connect/close and junk bytes sent")
    -- connect callback only, then close
    local conn = t.connect("192.0.2.20")
    mt.disconnect(conn)
    -- MAIL and RCPT, then close without DATA
    conn = t.connect("192.0.2.21")
    mt.macro(conn, SMFIC_MAIL, "i", "")
    mt.mailfrom(conn, "<x@outside.example>")
    mt.rcptto(conn, "<alice@example.com>")
    mt.disconnect(conn)
    -- the milter still works
    conn = t.connect("192.0.2.22")
    local r = t.send(conn, {
        qid = "CLOSE1", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
        headers = t.headers("x@outside.example", "alice@example.com", "Still here",
                            "still@outside.example")})
    t.is(r, SMFIR_ACCEPT, "message after odd closes accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 1, "and recorded")
end)
