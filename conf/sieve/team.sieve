# Shared by the sales team: mail from or to customer domains is filed
# into "Customers"; the rest goes nowhere (implicit keep adds no label).
require ["fileinto", "copy"];

if anyof (address :domain :is ["from", "to", "cc"] "customer.example",
          address :domain :is ["from", "to", "cc"] "client.example") {
    fileinto :copy "Customers";
}
