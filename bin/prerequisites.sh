# Sourced by the scripts in bin/: installs what Keyhold needs on a Debian machine, once.
# Packages: a JDK (17 or newer), Maven, SoftHSM2, and p11-kit (HSMs as separate processes);
# the AWS CLI (and its Python) drives the service in a test, as a user would.
# With --for-tests, also gcc and SoftHSM2's PKCS#11 header, which build the fault shims (lockout, outage) of
# test-shims' ShimCompiler; PostgreSQL's server, which the tests start in throwaway directories (test-postgres);
# Chromium: a test opens keyhold-bench's HTML report in it, as a reader would; and wrk, which a test runs
# against a small server to check run-http's replay of pre-signed requests.
# With --for-benchmarks, gcc and the header too, which build keyhold-bench's raw C route, and wrk, which
# benchmarks/run-http replays pre-signed requests with.

keyhold_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

keyhold_install_prerequisites() {
  local missing=()
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  [ -r /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
  command -v aws >/dev/null || missing+=(awscli)
  command -v python3 >/dev/null || missing+=(python3)
  if [ "${1:-}" = --for-tests ] || [ "${1:-}" = --for-benchmarks ]; then
    command -v gcc >/dev/null || missing+=(gcc)
    [ -r /usr/include/softhsm/pkcs11.h ] || missing+=(libsofthsm2-dev)
  fi
  if [ "${1:-}" = --for-tests ] || [ "${1:-}" = --for-benchmarks ]; then
    command -v wrk >/dev/null || missing+=(wrk)
  fi
  if [ "${1:-}" = --for-tests ]; then
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    command -v chromium >/dev/null || missing+=(chromium)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} with apt-get" >&2
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Builds the runnable modules (no tests) unless their jars are newer than every source file.
keyhold_build() {
  local stamp="$keyhold_root/keyhold-app/target/lib"
  if [ -d "$stamp" ] && [ -z "$(find "$keyhold_root" -path '*/src/main/*' -newer "$stamp" -print -quit)" ] \
      && [ -z "$(find "$keyhold_root" -name pom.xml -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "building Keyhold (mvn package, tests skipped)" >&2
  mvn -B -q -Dstyle.color=never -f "$keyhold_root/pom.xml" -pl keyhold-app -am -DskipTests package
  touch "$stamp"
}

keyhold_classpath() {
  echo "$keyhold_root/keyhold-app/target/classes:$keyhold_root/keyhold-app/target/lib/*"
}
