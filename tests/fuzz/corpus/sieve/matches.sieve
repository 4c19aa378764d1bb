require ["fileinto","variables"];
if header :matches "subject" "*?*" { fileinto "m/${1}/${2}/${3}"; }
