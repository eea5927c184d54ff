#!/usr/bin/env bash
# Runs every test project and prints one closing line: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
results=TestResults
rm -rf "$results"
mkdir -p "$results"

dotnet build EdgeLLMAgent.sln -c Release -nologo -v q
build_rc=$?
if [ $build_rc -ne 0 ]; then
  echo "tests: 0 passed, 1 failed" | tee "$results/summary.txt"
  exit $build_rc
fi

dotnet test EdgeLLMAgent.sln -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results" \
  -- RunConfiguration.TestSessionTimeout=1500000
rc=$?

passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
# The failed tests again, name and start of the message, just above the closing line, where a log cut to its tail
# still shows them (python3 comes with test-deps).
python3 scripts/failed-tests.py "$results"/*.trx
if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then failed=1; fi
if [ $passed -eq 0 ] && [ $failed -eq 0 ]; then failed=1; rc=1; fi
echo "tests: $passed passed, $failed failed" | tee "$results/summary.txt"
exit $rc
