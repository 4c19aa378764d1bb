require ["variables","fileinto","enotify"];
set :upper :length "a" "x${b}";
set :quotewildcard :lowerfirst "b" "*?\\";
set :encodeurl "c" "a b";
if string :is "${a}" "2" { fileinto "${a}${b}${c}"; }
