#!/bin/sh
# Runs in the guest, chrooted into the host's root: the matrix's test files through the
# checkout's vitest, as root. The JSON report goes to the writable results share.
cd "$1" || exit 1
out=/tmp/kernel-matrix
uname -r > "$out/release"
# Under emulation a process takes seconds to start: the waits of the test helpers
# (test/support) and of scripts/capture-fixtures.mjs are stretched.
export NFQ_TEST_TIME_SCALE=4
if [ -n "$MATRIX_RUN" ]; then
  # npm run test:kernels -- --run CMD: one command instead of the tests (e.g. a fixture capture).
  echo "guest: Linux $(uname -r), running: $MATRIX_RUN"
  MATRIX_OUT="$out" sh -c "$MATRIX_RUN"
  echo "$?" > "$out/run-status"
  exit 0
fi
echo "guest: Linux $(uname -r), node $(node --version), running $(wc -l < "$out/files") test files"
# One file at a time, so no test starves another; vitest's own timeouts stretched too.
# shellcheck disable=SC2046 # one file name per line, no spaces
node_modules/.bin/vitest run --configLoader runner --maxWorkers=1 --testTimeout=600000 --hookTimeout=600000 --reporter=default --reporter=json --outputFile.json="$out/report.json" $(cat "$out/files")
echo "$?" > "$out/vitest-status"
