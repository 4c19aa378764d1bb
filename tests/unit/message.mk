# tests/unit/message.mk - header parsing and MIME (lib/cs_message.c, lib/cs_mime.c)
check_PROGRAMS += unit/t_message
unit_t_message_SOURCES = unit/t_message.c
TESTS += unit/t_message
check_PROGRAMS += unit/t_mime
unit_t_mime_SOURCES = unit/t_mime.c
TESTS += unit/t_mime
