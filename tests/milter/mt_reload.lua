-- mt_reload.lua - SIGUSR1 reloads the policy; a bad policy keeps the old one
local t = dofile(srcdir .. "/milter/common.lua")

local function to_carol(qid, subject)
    local conn = t.connect("192.0.2.60")
    local r = t.send(conn, {
        qid = qid, from = "<x@outside.example>", rcpts = {"<carol@example.com>"},
        headers = t.headers("x@outside.example", "carol@example.com", subject, qid .. "@outside.example")})
    mt.disconnect(conn)
    return r
end

local function write_policy(text)
    local f = io.open(tmp .. "/policy/users.policy", "w")
    f:write(text)
    f:close()
end

t.run(function()
    t.is(to_carol("R1", "Before reload"), SMFIR_ACCEPT, "mail to carol (Sync off) accepted")
    t.is(t.nthreads("carol"), 0, "not recorded under the first policy")

    write_policy("User alice\nAddress alice@example.com\n\nUser carol\nAddress carol@example.com\nSync all\n")
    t.ok(t.reload_and_wait("reloaded:", 1), "SIGUSR1: policy reloaded")
    t.is(to_carol("R2", "After reload"), SMFIR_ACCEPT, "mail to carol accepted")
    t.is(t.nthreads("carol"), 1, "recorded under the new policy (carol now Sync all)")

    write_policy("User carol\nAddress carol@example.com\nSync sometimes\n")
    t.ok(t.reload_and_wait("reload failed", 1), "a broken policy is refused on reload")
    t.ok(t.sh("grep -c 'users.policy:3: ' " .. tmp .. "/milter.log"):match("^[1-9]") ~= nil,
         "the error names file:line")
    t.is(to_carol("R3", "After bad reload"), SMFIR_ACCEPT, "mail still accepted")
    t.is(t.nthreads("carol"), 2, "the running policy stayed in force")

    -- a broken Sieve script disables only its user (rules-error)
    write_policy("User alice\nAddress alice@example.com\nRules " .. tmp .. "/bad.sieve\n\n" ..
                 "User carol\nAddress carol@example.com\nSync all\n")
    local f = io.open(tmp .. "/bad.sieve", "w")
    f:write('require "fileinto";\nif header :contains "Subject" "x" { fileinto "X" \n')
    f:close()
    t.ok(t.reload_and_wait("reloaded:", 2), "a broken Sieve script does not block the reload")
    t.is(to_carol("R4", "After sieve reload"), SMFIR_ACCEPT, "mail to carol accepted")
    t.is(t.nthreads("carol"), 3, "carol unaffected by alice's broken script")
    local conn = t.connect("192.0.2.61")
    t.send(conn, {qid = "R5", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
                  headers = t.headers("x@outside.example", "alice@example.com", "For alice", "r5@outside.example")})
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 0, "alice (rules-error) syncs nothing")
    t.ok(t.sh("grep -c 'R5: user=alice .*reason=rules-error' " .. tmp .. "/milter.log"):match("^[1-9]") ~= nil,
         "logged with reason rules-error")

    -- labels mode, no label, no thread: the pending copy's outcome is
    -- logged once the store decided, and it is not counted as recorded
    write_policy("User dave\nAddress dave@example.com\nSync labels\nLabels Customers\n")
    t.ok(t.reload_and_wait("reloaded:", 3), "reload: dave syncs labels")
    conn = t.connect("192.0.2.62")
    t.send(conn, {qid = "R6", from = "<x@outside.example>", rcpts = {"<dave@example.com>"},
                  headers = t.headers("x@outside.example", "dave@example.com", "No label", "r6@outside.example")})
    mt.disconnect(conn)
    t.is(t.nthreads("dave"), 0, "dave: no label, no thread, nothing stored")
    t.ok(t.sh("grep -c 'R6: user=dave direction=in decision=pending reason=no-label (synced only if it joins a thread)' " ..
              tmp .. "/milter.log"):match("^1") ~= nil, "logged as pending first")
    t.ok(t.sh("grep -c 'R6: user=dave direction=in decision=skipped reason=no-label (joins no thread)' " ..
              tmp .. "/milter.log"):match("^1") ~= nil, "then as skipped: it joined no thread")
    t.ok(t.sh("grep -c 'R6: recorded 0 copies' " .. tmp .. "/milter.log"):match("^1") ~= nil,
         "and counted as 0 copies recorded")
    -- restart-only keys (crmsync.conf(5), the key table) are warned about
    -- and keep their running values; SpoolDir included (issue #16 point 6)
    write_policy("User carol\nAddress carol@example.com\nSync all\n")
    t.sh("sed -i -e 's|^SpoolDir .*|SpoolDir " .. tmp .. "/not-there|' " .. conf ..
         " && printf 'UMask 077\\nSyslogFacility local3\\n' >> " .. conf)
    t.ok(t.reload_and_wait("reloaded:", 4), "SIGUSR1 with restart-only keys changed")
    for _, key in ipairs({"SpoolDir", "UMask", "SyslogFacility"}) do
        t.ok(t.sh("grep -c 'reload: " .. key .. " changed; it takes effect at the next restart' " ..
                  tmp .. "/milter.log"):match("^[1-9]") ~= nil, "reload warns that " .. key .. " needs a restart")
    end
    t.ok(t.sh("grep -c 'reload: [A-Za-z-]* changed' " .. tmp .. "/milter.log"):match("^3") ~= nil,
         "and about nothing else")
    local big = string.rep("A large body line that goes over SpoolThreshold.\r\n", 600)
    conn = t.connect("192.0.2.62")
    t.is(t.send(conn, {qid = "R7", from = "<x@outside.example>", rcpts = {"<carol@example.com>"},
                       headers = t.headers("x@outside.example", "carol@example.com", "Big after reload",
                                           "r7@outside.example"), body = big}),
         SMFIR_ACCEPT, "a message over SpoolThreshold accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("carol"), 4, "recorded: the running SpoolDir is still used until a restart")
end)
