#!/usr/bin/env bash
# Fails when the checked-in tables of the Python tools (scripts/darkscope_tables.json) differ from
# what darkscope-tables prints from the C++ definitions now.
# Usage: check-tables-fresh.sh DARKSCOPE_TABLES CHECKED_IN_JSON
set -uo pipefail
program=$(realpath "$1")
checked_in=$2
current=$(mktemp)
trap 'rm -f "$current"' EXIT
"$program" >"$current"
status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL: $program exited with status $status"
  exit 1
fi
if ! diff -u --label "$checked_in (checked in)" --label "darkscope-tables (now)" \
    "$checked_in" "$current"; then
  echo "FAIL: $checked_in is stale: it differs from what darkscope-tables prints (diff above)."
  echo "Regenerate it and commit it: $program > $checked_in"
  exit 1
fi
echo "$checked_in matches darkscope-tables"
