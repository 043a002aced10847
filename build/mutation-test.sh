#!/usr/bin/env bash
# Mutation testing of the critical code with Stryker.NET (dotnet-stryker, pinned in .config/dotnet-tools.json).
#
#   bash build/mutation-test.sh                 # every target, one after the other
#   bash build/mutation-test.sh store memo      # some of them
#   bash build/mutation-test.sh --report        # only rebuild the report from the targets' last runs
#
# Targets (build/stryker/TARGET.json; docs/testing.md lists the files and tests of each):
#   runtime        cache keys and staleness        (tests/Runtime.Tests)
#   store          atomic writes, verification on read, gc (tests/Runtime.Tests)
#   memo           the record memo and its loop    (tests/Runtime.Tests)
#   losses         the loss family and importance weights (tests/Gpu.Tests, CPU)
#   decontaminate  the n-gram index and its verification (tests/Stages.Tests)
#   grader         answer normalisation and equivalence (tests/Stages.Tests)
#
# Writes artifacts/mutation/report.md: the score per file and per target, the wall time of each target and every
# surviving or uncovered mutant, over the last run of EVERY target found under artifacts/mutation/ (so targets can
# be run one at a time). Stryker's own HTML/JSON reports are under artifacts/mutation/TARGET/. Slow (docs/testing.md
# has the times), so not part of .ci/run. Exit status 0 unless a run fails; the scores are in the report.
set -euo pipefail
# All in one function: bash reads it whole before running it, so editing this file mid-run is harmless.
main() {
    cd "$(dirname "$0")/.."
    export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
    all=(runtime store memo losses decontaminate grader)
    targets=("$@")
    report_only=false
    if [ "${targets[0]:-}" = "--report" ]; then report_only=true; targets=(); fi
    $report_only || [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
    out="$PWD/artifacts/mutation"
    mkdir -p "$out"
    for t in "${targets[@]}"; do
        [ -f "build/stryker/$t.json" ] || { echo "error: no mutation target '$t' (build/stryker/$t.json); targets: ${all[*]}" >&2; exit 1; }
    done
    $report_only || dotnet tool restore >/dev/null
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit+changes"; fi
    for t in "${targets[@]}"; do
        rm -rf "$out/$t"
        mkdir -p "$out/$t"
        start=$(date +%s)
        echo "== $t: $(date -u +%H:%M:%S) UTC"
        # The config with its "parts" (text anchors) turned into the character spans Stryker takes.
        dotnet run build/StrykerConfig.cs -- "build/stryker/$t.json" "$out/$t/stryker-config.json"
        # Stryker resolves the config's relative paths from its working directory.
        (cd build/stryker && dotnet tool run dotnet-stryker -- -f "$out/$t/stryker-config.json" -O "$out/$t" --skip-version-check) 2>&1 \
            | tee "$out/$t/stryker.log" || { echo "error: Stryker failed on '$t' (artifacts/mutation/$t/stryker.log)" >&2; exit 1; }
        secs=$(( $(date +%s) - start ))
        printf '%s %s %s %s\n' "$secs" "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" > "$out/$t/run.txt"
        echo "== $t: ${secs} s"
    done
    reports=()
    for t in "${all[@]}"; do
        report="$out/$t/reports/mutation-report.json"
        if [ -f "$report" ]; then reports+=("$t=$report"); fi
    done
    [ ${#reports[@]} -gt 0 ] || { echo "no Stryker report under $out" >&2; exit 1; }
    dotnet run build/MutationReport.cs -- "$out/report.md" "${reports[@]}"
}
main "$@"
