# Sourced by the scripts in bin/: installs what Keyhold needs on a Debian machine, once.
# Packages: a JDK (17 or newer), Maven, SoftHSM2, and p11-kit (HSMs as separate processes);
# the AWS CLI (and its Python) drives the service in a test, as a user would.
# With --for-tests, also gcc and SoftHSM2's PKCS#11 header, which build the fault shims (lockout, outage) of
# test-shims' ShimCompiler; PostgreSQL's server, which the tests start in throwaway directories (test-postgres);
# boto3 for Debian's python3, with which a test drives two nodes as a Python user would;
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
    /usr/bin/python3 -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)
    command -v chromium >/dev/null || missing+=(chromium)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} with apt-get" >&2
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The feature version (17, 25, ...) of the JDK whose home is $1.
keyhold_jdk_feature() {
  local version
  version=$(sed -n 's/^JAVA_VERSION="\(.*\)"$/\1/p' "$1/release" 2>/dev/null)
  [ -n "$version" ] || version=$("$1/bin/java" -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')
  version=${version#1.}
  echo "${version%%[.+-]*}"
}

# Sets keyhold_jdk (a JDK's home), keyhold_jdk_feature and keyhold_java (its java command, with the native
# access the PKCS#11 adapter needs without a warning: JNI, FFM) to the newest JDK of 17 or newer among
# $JAVA_HOME, /usr/lib/jvm/* and the javac on PATH: the PKCS#11 adapter's FFM fast path needs 22 or
# newer, and the build compiles it only when it runs on such a JDK. Fails when none has java and javac.
keyhold_pick_jdk() {
  keyhold_jdk= keyhold_jdk_feature=0
  local candidate home feature on_path
  on_path=$(command -v javac || true)
  for candidate in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/* ${on_path:+"$(dirname "$(readlink -f "$on_path")")/.."}; do
    home=$(readlink -f "$candidate") || continue
    [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || continue
    feature=$(keyhold_jdk_feature "$home")
    if [[ "$feature" =~ ^[0-9]+$ ]] && [ "$feature" -gt "$keyhold_jdk_feature" ]; then
      keyhold_jdk=$home keyhold_jdk_feature=$feature
    fi
  done
  if [ "$keyhold_jdk_feature" -lt 17 ]; then
    echo "no JDK of 17 or newer found (looked at \$JAVA_HOME, /usr/lib/jvm and PATH)" >&2
    return 1
  fi
  keyhold_java=("$keyhold_jdk/bin/java" --enable-native-access=ALL-UNNAMED)
}


# mvn on the chosen JDK.
keyhold_mvn() {
  JAVA_HOME="$keyhold_jdk" mvn "$@"
}

# Whether the build output $1 is newer than every source file and pom, and was built on the chosen JDK
# (one built on JDK 17 lacks the FFM fast path that a newer JDK would run).
keyhold_up_to_date() {
  [ -e "$1" ] && [ "$(cat "$1.jdk" 2>/dev/null)" = "$keyhold_jdk" ] \
    && [ -z "$(find "$keyhold_root" -path '*/src/main/*' -newer "$1" -print -quit)" ] \
    && [ -z "$(find "$keyhold_root" -name pom.xml -newer "$1" -print -quit)" ]
}

# Records that the build output $1 was just built on the chosen JDK.
keyhold_built() {
  touch "$1"
  echo "$keyhold_jdk" > "$1.jdk"
}

# Builds the runnable modules (no tests) unless they are up to date.
keyhold_build() {
  local stamp="$keyhold_root/keyhold-app/target/lib"
  keyhold_up_to_date "$stamp" && return 0
  echo "building Keyhold on JDK $keyhold_jdk_feature (mvn package, tests skipped)" >&2
  keyhold_mvn -B -q -Dstyle.color=never -f "$keyhold_root/pom.xml" -pl keyhold-app -am -DskipTests package
  keyhold_built "$stamp"
}

keyhold_classpath() {
  echo "$keyhold_root/keyhold-app/target/classes:$keyhold_root/keyhold-app/target/lib/*"
}
