require ["fileinto", "envelope", "subaddress", "regex", "imap4flags", "copy", "variables", "mailbox"];
set :lower "v" "example.org";
if anyof(not address :localpart :regex  "sender" [".", "meet(ing)?", "^[A-Z]"], allof(header :regex  "Subject" "fire$", allof(hasflag :contains :comparator "i;octet" "$*", header :contains  ["reply-to", "subject"] ["Jürgen Müller", "alice@example.org"]), exists "reply-to"), header :contains :comparator "i;octet" "list-id" ["meeting", "support", "juergen"]) { fileinto "F0"; }
if header :contains  "X-SPAM" "alice" { fileinto "F1"; keep; addflag "\\Seen"; } elsif envelope :localpart :comparator "i;ascii-casemap" :regex "from" "fire$" { fileinto "E1"; } else { fileinto "L1-${v}"; }
if address :all :matches  "reply-to" "b?b" { fileinto "V2-${1}-${2}"; } else { fileinto "L2-${v}"; }
if anyof(address :detail :is  "reply-to" "corp.example", address :user :contains  "from" "joe+news@example.com", address :domain :regex :comparator "i;ascii-casemap" "cc" "^[A-Z]") { fileinto "V3-${1}-${2}"; } elsif address :all :regex  "cc" ["x|y", "^(yes|no)$"] { fileinto "E3"; } else { fileinto "L3-${v}"; }
