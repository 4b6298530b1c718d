#!/usr/bin/env bash
# Long fuzzing runs: each target for SECONDS (default 1800) with its checked-in corpus,
# one after the other on one core. New corpus entries land in fuzz/corpus/<target>;
# crashes in fuzz/artifacts/<target>. Usage: fuzz/run.sh [seconds] [target...]
# Without a sanitizer (-s none): the code under test is safe Rust, and runs ~10x faster.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets it use stable rustc.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-1800}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(node_sequence two_site_sequence node_input sipmsg_parse stream_framing)
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  case $t in *_sequence) max_len=16384 ;; *) max_len=70000 ;; esac
  echo "== $t for ${seconds}s"
  cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len="$max_len" -timeout=20 \
    -print_final_stats=1 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::|==[0-9]+== ERROR|SUMMARY|Done )' || true
  [ ! -d "artifacts/$t" ] || [ -z "$(ls -A "artifacts/$t")" ] || { echo "!! $t found crashes in fuzz/artifacts/$t"; exit 1; }
done
