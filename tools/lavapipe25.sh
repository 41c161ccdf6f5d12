#!/bin/sh
# lavapipe25.sh: the Vulkan tests on Mesa 25's lavapipe (Debian bookworm-backports'
# mesa-vulkan-drivers 25.x), beside the system driver, which stays as it is (CI keeps it).
#
#   sh tools/lavapipe25.sh
#
# 1. fetch (first run only): a private apt configuration ($LVP25_DIR/apt: its own
#    apt.conf, sources list, state and cache; nothing under /etc/apt is read or
#    written, nothing is installed) downloads mesa-vulkan-drivers from the
#    backports suite and every package it depends on whose installed version is
#    too old or missing (on bookworm: libdrm2, libdrm-amdgpu1); `dpkg -x` unpacks
#    them into $LVP25_DIR/root, and $LVP25_DIR/lvp_icd.json is the driver's ICD
#    file with library_path naming the unpacked libvulkan_lvp.so. `ldd` must
#    find every library it needs. A later run reuses the folder (LVP25_REFRESH=1
#    fetches again).
# 2. VK_ICD_FILENAMES (and VK_DRIVER_FILES, its newer name) names only that ICD
#    file, LD_LIBRARY_PATH the unpacked libraries; `vulkaninfo --summary` (when
#    installed) and `gemma-chat devices -v` must both report that driver
#    ("Mesa 25..."), so no test can have run on the system's.
# 3. the driver properties the kernel choice reads (from vulkaninfo).
# 4. the Vulkan tests through tests/run.sh: the C tests build/tests/test_vk_* and
#    the script tests that drive the Vulkan backend (LVP25_TESTS), with the
#    Khronos validation layer on when installed (else said so). Their caches
#    (Mesa's shader cache, the pipeline file) are in $LVP25_DIR/test-cache.
# One line per step and per test, then "lavapipe25: N passed, N failed".
# Exit status: 0 all passed, 1 a test or check failed, 2 the driver could not be set up.
#
# Time, 2-core Xeon VM: the first run's download ~10 s (12 MB of .debs, 9 MB of package
# lists); the tests 3-8 min the first time (lavapipe compiles every kernel at its first
# dispatch; more when other jobs share the machine), ~70 s once Mesa's cache holds them.
#
# Environment: LVP25_DIR (${XDG_CACHE_HOME:-~/.cache}/gemma-chat-lvp25), LVP25_SUITE
# (bookworm-backports) and LVP25_BASE (bookworm, for the dependencies),
# LVP25_MIRROR (http://deb.debian.org/debian), LVP25_MAJOR (25: the Mesa major
# version required), LVP25_TESTS (run.sh patterns), LVP25_REFRESH, B (build).
set -u
cd "$(dirname "$0")/.."
LVP=${LVP25_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gemma-chat-lvp25}
SUITE=${LVP25_SUITE:-bookworm-backports}
BASE=${LVP25_BASE:-bookworm}
MIRROR=${LVP25_MIRROR:-http://deb.debian.org/debian}
MAJOR=${LVP25_MAJOR:-25}
TESTS_SEL=${LVP25_TESTS:-"vk t_devices t_warmup t_faults t_real_model"}
B=${B:-build}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() { echo "lavapipe25: $*" >&2; exit 2; }
results=""   # "PASS name" / "FAIL name (why)" lines, in order
note() { results="$results$1
"; echo "$1"; }

# ---- 1. fetch and unpack (private apt; nothing system-wide) ----
APTCONF=$LVP/apt/apt.conf
apt_private() {   # writes the private apt configuration
    mkdir -p "$LVP/apt/state/lists/partial" "$LVP/apt/cache/archives/partial" "$LVP/apt/empty.d"
    : >"$LVP/apt/state/status"   # no installed packages: apt resolves nothing against the system
    printf 'deb [signed-by=%s] %s %s main\ndeb [signed-by=%s] %s %s main\n' \
        "$KEYRING" "$MIRROR" "$BASE" "$KEYRING" "$MIRROR" "$SUITE" >"$LVP/apt/sources.list"
    # APT_CONFIG is read first, so its Dir::Etc::parts / main keep the system's
    # apt.conf.d (hooks, proxies, pins) out.
    cat >"$APTCONF" <<EOF
Dir::Etc::main "$LVP/apt/none";
Dir::Etc::parts "$LVP/apt/empty.d";
Dir::Etc::sourcelist "$LVP/apt/sources.list";
Dir::Etc::sourceparts "$LVP/apt/empty.d";
Dir::Etc::preferences "$LVP/apt/none";
Dir::Etc::preferencesparts "$LVP/apt/empty.d";
Dir::State "$LVP/apt/state";
Dir::State::status "$LVP/apt/state/status";
Dir::Cache "$LVP/apt/cache";
Debug::NoLocking "true";
APT::Sandbox::User "$(id -un)";
APT::Default-Release "$SUITE";
Acquire::Languages "none";
EOF
}
apt_() { APT_CONFIG=$APTCONF "$@"; }

# The dependencies of package=version ($1) that the system lacks or has too
# old: "name" per line (first alternative of each; versions compared by dpkg).
missing_deps() {
    apt_ apt-cache show "$1" | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
    sed 's/|.*//; s/^ *//; s/ *$//' | while read -r name op ver; do
        [ -n "$name" ] || continue
        name=${name%%:*}
        have=$(dpkg-query -W -f='${Status} ${Version}\n' "$name" 2>/dev/null | sed -n 's/^install ok installed //p' | head -1)
        if [ -z "$have" ]; then echo "$name"; continue; fi
        [ -n "$op" ] || continue
        op=${op#(}; ver=${ver%)}
        case $op in '>=') dop=ge;; '>>') dop=gt;; '<=') dop=le;; '<<') dop=lt;; '=') dop=eq;; *) continue;; esac
        dpkg --compare-versions "$have" "$dop" "$ver" || echo "$name"
    done
}

lib_dir() { find "$LVP/root" -name libvulkan_lvp.so -printf '%h\n' 2>/dev/null | head -1; }

fetch() {
    for c in apt-get apt-cache dpkg dpkg-query ldd; do
        command -v $c >/dev/null || die "needs $c (a Debian system: the driver comes from $SUITE)"
    done
    [ -f "$KEYRING" ] || die "no $KEYRING (Debian's debian-archive-keyring): the downloads cannot be verified"
    rm -rf "$LVP/root" "$LVP/debs" "$LVP/lvp_icd.json"
    apt_private
    echo "lavapipe25: fetching mesa-vulkan-drivers from $SUITE into $LVP"
    apt_ apt-get -q update >"$LVP/apt/update.log" 2>&1 || { cat "$LVP/apt/update.log"; die "apt-get update failed"; }
    ver=$(apt_ apt-cache policy mesa-vulkan-drivers | sed -n 's/^ *Candidate: //p')
    case $ver in
        "$MAJOR".*) ;;
        *) die "$SUITE has mesa-vulkan-drivers ${ver:-(none)}, not $MAJOR.x" ;;
    esac
    pkgs="mesa-vulkan-drivers $(missing_deps "mesa-vulkan-drivers=$ver" | tr '\n' ' ')"
    echo "lavapipe25: mesa-vulkan-drivers $ver; downloading: $pkgs"
    mkdir -p "$LVP/debs"
    # shellcheck disable=SC2086
    (cd "$LVP/debs" && apt_ apt-get -q download $pkgs) >"$LVP/apt/download.log" 2>&1 ||
        { cat "$LVP/apt/download.log"; die "apt-get download failed"; }
    mkdir -p "$LVP/root.tmp"
    for f in "$LVP"/debs/*.deb; do dpkg -x "$f" "$LVP/root.tmp" || die "dpkg -x $f failed"; done
    mv "$LVP/root.tmp" "$LVP/root"
    lib=$(lib_dir)
    [ -n "$lib" ] || die "no libvulkan_lvp.so in mesa-vulkan-drivers $ver"
    icd=$(ls "$LVP"/root/usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1)
    [ -n "$icd" ] || die "no lvp_icd*.json in mesa-vulkan-drivers $ver"
    sed "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$lib/libvulkan_lvp.so\"|" "$icd" >"$LVP/lvp_icd.json"
    grep -q "\"$lib/libvulkan_lvp.so\"" "$LVP/lvp_icd.json" || die "could not rewrite library_path in $icd"
    echo "$ver" >"$LVP/version"
}

if [ "${LVP25_REFRESH:-0}" = 1 ] || [ ! -f "$LVP/version" ] || [ ! -f "$LVP/lvp_icd.json" ] || [ -z "$(lib_dir)" ]; then
    fetch
fi
LIB=$(lib_dir)
VER=$(cat "$LVP/version")
nf=$(LD_LIBRARY_PATH="$LIB" ldd "$LIB/libvulkan_lvp.so" | grep 'not found')
[ -z "$nf" ] || die "libvulkan_lvp.so needs libraries this system lacks (add their packages): $nf"
echo "lavapipe25: mesa-vulkan-drivers $VER in $LVP"

# ---- 2. only that driver, and proof that it is the one in use ----
export VK_ICD_FILENAMES="$LVP/lvp_icd.json" VK_DRIVER_FILES="$LVP/lvp_icd.json"
export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo; echo "== vulkaninfo --summary"
if command -v vulkaninfo >/dev/null; then
    vulkaninfo --summary >"$LVP/vulkaninfo.txt" 2>&1
    sed -n '/^Devices:/,$p' "$LVP/vulkaninfo.txt" | grep -E 'GPU[0-9]|apiVersion|deviceName|driverInfo'
    n=$(grep -c '^GPU[0-9]' "$LVP/vulkaninfo.txt")
    if [ "$n" = 1 ] && grep -q "driverInfo *= Mesa $MAJOR\." "$LVP/vulkaninfo.txt"; then note "PASS vulkaninfo: one device, Mesa $MAJOR"
    else note "FAIL vulkaninfo: $n device(s), not only Mesa $MAJOR"; fi
else
    note "SKIP vulkaninfo (not installed: Debian vulkan-tools)"
fi

echo; echo "== gemma-chat devices -v"
make -s -j2 B="$B" all >/dev/null || die "make failed"
./gemma-chat devices -v >"$LVP/devices.txt" 2>&1; rc=$?
cat "$LVP/devices.txt"
if [ $rc = 0 ] && grep -q "driver: .*Mesa $MAJOR\." "$LVP/devices.txt"; then note "PASS gemma-chat devices -v: Mesa $MAJOR"
else note "FAIL gemma-chat devices -v (exit $rc, driver not Mesa $MAJOR)"; fi

# ---- 3. what the kernel choice reads ----
echo; echo "== driver properties"
if command -v vulkaninfo >/dev/null; then
    vulkaninfo 2>/dev/null | grep -E '^\s*(apiVersion|subgroupSize|minSubgroupSize|maxSubgroupSize|subgroupSizeControl|computeFullSubgroups|shaderIntegerDotProduct|integerDotProduct4x8BitPacked(Signed|Unsigned|MixedSignedness)Accelerated|integerDotProduct8Bit(Signed|Unsigned)Accelerated|maxStorageBufferRange|maxComputeSharedMemorySize|shaderFloat16|storageBuffer16BitAccess|storageBuffer8BitAccess)\s*=' |
        sed 's/^\s*//; s/\s*=\s*/ = /' | awk '!seen[$1]++' | tr '\n' ';' | sed 's/;$/\n/; s/;/; /g'
else
    echo "(no vulkaninfo)"
fi

# ---- 4. the tests ----
echo; echo "== the Vulkan tests ($TESTS_SEL)"
have_layer=0
for d in /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d; do
    [ -f "$d/VkLayer_khronos_validation.json" ] && have_layer=1
done
if [ $have_layer = 1 ]; then echo "validation layer: on"
else echo "NOTE: no Khronos validation layer (Debian vulkan-validationlayers): the C tests run without it"
     export GC_VK_TEST_NO_VALIDATION=1; fi
vk_bins=$(ls tests/test_vk_*.c | sed "s|^tests/\(.*\)\.c$|$B/tests/\1|")
# shellcheck disable=SC2086
make -s -j2 B="$B" $vk_bins models >/dev/null || die "make of the Vulkan tests failed"
real=$PWD/models/gemma-3-270m-q4_k_m.gguf
mkdir -p "$LVP/test-cache"
TESTS=$TESTS_SEL B="$B" BIN=./gemma-chat GC_TEST_CACHE="$LVP/test-cache" \
    REAL_MODEL=${REAL_MODEL:-$real} sh tests/run.sh >"$LVP/tests.log" 2>&1
cat "$LVP/tests.log"
results="$results$(grep -E '^(PASS|FAIL|SKIP) ' "$LVP/tests.log" | awk '{ print $1, $2 }')
"
grep -q '^[0-9]* passed, [0-9]* failed' "$LVP/tests.log" ||
    results="${results}FAIL tests/run.sh (no result line)
"

echo; echo "== summary (mesa-vulkan-drivers $VER)"
printf '%s' "$results" | sed '/^$/d'
pass=$(printf '%s' "$results" | grep -c '^PASS ')
fail=$(printf '%s' "$results" | grep -c '^FAIL ')
skip=$(printf '%s' "$results" | grep -c '^SKIP ')
echo "lavapipe25: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
