#!/usr/bin/env bash
# Debian packages the course needs at run time: bubblewrap (the grading
# sandbox). Installs them when run as root, otherwise prints the command.
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "The grader's sandbox needs: ${missing[*]}. Install it with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  echo "(continuing: everything but sandboxed grading works without it)" >&2
fi
