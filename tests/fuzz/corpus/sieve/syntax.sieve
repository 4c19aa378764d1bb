# comment
/* block
 comment */
require "fileinto";
if allof(not anyof(true, false), size :under 1M, exists ["from","to"]) {
  fileinto text:
line
..dot
.
;
}
