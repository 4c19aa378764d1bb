-- mt_dropbox.lua - Smart BCC (K2), its spoofing (K4), dropbox removal (C5)
local t = dofile(srcdir .. "/milter/common.lua")

local function sq(q)
    return (t.sh("sqlite3 " .. db .. " \"" .. q .. "\""):gsub("%s+$", ""))
end

t.run(function()
    -- 1. authenticated alice Bccs the dropbox: logged as bcc, persons made
    local conn = t.connect("192.0.2.50")
    local r = t.send(conn, {
        qid = "BCC1", auth = "alice@example.com", from = "<alice@example.com>",
        rcpts = {"<Customer@Outside.example>", "<partner@other.example>",
                 "<log@crm.example.com>", "<bob@example.com>", "<hidden@third.example>"},
        headers = t.headers("Alice <alice@example.com>",
                            "=?UTF-8?Q?Kunde_M=C3=BCller?= <customer@outside.example>, bob@example.com",
                            "Smart BCC offer", "bcc1@example.com",
                            {{"Cc", "partner@other.example, colleague@example.com"}})})
    t.is(r, SMFIR_ACCEPT, "Smart BCC message accepted")
    t.ok(mt.eom_check(conn, MT_RCPTDELETE, "<log@crm.example.com>"),
         "C5: the dropbox recipient is deleted exactly as given")
    t.ok(not mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.com>"),
         "no other recipient is deleted")
    mt.disconnect(conn)
    local box = t.ctl("mailbox --as alice")
    t.is(t.jget(box, "threads[0].subject"), "Smart BCC offer", "K2: logged in alice's mailbox")
    t.ok(t.jget(box, "threads[0].labels"):find('"bcc"', 1, true) ~= nil, "K2: labelled bcc")
    t.is(sq("select group_concat(email, ' ') from (select email from person_emails order by email)"),
         "customer@outside.example hidden@third.example partner@other.example",
         "K2: a person for each outside To, Cc and envelope-only Bcc recipient")
    t.is(sq("select name from persons p join person_emails e on e.person = p.id where e.email = 'customer@outside.example'"),
         "Kunde Müller", "K2: name from the decoded display name")
    t.is(sq("select name from persons p join person_emails e on e.person = p.id where e.email = 'partner@other.example'"),
         "partner", "K2: else the local part")
    t.is(sq("select count(*) from person_emails where email like '%example.com'"), "0",
         "K2: no person for users, internal addresses or the dropbox")
    t.is(sq("select distinct owner from persons"), "alice", "K2: owner is the sender")

    -- 2. the same recipient again: no second person
    conn = t.connect("192.0.2.51")
    r = t.send(conn, {
        qid = "BCC2", auth = "alice@example.com", from = "<alice@example.com>",
        rcpts = {"<customer@outside.example>", "<log@crm.example.com>"},
        headers = t.headers("alice@example.com", "customer@outside.example", "Follow-up",
                            "bcc2@example.com")})
    t.is(r, SMFIR_ACCEPT, "second Smart BCC accepted")
    mt.disconnect(conn)
    t.is(sq("select count(*) from person_emails where email = 'customer@outside.example'"), "1",
         "an existing person is not created again")

    -- 3. plain sync (no dropbox) creates no person (K1)
    conn = t.connect("127.0.0.1")
    r = t.send(conn, {
        qid = "PLAIN", from = "<alice@example.com>", rcpts = {"<newcontact@fresh.example>"},
        headers = t.headers("alice@example.com", "New Contact <newcontact@fresh.example>",
                            "Plain sync", "plain@example.com")})
    t.is(r, SMFIR_ACCEPT, "plain outgoing accepted")
    mt.disconnect(conn)
    t.is(sq("select count(*) from person_emails where email = 'newcontact@fresh.example'"), "0",
         "K1: plain sync creates no contact")
    t.is(t.nthreads("alice"), 3, "plain sync still logs it")

    -- 4. spoofed dropbox use: untrusted, unauthenticated, alice's address
    conn = t.connect("192.0.2.52")
    r = t.send(conn, {
        qid = "SPOOF", from = "<alice@example.com>",
        rcpts = {"<victim@spoofed.example>", "<log@crm.example.com>", "<bob@example.com>"},
        headers = t.headers("alice@example.com", "victim@spoofed.example", "Spoofed BCC",
                            "spoof@evil.example")})
    t.is(r, SMFIR_ACCEPT, "spoofed dropbox mail accepted (C1)")
    t.ok(mt.eom_check(conn, MT_RCPTDELETE, "<log@crm.example.com>"),
         "K4/C5: the dropbox is removed all the same")
    mt.disconnect(conn)
    t.is(sq("select count(*) from person_emails where email = 'victim@spoofed.example'"), "0",
         "K4: no person from spoofed dropbox mail")
    t.is(t.nthreads("alice"), 3, "K4: nothing logged for the forged sender")
    t.ok(t.ctl("mailbox --as bob"):find("Spoofed BCC", 1, true) ~= nil,
         "K4: recipient bob still gets his copy")
    t.ok(t.sh("grep -c 'not authenticated as a user' " .. tmp .. "/milter.log"):match("^[1-9]") ~= nil,
         "K4: the attempt is logged")

    -- 5. the dropbox as the only recipient: still removed, still logged
    conn = t.connect("192.0.2.53")
    r = t.send(conn, {
        qid = "ONLY", auth = "alice@example.com", from = "<alice@example.com>",
        rcpts = {"<LOG+deal42@crm.example.com>"},
        headers = t.headers("alice@example.com", "someone@outside.example", "Only the dropbox",
                            "only@example.com")})
    t.is(r, SMFIR_ACCEPT, "dropbox-only message accepted")
    t.ok(mt.eom_check(conn, MT_RCPTDELETE, "<LOG+deal42@crm.example.com>"),
         "C5: deleted exactly as received (case and subaddress kept)")
    mt.disconnect(conn)
    t.is(t.nthreads("alice"), 4, "dropbox-only message logged for alice")
end)
