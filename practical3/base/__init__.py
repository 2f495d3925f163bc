"""The base layer: one fact each, imported by every other layer and importing none of them.

- ``errors``: the one ``UserError`` family (a message that names the file or setting and the fix);
- ``paths``: every location the project reads or writes, environment read at call time;
- ``atomic``: temp-then-rename writes of files and folders;
- ``parallel``: the thread pool for decoding and hashing;
- ``text``: how numbers are printed ("n/a", percentages).
"""
