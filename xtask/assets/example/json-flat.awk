# json-flat.awk: flattens a JSON document into one line per scalar, "PATH<TAB>VALUE",
# where PATH looks like .mounts[0].options[1] and strings are unescaped.
# Part of kit's example init (the runc image); runs under busybox awk.
BEGIN { RS = "\001" }
{ text = text $0 }
END {
    pos = 1; n = length(text)
    value("")
    ws()
    if (pos <= n) fail("trailing data")
}
function fail(msg) { printf "json-flat: %s at byte %d\n", msg, pos > "/dev/stderr"; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(text, pos, 1)) > 0) pos++ }
function value(path,    c) {
    ws()
    if (pos > n) fail("unexpected end")
    c = substr(text, pos, 1)
    if (c == "{") object(path)
    else if (c == "[") array(path)
    else if (c == "\"") print path "\t" str()
    else scalar(path)
}
function object(path,    c, key) {
    pos++; ws()
    if (substr(text, pos, 1) == "}") { pos++; return }
    while (1) {
        ws()
        if (substr(text, pos, 1) != "\"") fail("expected a key")
        key = str(); ws()
        if (substr(text, pos, 1) != ":") fail("expected :")
        pos++
        value(path "." key); ws()
        c = substr(text, pos, 1); pos++
        if (c == "}") return
        if (c != ",") fail("expected , or }")
    }
}
function array(path,    c, idx) {
    pos++; ws()
    if (substr(text, pos, 1) == "]") { pos++; return }
    idx = 0
    while (1) {
        value(path "[" idx "]"); idx++; ws()
        c = substr(text, pos, 1); pos++
        if (c == "]") return
        if (c != ",") fail("expected , or ]")
    }
}
function scalar(path,    start) {
    start = pos
    while (pos <= n && index(",]} \t\r\n", substr(text, pos, 1)) == 0) pos++
    if (pos == start) fail("expected a value")
    print path "\t" substr(text, start, pos - start)
}
function hexval(h,    i, v) {
    v = 0
    for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return v
}
function str(    out, c, e) {
    pos++; out = ""
    while (1) {
        if (pos > n) fail("unterminated string")
        c = substr(text, pos, 1); pos++
        if (c == "\"") return out
        if (c != "\\") { out = out c; continue }
        e = substr(text, pos, 1); pos++
        if (e == "n") out = out "\\n"
        else if (e == "t") out = out "\\t"
        else if (e == "u") { out = out sprintf("%c", hexval(substr(text, pos, 4))); pos += 4 }
        else if (e == "b" || e == "f" || e == "r") out = out
        else out = out e
    }
}
