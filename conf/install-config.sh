#!/bin/sh
# meson install step: copies the reference configuration ($2) to $1/darkscope.conf unless a
# configuration is already there, so an operator's edited file survives a reinstall. Honours
# DESTDIR (staged installs).
set -eu
dir="${DESTDIR:-}$1"
src="${DESTDIR:-}$2"
mkdir -p "$dir"
if [ -e "$dir/darkscope.conf" ]; then
  echo "darkscope: keeping the existing $1/darkscope.conf"
else
  cp "$src" "$dir/darkscope.conf"
  echo "darkscope: installed $1/darkscope.conf (edit its port and sensor lines)"
fi
