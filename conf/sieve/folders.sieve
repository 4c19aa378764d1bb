# Bob's folders: the folders fileinto names become his labels in the CRM.
# keep, flags, vacation, redirect and reject file nothing, so they add no
# label.
require ["fileinto", "envelope", "subaddress", "imap4flags"];

if envelope :detail "to" "crm" {
    fileinto "Customers";
    stop;
}
if address :domain :is "from" ["customer.example", "client.example"] {
    fileinto "Customers";
} elsif header :contains "subject" ["quote", "offer", "contract"] {
    fileinto "Deals";
} elsif exists "list-id" {
    fileinto "Lists";
} else {
    addflag "\\Seen";
    keep;
}
