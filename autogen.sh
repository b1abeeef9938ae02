#!/bin/sh
# Regenerate the autotools build files.
set -e
cd "$(dirname "$0")"
autoreconf -fi
