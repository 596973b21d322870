# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake: FILE's bytes as
# a NUL-terminated C array (the report page's template, run/report.html).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake: do not edit. */\nconst char ${NAME}[] = {\n${bytes}0x00};\n")
