require ["fileinto", "envelope", "subaddress", "regex", "imap4flags", "copy", "variables", "mailbox"];
set  "v" "sales";
addflag ["\\Seen", "$label1"];
if address :detail :regex :comparator "i;octet" "reply-to" "^\\[([A-Z]+)\\]" { fileinto "F0"; }
if header :is  "x-note" "naïve" { fileinto "F1"; }
if anyof(envelope :localpart  :is "from" "Köln", envelope :localpart  :matches "from" "*e*e*") { fileinto "F2"; } else { fileinto "L2-${v}"; }
if hasflag :contains "seen" { fileinto "Seen"; }
