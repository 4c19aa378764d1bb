-- mt_auth.lua - who is the sender's mailbox owner (SPEC C2, Words)
local t = dofile(srcdir .. "/milter/common.lua")
t.run(function()
    -- 1. SMTP AUTH as alice, alice's sender: outgoing copy for alice
    local conn = t.connect("192.0.2.40")
    local r = t.send(conn, {
        qid = "AUTH1", auth = "alice@example.com", from = "<alice@example.com>",
        rcpts = {"<customer@outside.example>"},
        headers = t.headers("Alice <alice@example.com>", "customer@outside.example",
                            "Authenticated out", "auth1@example.com")})
    t.is(r, SMFIR_ACCEPT, "authenticated outgoing accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 1, "alice has her authenticated outgoing message")

    -- 2. no AUTH, untrusted client, alice's address as sender, to bob
    conn = t.connect("192.0.2.41")
    r = t.send(conn, {
        qid = "FORGED", from = "<alice@example.com>", rcpts = {"<bob@example.com>"},
        headers = t.headers("alice@example.com", "bob@example.com", "Forged sender",
                            "forged@evil.example")})
    t.is(r, SMFIR_ACCEPT, "forged internal sender accepted (C1)")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 1, "forged sender: nothing new in alice's mailbox")
    t.is(t.nthreads("bob"), 1, "recipient bob has it")

    -- 3. AUTH as bob (login bob.login) with alice's sender: nobody is authenticated
    conn = t.connect("192.0.2.42")
    r = t.send(conn, {
        qid = "CROSS", auth = "bob.login", from = "<alice@example.com>",
        rcpts = {"<customer@outside.example>"},
        headers = t.headers("alice@example.com", "customer@outside.example", "Cross auth",
                            "cross@example.com")})
    t.is(r, SMFIR_ACCEPT, "AUTH as bob with alice's sender accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 1, "not in alice's mailbox")
    t.is(t.nthreads("bob"), 1, "not in bob's either (he is not the sender)")

    -- 4. trusted network, no AUTH, alice's sender: authenticated
    conn = t.connect("127.0.0.1")
    r = t.send(conn, {
        qid = "TRUSTED", from = "<alice+crm@example.com>", rcpts = {"<customer@outside.example>"},
        headers = t.headers("alice@example.com", "customer@outside.example", "Trusted out",
                            "trusted@example.com")})
    t.is(r, SMFIR_ACCEPT, "trusted-network outgoing accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 2, "trusted network + own sender (with subaddress): alice has it")

    -- 5. local submission (sendmail(1)): miltertest always sends a client
    -- port (12345), so Postfix's form of it (port 0) is tested with the real
    -- thing in tests/e2e/capture.sh.

    -- 6. carol has Sync off: mail to her is not recorded
    conn = t.connect("192.0.2.43")
    r = t.send(conn, {
        qid = "CAROL", from = "<x@outside.example>", rcpts = {"<carol@example.com>"},
        headers = t.headers("x@outside.example", "carol@example.com", "For carol",
                            "carol@outside.example")})
    t.is(r, SMFIR_ACCEPT, "mail to a Sync off user accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("carol"), 0, "Sync off: nothing in carol's mailbox (S1)")

    -- 7. a Group address: each member gets a copy of their own (C2, C3)
    conn = t.connect("192.0.2.44")
    r = t.send(conn, {
        qid = "GROUP", from = "<buyer@outside.example>", rcpts = {"<Sales+rfq@Example.com>"},
        headers = t.headers("buyer@outside.example", "sales@example.com", "Request for quote",
                            "group@outside.example")})
    t.is(r, SMFIR_ACCEPT, "mail to a group accepted")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 3, "group member alice has it")
    t.is(t.nthreads("bob"), 2, "group member bob has it")
    t.is(t.nthreads("carol"), 0, "group member carol (Sync off) does not")
    local a = t.ctl("mailbox --as alice")
    local b = t.ctl("mailbox --as bob")
    t.ok(t.jget(a, "threads[0].owner") == "alice" and t.jget(b, "threads[0].owner") == "bob"
         and t.jget(a, "threads[0].id") ~= t.jget(b, "threads[0].id"),
         "two copies, each in its owner's own thread")
end)
