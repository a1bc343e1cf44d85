#!/bin/sh
# tests/fuzz/run.sh [BUILDDIR] — run each libFuzzer target of tests/fuzz/ for a
# fixed number of inputs, starting from its seed corpus (`make fuzz` runs it;
# BUILDDIR is a build configured with --enable-fuzzing, default .).
#
#   FUZZ_RUNS=N       inputs per target (default 20000: well under a minute each)
#   FUZZ_SECONDS=S    run each target for S seconds instead (by hand, e.g. 300)
#   FUZZ_SEED=N       libFuzzer's seed (default 1, so that CI runs the same
#                     inputs every time; 0 picks a new one)
#   FUZZ_TARGETS="config control http"   which targets
#
# The seed corpora (tests/fuzz/corpus-*/) are read, never written: the inputs
# libFuzzer finds go to a temporary folder, removed at the end. A crash, leak or
# timeout leaves its input as BUILDDIR/tests/fuzz/crash-TARGET-* (rerun it with
# `BUILDDIR/tests/fuzz/fuzz-TARGET FILE`) and fails the target. The last lines
# are a summary in automake's test-suite.log format (# PASS: N, # FAIL: N).
set -u
src=$(cd "$(dirname "$0")" && pwd)
build=${1:-.}
runs=${FUZZ_RUNS:-20000}
seed=${FUZZ_SEED:-1}
targets=${FUZZ_TARGETS:-config control http}
if [ -n "${FUZZ_SECONDS:-}" ]; then
	limit="-max_total_time=$FUZZ_SECONDS"
	what="$FUZZ_SECONDS s"
else
	limit="-runs=$runs"
	what="$runs inputs"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
for t in $targets; do
	bin=$build/tests/fuzz/fuzz-$t
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz-$t: no $bin (configure --enable-fuzzing, then make)"
		fail=$((fail + 1))
		continue
	fi
	mkdir "$work/$t"
	dict=
	[ ! -f "$src/$t.dict" ] || dict=-dict=$src/$t.dict
	echo "fuzz-$t: $what, seed $seed, corpus $src/corpus-$t"
	# -max_len: bigger than any seed and than a request line (4096 bytes);
	# -timeout: one input that takes seconds is a bug (a loop), not slowness.
	if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$bin" $limit $dict -seed="$seed" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/tests/fuzz/crash-$t-" \
		"$work/$t" "$src/corpus-$t" >"$work/$t.log" 2>&1; then
		grep -E '^(#[0-9]+[[:space:]]+DONE|Done |stat::(new_units_added|peak_rss_mb))' "$work/$t.log"
		echo "PASS: fuzz-$t"
		pass=$((pass + 1))
	else
		tail -n 60 "$work/$t.log"
		echo "FAIL: fuzz-$t (the input is in $build/tests/fuzz/crash-$t-*)"
		fail=$((fail + 1))
	fi
done
echo "# TOTAL: $((pass + fail))"
echo "# PASS: $pass"
echo "# FAIL: $fail"
[ "$fail" = 0 ]
