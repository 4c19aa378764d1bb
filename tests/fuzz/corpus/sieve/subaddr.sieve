require ["fileinto","envelope","subaddress"];
if envelope :detail "to" "crm" { fileinto "CRM"; } elsif address :user ["to","cc"] "y" { fileinto :copy "Y"; } else { stop; }
