require ["imap4flags","variables","fileinto"];
addflag "f" ["\\Seen a", "b"]; removeflag "f" "a";
if hasflag :matches "f" "*" { fileinto :flags "${f}" "F${0}"; }
