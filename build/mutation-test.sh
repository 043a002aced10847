#!/usr/bin/env bash
# Mutation testing of the critical code with Stryker.NET (pinned in .config/dotnet-tools.json).
#
#   build/mutation-test.sh                 # every target
#   build/mutation-test.sh runtime losses  # some of them
#
# Targets (build/stryker/TARGET.json):
#   runtime        cache keys and staleness: PipelineRunner.cs, StalenessReasons.cs, CodeIdentity.cs, Hashing.cs
#                  (tests/Runtime.Tests)
#   losses         the loss family and importance weights: ImportanceWeights.cs, Losses.cs
#                  (tests/Gpu.Tests: WeightFormulaTests, LossTests, TrainerTests)
#   decontaminate  decontamination's n-gram index and its verification: NgramIndex.cs
#                  (tests/Stages.Tests: DecontamPropertyTests, Utf8WordsTests, IngestDecontamPipelineTests)
#
# Writes artifacts/mutation/report.md (score per file and target, every surviving or uncovered mutant) and
# Stryker's own HTML/JSON reports under artifacts/mutation/TARGET/. Takes about 1.5 hours on 2 cores
# (docs/testing.md has the figures), so it is not part of .ci/run. Exit status 0 unless a run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(runtime losses decontaminate)
out="$PWD/artifacts/mutation"
mkdir -p "$out"
dotnet tool restore >/dev/null
reports=()
for t in "${targets[@]}"; do
    config="build/stryker/$t.json"
    [ -f "$config" ] || { echo "error: no mutation target '$t' ($config)" >&2; exit 1; }
    rm -rf "$out/$t"
    start=$(date +%s)
    # Stryker resolves the config's relative paths from its working directory.
    (cd build/stryker && dotnet tool run dotnet-stryker -- -f "$t.json" -O "$out/$t" --skip-version-check)
    echo "$t: $(( $(date +%s) - start )) s" | tee -a "$out/durations.txt"
    report=$(find "$out/$t" -name mutation-report.json | head -1)
    reports+=("$t=$report")
done
dotnet run build/MutationReport.cs -- "$out/report.md" "${reports[@]}"
