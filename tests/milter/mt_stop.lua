-- mt_stop.lua - SIGTERM while an end of message waits for the store:
-- libmilter lets that callback run on after smfi_main returns, so the
-- daemon waits for it before it stops the journal and closes the store;
-- the message is answered and kept (journaled: the store is locked), and
-- the milter exits cleanly (no use of a closed store or journal: run-mt.sh
-- fails on any sanitizer or valgrind report)
-- run-mt: stops the milter
local t = dofile(srcdir .. "/milter/common.lua")

t.run(function()
    local f = io.open(conf, "a")
    f:write("StoreWait 8s\nStoreTimeout 8s\n")
    f:close()
    t.ok(t.reload_and_wait("reloaded:", 1), "StoreWait and StoreTimeout 8s, reloaded")

    -- another process holds the store's write lock for 10 s
    os.execute("(echo 'BEGIN IMMEDIATE;'; sleep 10; echo 'COMMIT;') | sqlite3 " .. db ..
               " >/dev/null 2>&1 &")
    mt.sleep(0.5)
    local b = t.connect("192.0.2.82")
    -- SIGTERM a second into B's end of message (which waits up to 8 s)
    os.execute("(sleep 1.5; kill -TERM " .. pid .. ") &")
    local r = t.send(b, {qid = "STOPB", from = "<x@outside.example>", rcpts = {"<alice@example.com>"},
                         headers = t.headers("x@outside.example", "alice@example.com", "Stop B",
                                             "stopb@outside.example")})
    t.is(r, SMFIR_ACCEPT, "B's end of message answered across SIGTERM")
    mt.disconnect(b)
    local gone = false
    for _ = 1, 150 do
        if os.execute("kill -0 " .. pid .. " 2>/dev/null") ~= true then gone = true break end
        mt.sleep(0.1)
    end
    t.ok(gone, "the milter exited")
    local log = t.sh("cat " .. tmp .. "/milter.log")
    local stop_at = log:find("crmsync-milter[info]: stopping", 1, true)
    local kept_at = log:find("STOPB: journaled", 1, true)
    t.ok(stop_at ~= nil and kept_at ~= nil and stop_at < kept_at,
         "smfi_main returned while B's end of message waited; B was journaled after that")
    t.ok(log:find("closing it all the same", 1, true) == nil, "nothing left waiting at the close")
end)
