require ["fileinto","regex","variables"];
set "r" "(a|b)+";
if header :regex "from" ["^(.*)\\+(.*)@", "${r}"] { fileinto "${2}"; }
