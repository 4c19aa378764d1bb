require ["vacation","reject","ereject","mailbox","fileinto"];
vacation :days 1 :subject "s" "r";
if mailboxexists "X" { fileinto :create "X"; }
reject "no";
