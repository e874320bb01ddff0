#!/usr/bin/python3
"""Every file and function docs/architecture.md names still exists.

The page follows a packet and an interval through the code, naming each step as
`path/to/file.cpp:function` (or a bare `path/to/file`). This test reads every such name and fails
when the file is gone, or when the function's name no longer occurs in that file as a whole word,
so the walkthrough cannot silently drift from the code. Usage: check-doc-names.py SOURCE_ROOT"""
import os
import re
import sys

root = sys.argv[1]
doc = os.path.join(root, "docs", "architecture.md")
text = open(doc, encoding="utf-8").read()
# `lib/capture/worker.cpp:worker_main`, `app/darkscope/main.cpp:main`, `tests/capture/`
named = re.findall(r"`((?:lib|app|scripts|tests|conf|docs)/[A-Za-z0-9_./-]*)(?::([A-Za-z_][A-Za-z0-9_]*))?`",
                   text)
problems = []
functions = 0
for path, function in named:
    full = os.path.join(root, path)
    if not os.path.exists(full):
        problems.append("%s names %s, which does not exist" % (doc, path))
        continue
    if function:
        functions += 1
        if os.path.isdir(full):
            problems.append("%s names %s:%s, but %s is a directory" % (doc, path, function, path))
            continue
        source = open(full, encoding="utf-8", errors="replace").read()
        if not re.search(r"\b%s\b" % re.escape(function), source):
            problems.append("%s names %s:%s, but %s has no '%s'" % (doc, path, function, path,
                                                                    function))
if functions < 20:
    problems.append("%s names only %d file:function steps (the walkthrough lost its names?)" % (
        doc, functions))
for p in problems:
    print("FAIL: " + p)
print("%d names checked in %s, %d missing" % (len(named), doc, len(problems)))
sys.exit(1 if problems else 0)
