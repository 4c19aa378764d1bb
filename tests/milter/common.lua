-- common.lua - helpers for crmsync's miltertest scenarios
--
-- run-mt.sh passes: sock, conf, ctl, jget, db, tmp, srcdir. Each scenario
-- prints TAP lines with t.ok(); run-mt.sh adds the plan. A Lua error ends
-- the script with exit 1 and its message on stderr (miltertest prints
-- nothing itself), so scenarios run inside t.run(), which reports it.
local t = {}
local n = 0

function t.ok(cond, desc)
    n = n + 1
    print((cond and "ok " or "not ok ") .. n .. " - " .. desc)
    io.stdout:flush()
    return cond
end

function t.is(got, want, desc)
    local same = got == want
    t.ok(same, desc)
    if not same then
        print("# got:  " .. tostring(got))
        print("# want: " .. tostring(want))
    end
    return same
end

-- connect as an SMTP client from ip (a real client: it has a port and the
-- MTA sends {daemon_addr})
function t.connect(ip)
    local conn = mt.connect(sock, 40, 0.25)
    assert(conn, "cannot connect to " .. sock)
    mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.com", "{daemon_name}", "mx",
             "{daemon_addr}", "127.0.0.1")
    assert(mt.conninfo(conn, "client.example", ip or "192.0.2.1") == nil)
    return conn
end

-- send one message; m = {qid, from, rcpts = {...}, auth, headers = {{n, v}, ...}, body}
-- returns the reply to end of headers when the milter accepted there, else
-- the reply to end of message
function t.send(conn, m)
    mt.macro(conn, SMFIC_MAIL, "i", m.qid or "", "{auth_authen}", m.auth or "")
    assert(mt.mailfrom(conn, m.from) == nil, "mailfrom")
    for _, r in ipairs(m.rcpts) do
        assert(mt.rcptto(conn, r) == nil, "rcptto " .. r)
    end
    for _, h in ipairs(m.headers or {}) do
        assert(mt.header(conn, h[1], h[2]) == nil, "header " .. h[1])
    end
    assert(mt.eoh(conn) == nil, "eoh")
    if mt.getreply(conn) == SMFIR_ACCEPT then
        return SMFIR_ACCEPT, "eoh"
    end
    -- in chunks of at most 64 KB, as an MTA sends them (libmilter refuses more)
    local body = m.body or "Hello.\r\n"
    for i = 1, #body, 65535 do
        assert(mt.bodystring(conn, body:sub(i, i + 65534)) == nil, "body")
    end
    assert(mt.eom(conn) == nil, "eom")
    return mt.getreply(conn), "eom"
end

-- standard headers for a test message
function t.headers(from, to, subject, msgid, extra)
    local h = {
        {"From", from}, {"To", to}, {"Subject", subject},
        {"Date", "Thu, 26 Nov 2026 10:00:00 +0000"},
        {"Message-ID", "<" .. msgid .. ">"},
    }
    for _, e in ipairs(extra or {}) do table.insert(h, e) end
    return h
end

-- run a shell command, return its stdout
function t.sh(cmd)
    local f = io.popen(cmd)
    local s = f:read("*a")
    f:close()
    return s
end

-- crmsyncctl output (JSON text)
function t.ctl(args)
    return t.sh(ctl .. " -c " .. conf .. " " .. args .. " 2>/dev/null")
end

-- one value of a JSON text (jget PATH), trailing newline removed; nil if absent
function t.jget(json, path, count)
    local f = io.open(tmp .. "/j.json", "w")
    f:write(json)
    f:close()
    local out = t.sh(jget .. (count and " -n " or " ") .. "'" .. path .. "' < " .. tmp .. "/j.json")
    if out == "" then return nil end
    return (out:gsub("\n$", ""))
end

-- number of threads in a user's mailbox
function t.nthreads(user)
    return tonumber(t.jget(t.ctl("mailbox --as " .. user), "threads", true) or "-1")
end

-- SIGUSR1 to the milter; true once its log has count lines matching pattern
function t.reload_and_wait(pattern, count)
    os.execute("kill -USR1 " .. pid)
    for _ = 1, 50 do
        local n = tonumber(t.sh("grep -c '" .. pattern .. "' " .. tmp .. "/milter.log")) or 0
        if n >= count then return true end
        mt.sleep(0.1)
    end
    return false
end

function t.run(f)
    local okay, err = pcall(f)
    if not okay then
        t.ok(false, "scenario raised: " .. tostring(err))
        os.exit(1)
    end
end

return t
