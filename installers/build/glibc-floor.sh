# shellcheck shell=bash
# Sourced before a Linux cgo build (`make build`, `make dist`):
#
#   source installers/build/glibc-floor.sh [GOARCH]    # default: go env GOARCH
#   go build -ldflags "… $GO_LDFLAGS_EXTRA" ./…
#
# makes every Linux binary need at most GLIBC_2.28, the floor of
# onnxruntime's own library (Debian 10, Ubuntu 20.04, RHEL 8 and newer),
# while building on any newer glibc.
#
# What pulls newer versions in, and what this does about each:
#   - __libc_start_main@GLIBC_2.34 comes from crt1.o, which only the
#     external (gcc) link adds: Go's internal linker is used instead
#     (-linkmode=internal; cgo code in this project is plain C calls).
#   - pthread_*, dl* got new versions when glibc 2.34 moved them from
#     libpthread and libdl into libc (pthread_sigmask, pthread_getattr_np
#     in 2.32). cgo asks gcc which version each symbol of a package's C
#     code binds to and Go's linker writes exactly that; here gcc links
#     against two generated stand-in libraries, libpthread.so.0 and
#     libdl.so.2, that define those symbols at their first version only.
#     The binary then names the old versions in the old libraries, which
#     every glibc since provides (2.34+ keeps both files for this reason).
#   - res_search@GLIBC_2.34 (net's cgo resolver): the netgo tag (added to
#     GOFLAGS) uses Go's own DNS resolver, as the CGO_ENABLED=0 builds do.
#
# Exports CGO_LDFLAGS and GOFLAGS (both appended to), GO_LDFLAGS_EXTRA (to
# append to the build's -ldflags, which GOFLAGS cannot carry beside a
# command-line -ldflags) and GLIBC_FLOOR. Needs the target's C compiler
# ($CC, else gcc for the host or aarch64-linux-gnu-gcc for arm64 on amd64).
# Measured on Debian 12 (glibc 2.36): plugin and trainer needed GLIBC_2.34
# before, GLIBC_2.2.5 (amd64) after; `go test ./installers/build` checks.

GLIBC_FLOOR=2.28
_floor_arch=${1:-$(go env GOARCH)}
case $_floor_arch in
amd64) _floor_base=GLIBC_2.2.5 _floor_cc=${CC:-gcc} ;;
arm64)
	_floor_base=GLIBC_2.17
	if [[ $(uname -m) == aarch64 ]]; then _floor_cc=${CC:-gcc}; else _floor_cc=${CC:-aarch64-linux-gnu-gcc}; fi
	;;
*)
	echo "glibc-floor.sh: no floor for GOARCH $_floor_arch (amd64, arm64)" >&2
	return 1
	;;
esac

_floor_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.cache/glibc-floor/$_floor_arch

# _floor_stub SONAME SYMBOL...: a shared library named SONAME that defines
# each SYMBOL at the base version only; gcc links against it, nothing runs
# it. Built under a per-process name and renamed: builds may run at once.
_floor_stub() {
	local soname=$1 tmp=$_floor_dir/.$1.$$ rc
	shift
	printf 'void %s(void) {}\n' "$@" >"$tmp.c"
	{
		printf '%s {\n  global:\n' "$_floor_base"
		printf '    %s;\n' "$@"
		printf '  local: *;\n};\n'
	} >"$tmp.map"
	"$_floor_cc" -shared -nostdlib -fPIC -Wl,-soname,"$soname" -Wl,--version-script="$tmp.map" -o "$tmp.so" "$tmp.c" &&
		mv -f "$tmp.so" "$_floor_dir/$soname"
	rc=$?
	rm -f "$tmp.c" "$tmp.map" "$tmp.so"
	return $rc
}

if ! command -v "$_floor_cc" >/dev/null; then
	echo "glibc-floor.sh: C compiler $_floor_cc for linux/$_floor_arch not found (apt-get install gcc-aarch64-linux-gnu for arm64)" >&2
	return 1
fi
mkdir -p "$_floor_dir"
_floor_stub libpthread.so.0 pthread_create pthread_detach pthread_key_create pthread_getspecific pthread_setspecific \
	pthread_sigmask pthread_getattr_np pthread_attr_getstack pthread_attr_getstacksize pthread_attr_setstacksize \
	pthread_mutex_lock pthread_mutex_unlock pthread_cond_wait pthread_cond_broadcast pthread_cond_signal || return 1
_floor_stub libdl.so.2 dlopen dlclose dlsym dlerror || return 1

export GLIBC_FLOOR
export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$_floor_dir -l:libpthread.so.0 -l:libdl.so.2"
export GO_LDFLAGS_EXTRA="-linkmode=internal"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=netgo"
unset _floor_arch _floor_base _floor_cc _floor_dir
unset -f _floor_stub
