#!/usr/bin/env bash
# Fails when any tracked C++ file differs from what clang-format (the repository's .clang-format)
# would write. Fix with: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i
set -euo pipefail
cd "$1"
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find app lib tests -name '*.cpp' -o -name '*.hpp')
if ! out=$(echo "$files" | xargs clang-format --dry-run --Werror 2>&1); then
  echo "$out" | grep -E 'warning|error' | head -20
  echo "clang-format would change the files above: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i"
  exit 1
fi
echo "$(echo "$files" | wc -l) files formatted"
