# Sourced by benchmarks/run-crash-loop, run-create-keys, run-fuzz, run-key-counts, run-metadata and
# run-overload: the benchmarks' jar (every module and dependency in one, and the server's test-jar for
# run-fuzz), rebuilt when a main source, a server test source or a POM is newer than it, or when REBUILD=1.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_jar=$bench_root/benchmarks/target/benchmarks.jar

bench_build_jar() {
  if [ -f "$bench_jar" ] && [ "${REBUILD:-0}" != 1 ] \
      && [ -z "$(find "$bench_root" \( -path '*/src/main/*' -o -path '*/server/src/test/*' -o -name pom.xml \) -newer "$bench_jar" -print -quit)" ]; then
    return 0
  fi
  echo "== building $bench_jar (mvn package, tests skipped)" >&2
  (cd "$bench_root" && mvn -B -q -Dstyle.color=never -pl benchmarks -am package -DskipTests) >&2
}
