require ["fileinto", "envelope", "subaddress", "regex", "imap4flags", "copy", "variables", "mailbox"];
set :length "v" "news";
addflag ["\\Seen", "$label1"];
if address :domain :matches  "to" "" { fileinto :copy "C0"; stop; } else { fileinto "L0-${v}"; }
