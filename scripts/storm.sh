#!/usr/bin/env bash
# The fault storm of tests/e2e_faults.rs with several seeds (nightly, or before
# a release). The default e2e tier runs it once (seed 1); this runs it with
# each seed given (default 1 2 3 4 5) and prints the figures of every run.
#
#   scripts/storm.sh            seeds 1..5, 80 objects each
#   scripts/storm.sh 7 8        seeds 7 and 8
#   QUALYS_STORM_OBJECTS=200 scripts/storm.sh
#
# Each run: >= 80 AwsConnectors created, a fifth updated and a fifth deleted
# while every QPS call risks a 5xx (30 %), a 409/429 with or without rate
# headers, a malformed body (5 %), a hang, and creates whose answer is lost;
# then the storm calms and the run must end with 0 duplicates, 0 leaked
# connectors, 0 Recreated Events and every object Ready at its spec.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5)
scripts/testenv.sh install >/dev/null
cargo test --no-run --test e2e_faults >/dev/null 2>&1 || cargo test --no-run --test e2e_faults
failed=0
for seed in "${seeds[@]}"; do
    printf '\n==> storm, seed %s\n' "$seed"
    if ! scripts/testenv.sh run -- env QUALYS_E2E=1 QUALYS_STORM_SEED="$seed" \
        cargo test --test e2e_faults -- --nocapture --exact \
        e2e_a_fault_storm_ends_with_no_duplicate_no_leak_and_every_object_ready 2>&1 |
        tee "/tmp/qualys-storm-$seed.log" | grep -E '^storm seed|^test |panicked'; then
        failed=1
    fi
    grep -q 'test result: ok' "/tmp/qualys-storm-$seed.log" || failed=1
done
exit $failed
