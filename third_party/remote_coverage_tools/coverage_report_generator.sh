#!/bin/sh
echo "coverage is not supported by the offline shim" >&2
exit 1
