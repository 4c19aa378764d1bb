-- mt_sendercopy.lua - the sender's copy (C4, issue #16 points 3 and 4):
-- it shows bcc on the message and its envelope-only recipients among the
-- participants, a recipient's copy never does; users' participant names
-- come from the headers like everyone else's
local t = dofile(srcdir .. "/milter/common.lua")

-- participant ADDR of a thread JSON: its name ("null" if none), or nil
local function participant(thread, addr)
    for i = 0, 20 do
        local a = t.jget(thread, "threads[0].participants[" .. i .. "].address")
                  or t.jget(thread, "participants[" .. i .. "].address")
        if a == nil then return nil end
        if a == addr then
            return t.jget(thread, "threads[0].participants[" .. i .. "].name")
                   or t.jget(thread, "participants[" .. i .. "].name") or "null"
        end
    end
    return nil
end

t.run(function()
    -- bob (authenticated) writes to zed (To), yara (Cc) and alice (Cc, a
    -- user); xavier and the dropbox are only in the envelope
    local conn = t.connect("192.0.2.80")
    local r = t.send(conn, {
        qid = "SC1", auth = "bob.login", from = "<bob@example.com>",
        rcpts = {"<zed@outside.example>", "<yara@outside.example>", "<alice@example.com>",
                 "<xavier@outside.example>", "<log@crm.example.com>"},
        headers = t.headers("Bob Builder <bob@example.com>", "Zed <zed@outside.example>",
                            "Quote for the sender's copy", "sc1@example.com",
                            {{"Cc", "Yara <yara@outside.example>, Alice Smith <alice@example.com>"}})})
    t.is(r, SMFIR_ACCEPT, "bob's message accepted")
    mt.disconnect(conn)

    local bob = t.ctl("mailbox --as bob")
    t.is(t.jget(bob, "threads[0].subject"), "Quote for the sender's copy", "in bob's mailbox")
    t.ok((t.jget(bob, "threads[0].labels") or ""):find('"bcc"', 1, true) ~= nil,
         "C4: the sender's copy shows bcc")
    t.ok(participant(bob, "xavier@outside.example") ~= nil,
         "C4: the envelope-only recipient is among the sender's participants")
    t.is(participant(bob, "bob@example.com"), "Bob Builder",
         "the sender's own entry has the name of the From header")
    t.is(participant(bob, "alice@example.com"), "Alice Smith",
         "a user's entry has the name of the Cc header")
    local tid = t.jget(bob, "threads[0].id")
    local one = t.ctl("thread " .. tid .. " --as bob")
    t.ok(participant(one, "xavier@outside.example") ~= nil, "thread: xavier listed for bob too")

    local alice = t.ctl("mailbox --as alice")
    t.is(t.jget(alice, "threads[0].subject"), "Quote for the sender's copy", "alice has her copy")
    t.ok(participant(alice, "xavier@outside.example") == nil,
         "C4: a recipient's copy never shows who else was Bcc'd")
    t.ok(participant(alice, "log@crm.example.com") == nil, "nor the dropbox")
    t.ok((t.jget(alice, "threads[0].labels") or ""):find('"bcc"', 1, true) == nil,
         "a recipient's copy is not labelled bcc")
    t.is(participant(alice, "alice@example.com"), "Alice Smith", "alice's own entry has her name")
    t.ok(participant(bob, "log@crm.example.com") == nil, "the dropbox is no participant")

    -- without a dropbox: bob's own Bcc still shows in his copy
    conn = t.connect("192.0.2.81")
    r = t.send(conn, {
        qid = "SC2", auth = "bob.login", from = "<bob@example.com>",
        rcpts = {"<zed@outside.example>", "<walter@outside.example>"},
        headers = t.headers("Bob Builder <bob@example.com>", "zed@outside.example",
                            "Plain Bcc", "sc2@example.com")})
    t.is(r, SMFIR_ACCEPT, "bob's plain Bcc accepted")
    mt.disconnect(conn)
    bob = t.ctl("mailbox --as bob")
    local found = false
    for i = 0, 5 do
        if t.jget(bob, "threads[" .. i .. "].subject") == "Plain Bcc" then
            found = (t.jget(bob, "threads[" .. i .. "].labels") or ""):find('"bcc"', 1, true) ~= nil
        end
    end
    t.ok(found, "C4: a sender's copy with an envelope-only recipient shows bcc")

    -- names come from the headers for users too, whichever message of the
    -- thread carries one: carl writes to a bare alice@, alice answers as
    -- "Alice Smith" (issue #16 point 4)
    conn = t.connect("192.0.2.82")
    t.send(conn, {qid = "SC3", from = "<carl@customer.example>", rcpts = {"<alice@example.com>"},
                  headers = t.headers("carl@customer.example", "alice@example.com",
                                      "Names from headers", "sc3@customer.example")})
    mt.disconnect(conn)
    conn = t.connect("192.0.2.83")
    t.send(conn, {qid = "SC4", auth = "alice@example.com", from = "<alice@example.com>",
                  rcpts = {"<carl@customer.example>"},
                  headers = t.headers("Alice Smith <alice@example.com>",
                                      "Carl Customer <carl@customer.example>",
                                      "Re: Names from headers", "sc4@example.com",
                                      {{"In-Reply-To", "<sc3@customer.example>"}})})
    mt.disconnect(conn)
    alice = t.ctl("mailbox --as alice")
    local named
    for i = 0, 5 do
        if t.jget(alice, "threads[" .. i .. "].subject") == "Names from headers" then
            named = t.ctl("thread " .. t.jget(alice, "threads[" .. i .. "].id") .. " --as alice")
        end
    end
    t.ok(named ~= nil, "carl's message and alice's answer in one thread")
    named = named or "{}"
    t.is(t.jget(named, "message_count"), "2", "two messages in it")
    t.is(participant(named, "alice@example.com"), "Alice Smith",
         "the user's own entry has the name her From header gives")
    t.is(participant(named, "carl@customer.example"), "Carl Customer",
         "and carl's the name a later header gives")
end)
